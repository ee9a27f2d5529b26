"""Hard negative mining: turn (anchor, positive) pairs into training rows with mined negatives.

``mine_hard_negatives`` has the signature, defaults, output rows and printed statistics of
``sentence_transformers.util.mine_hard_negatives`` (6.2). This file holds the entry point; the
work is done in:

- :mod:`sentkit.apps.hard_negatives_settings`: the arguments checked and resolved, and the texts
  collected (unique anchors, a de-duplicated corpus, the positives of each anchor);
- :mod:`sentkit.apps.hard_negatives_search`: embedding (with an optional cache), the top candidates
  per anchor in bounded memory, CrossEncoder rescoring, filtering and sampling;
- :mod:`sentkit.apps.hard_negatives_output`: the output formats and the printed statistics.

Where sentkit differs from the reference, it is where the reference would silently do something
the caller did not ask for: a named column that the dataset lacks, anchor and positive resolving
to the same column, ``margin`` and ``absolute_margin`` both given with different values, or an
unknown ``sampling_strategy`` raise :class:`~sentkit.errors.InputError` (the reference falls back to
the first columns, overrides, or fails later); the ``min_score`` statistic counts only candidates it
removed (the reference also counts positives and candidates already dropped, up to over 100%), and
the closing hint names ``min_score`` among the parameters to adjust. Similarities are computed in
blocks of queries *and* corpus entries, so memory stays bounded for any corpus size; progress bars
follow ``verbose``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from sentkit._optional import require
from sentkit.apps.hard_negatives_output import format_output, print_statistics
from sentkit.apps.hard_negatives_search import (
    EncodeSettings,
    find_candidates,
    select_negatives,
)
from sentkit.apps.hard_negatives_settings import resolve

if TYPE_CHECKING:
    from datasets import Dataset

    from sentkit.encoders.cross_encoder import CrossEncoder
    from sentkit.encoders.sentence_transformer import SentenceTransformer

__all__ = ["mine_hard_negatives"]


def mine_hard_negatives(
    dataset: Dataset,
    model: SentenceTransformer,
    anchor_column_name: str | None = None,
    positive_column_name: str | None = None,
    corpus: list[str] | None = None,
    cross_encoder: CrossEncoder | None = None,
    range_min: int = 0,
    range_max: int | None = None,
    max_score: float | None = None,
    min_score: float | None = None,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    num_negatives: int = 3,
    sampling_strategy: Literal["random", "top"] = "top",
    query_prompt_name: str | None = None,
    query_prompt: str | None = None,
    corpus_prompt_name: str | None = None,
    corpus_prompt: str | None = None,
    include_positives: bool = False,
    output_format: Literal["triplet", "n-tuple", "labeled-pair", "labeled-list"] = "triplet",
    output_scores: bool = False,
    batch_size: int = 32,
    faiss_batch_size: int = 16384,
    use_faiss: bool = False,
    use_multi_process: list[str] | bool = False,
    verbose: bool = True,
    cache_folder: str | None = None,
    as_triplets: bool | None = None,
    margin: float | None = None,
) -> Dataset:
    """Add mined hard negatives to a dataset of (anchor, positive) pairs.

    Anchors and the corpus (``corpus`` plus every positive, de-duplicated; the positives alone when
    ``corpus`` is None) are embedded with ``model`` (``encode_query`` / ``encode_document``,
    normalized, with the given prompts) and compared with ``model.similarity``. For each unique
    anchor the ``range_max + max_positives`` best corpus entries are candidates; its positives are
    dropped (unless ``include_positives``). With ``cross_encoder`` and any of the margins or score
    bounds, the candidates and the positives are rescored by the CrossEncoder. Then candidates
    scoring within ``absolute_margin`` of the anchor's lowest positive score, above
    ``positive - |positive| * relative_margin``, above ``max_score`` or below ``min_score`` are
    dropped; the ranks ``range_min`` to ``range_max`` are kept, and ``num_negatives`` of them taken:
    the best (``sampling_strategy="top"``) or drawn with Python's ``random`` module (``"random"``,
    reproducible with ``random.seed``, as in the reference).

    A dataset with repeated anchors gives each anchor all of its positives. ``range_max`` defaults
    to ``range_min + num_negatives + max_positives`` (times 10 negatives when a margin or score bound
    may drop candidates). ``faiss_batch_size`` queries are scored at a time (with or without
    ``use_faiss``). ``use_multi_process`` (True or a list of devices) encodes on a multi-process
    pool. ``cache_folder`` keeps the embeddings as ``query_embeddings_{hash}.npy`` and
    ``corpus_embeddings_{hash}.npy`` (the reference's names and hashes) and reuses them.
    ``verbose`` prints the reference's statistics table. ``as_triplets`` and ``margin`` are the
    deprecated names of ``output_format`` ("triplet"/"n-tuple") and ``absolute_margin``;
    ``output_format="n-tuple-scores"`` is the deprecated form of "n-tuple" with scores.

    Returns:
        A ``datasets.Dataset``, rows grouped by anchor in first-appearance order, columns:

        - "triplet": anchor, positive, ``negative`` (one row per anchor, positive and negative);
        - "n-tuple": anchor, positive, ``negative_1`` ... ``negative_n`` (rows with all n found);
          forced when ``include_positives``;
        - "labeled-pair": anchor, positive column holding any document, ``label`` (1 or 0);
        - "labeled-list": anchor, positive column holding ``[positive, negatives...]``, ``labels``.

        ``output_scores`` adds ``scores`` ([positive, negative...] per row) to "triplet" and
        "n-tuple", and replaces ``label``/``labels`` with ``score``/``scores``.

    Raises:
        InputError: an empty dataset, a named column it lacks, fewer than two columns, anchor and
            positive on one column, an unknown ``output_format`` or ``sampling_strategy``,
            ``num_negatives < 1``, ``range_min < 0``, ``range_min >= range_max``, fewer candidates
            in the range than ``num_negatives``, a non-positive ``faiss_batch_size``, conflicting
            ``margin`` and ``absolute_margin``, a cross-encoder with more than one output.
        InputTypeError: a dataset without columns, a text that is not a str (names row and column).
        MissingDependencyError: ``datasets`` (the ``train`` extra) or, with ``use_faiss``,
            ``faiss`` (the ``index`` extra) is not installed.
    """
    datasets = require("datasets", "train", "mine_hard_negatives")
    settings, texts = resolve(
        dataset,
        anchor_column_name,
        positive_column_name,
        corpus,
        options={
            "range_min": range_min,
            "range_max": range_max,
            "max_score": max_score,
            "min_score": min_score,
            "absolute_margin": absolute_margin,
            "relative_margin": relative_margin,
            "num_negatives": num_negatives,
            "sampling_strategy": sampling_strategy,
            "include_positives": include_positives,
            "output_format": output_format,
            "output_scores": output_scores,
            "as_triplets": as_triplets,
            "margin": margin,
            "rescoring": cross_encoder is not None,
        },
        faiss_batch_size=faiss_batch_size,
        use_faiss=use_faiss,
        verbose=verbose,
    )
    encoding = EncodeSettings(
        batch_size=batch_size,
        query_prompt_name=query_prompt_name,
        query_prompt=query_prompt,
        corpus_prompt_name=corpus_prompt_name,
        corpus_prompt=corpus_prompt,
        use_multi_process=use_multi_process,
        cache_folder=cache_folder,
        faiss_batch_size=faiss_batch_size,
        use_faiss=use_faiss,
        verbose=verbose,
    )
    candidates = find_candidates(model, cross_encoder, texts, settings, encoding)
    mined = select_negatives(candidates, texts, settings)
    if verbose:
        print("Negative candidates mined, preparing dataset...")
    formatted = format_output(mined, texts, settings)
    output = datasets.Dataset.from_dict(formatted.columns)
    if verbose:
        print_statistics(mined, formatted, settings, len(output))
    return output
