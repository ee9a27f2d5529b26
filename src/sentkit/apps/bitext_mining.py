"""Translated sentence (bitext) mining: parallel pairs from two monolingual lists, margin-scored.

The method of Artetxe & Schwenk (2019), "Margin-based Parallel Corpus Mining with Multilingual
Sentence Embeddings" (LASER's ``mine_bitexts``), as in sentence-transformers'
``parallel-sentence-mining/bitext_mining.py`` recipe:

1. L2-normalise the source rows ``x`` (N, D) and target rows ``y`` (M, D): similarity is cosine.
2. Find the ``k`` nearest targets of every source and the ``k`` nearest sources of every target.
   ``mean_x[i]`` is the mean cosine of source ``i`` to its ``k`` targets, ``mean_y[j]`` that of
   target ``j`` to its ``k`` sources.
3. Score each candidate pair (a source and one of its ``k`` targets, or a target and one of its
   ``k`` sources) against the neighbourhood average ``avg = (mean_x[i] + mean_y[j]) / 2``:
   ``ratio`` = cos / avg, ``distance`` = cos - avg, ``absolute`` = cos.
4. Forward: each source's best-scoring candidate target; backward: each target's best-scoring
   candidate source. The retrieval ``mode`` then picks the pairs:

   - ``forward``: one pair per source (a target may repeat);
   - ``backward``: one pair per target (a source may repeat);
   - ``intersection``: the forward pairs whose target picked the same source back;
   - ``max`` (the recipe's default): forward and backward pairs together, best score first, each
     kept if neither its source nor its target was taken by a better pair.

Memory is bounded in corpus size: the N x M similarity matrix is never built. The kNN search
scores one ``query_chunk_size`` x ``corpus_chunk_size`` block at a time with ``torch.topk`` and
keeps (N + M) x k neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sentkit.apps.top_k import chunked_top_k
from sentkit.errors import InputError
from sentkit.similarity import to_tensor

__all__ = ["MARGINS", "MODES", "BitextPair", "mine_bitext", "mine_bitext_embeddings"]

MARGINS = ("ratio", "distance", "absolute")
MODES = ("forward", "backward", "intersection", "max")


class BitextPair(NamedTuple):
    """One mined pair: its margin ``score`` and the indices of its source and target sentences."""

    score: float
    source_id: int
    target_id: int


def mine_bitext(
    model: Any,
    source_sentences: Sequence[str],
    target_sentences: Sequence[str],
    k: int = 4,
    margin: str = "ratio",
    mode: str = "max",
    min_score: float | None = None,
    batch_size: int = 32,
    show_progress_bar: bool = False,
    query_chunk_size: int = 1024,
    corpus_chunk_size: int = 100_000,
    prompt_name: str | None = None,
    prompt: str | None = None,
) -> list[BitextPair]:
    """Encode both lists with ``model`` and mine the translated pairs between them.

    ``model`` is anything with ``encode(texts, batch_size=..., show_progress_bar=...,
    convert_to_tensor=True)``, e.g. a multilingual :class:`~sentkit.SentenceTransformer` (LaBSE,
    paraphrase-multilingual-*); ``prompt_name`` and ``prompt`` go to ``encode`` when given. The
    other arguments and the result are those of :func:`mine_bitext_embeddings`; the ids index
    ``source_sentences`` and ``target_sentences``.

    Raises:
        InputError: a string instead of a list, an empty list, and as :func:`mine_bitext_embeddings`;
            and the errors of ``model.encode``.
    """
    _check_options(k, margin, mode, query_chunk_size, corpus_chunk_size)
    options: dict[str, Any] = {"batch_size": batch_size, "show_progress_bar": show_progress_bar}
    if prompt_name is not None:
        options["prompt_name"] = prompt_name
    if prompt is not None:
        options["prompt"] = prompt
    sides = []
    for name, sentences in (("source_sentences", source_sentences), ("target_sentences", target_sentences)):
        if isinstance(sentences, str):
            raise InputError(f"{name} must be a list of sentences; got a single string. Wrap it in a list.")
        sides.append(list(sentences))
        if not sides[-1]:
            raise InputError(f"{name} is empty; bitext mining needs sentences on both sides.")
    embeddings = [model.encode(texts, convert_to_tensor=True, **options) for texts in sides]
    return mine_bitext_embeddings(
        embeddings[0],
        embeddings[1],
        k=k,
        margin=margin,
        mode=mode,
        min_score=min_score,
        query_chunk_size=query_chunk_size,
        corpus_chunk_size=corpus_chunk_size,
    )


def mine_bitext_embeddings(
    source_embeddings: Any,
    target_embeddings: Any,
    k: int = 4,
    margin: str = "ratio",
    mode: str = "max",
    min_score: float | None = None,
    query_chunk_size: int = 1024,
    corpus_chunk_size: int = 100_000,
) -> list[BitextPair]:
    """Mine translated pairs between ``source_embeddings`` (N, D) and ``target_embeddings`` (M, D).

    Args:
        source_embeddings, target_embeddings: float tensors, arrays or nested lists; rows need not
            be normalised (they are L2-normalised here, so similarity is cosine). Tensors are
            scored on their device (the target moves to the source's).
        k: neighbours per sentence in each direction (4 in the recipe); capped at the size of the
            other side.
        margin: ``"ratio"`` (the default, as in the recipe), ``"distance"`` or ``"absolute"``.
        mode: ``"forward"``, ``"backward"``, ``"intersection"`` or ``"max"`` (the default); see
            the module docstring.
        min_score: keep only pairs scoring at least this (``None`` keeps all). With the ratio
            margin about 1.0 (the recipe's value) to 1.2 separates translations from the rest.
        query_chunk_size, corpus_chunk_size: rows of one scoring block; memory ~ their product.

    Returns:
        :class:`BitextPair` ``(score, source_id, target_id)`` tuples, highest score first. Equal
        scores keep forward pairs before backward ones, each by the index of the sentence that
        chose them; NaN scores (a zero neighbourhood average under ``ratio``) come last.

    Raises:
        InputError: an unknown ``margin`` or ``mode``; ``k`` or a chunk size below 1; embeddings
            that are empty, not 2-D, of different widths, or holding NaN/inf.
    """
    _check_options(k, margin, mode, query_chunk_size, corpus_chunk_size)
    source = _unit_rows(source_embeddings, "source_embeddings")  # (N, D)
    target = _unit_rows(target_embeddings, "target_embeddings").to(source.device, source.dtype)  # (M, D)
    if source.shape[1] != target.shape[1]:
        raise InputError(
            f"source_embeddings have {source.shape[1]} dimensions but target_embeddings {target.shape[1]}; "
            "encode both sides with the same model."
        )
    chunks = (query_chunk_size, corpus_chunk_size)
    forward_cos, forward_ids = _nearest(source, target, min(k, len(target)), *chunks)  # (N, kx)
    backward_cos, backward_ids = _nearest(target, source, min(k, len(source)), *chunks)  # (M, ky)
    source_mean = forward_cos.mean(axis=1)  # (N,)
    target_mean = backward_cos.mean(axis=1)  # (M,)
    forward_scores = _margin(margin, forward_cos, (source_mean[:, None] + target_mean[forward_ids]) / 2)  # (N, kx)
    backward_scores = _margin(margin, backward_cos, (target_mean[:, None] + source_mean[backward_ids]) / 2)
    forward_best, forward_score = _best(forward_ids, forward_scores)  # (N,), (N,)
    backward_best, backward_score = _best(backward_ids, backward_scores)  # (M,), (M,)
    sources = np.arange(len(source))
    targets = np.arange(len(target))
    if mode == "forward":
        pairs = _ranked(forward_score, sources, forward_best)
    elif mode == "backward":
        pairs = _ranked(backward_score, backward_best, targets)
    elif mode == "intersection":
        mutual = backward_best[forward_best] == sources  # (N,)
        pairs = _ranked(forward_score[mutual], sources[mutual], forward_best[mutual])
    else:
        ranked = _ranked(
            np.concatenate([forward_score, backward_score]),
            np.concatenate([sources, backward_best]),
            np.concatenate([forward_best, targets]),
        )
        pairs = _one_to_one(ranked)
    if min_score is not None:
        pairs = [pair for pair in pairs if pair.score >= min_score]
    return pairs


def _check_options(k: int, margin: str, mode: str, query_chunk_size: int, corpus_chunk_size: int) -> None:
    if margin not in MARGINS:
        raise InputError(f"margin must be one of {', '.join(MARGINS)}; got {margin!r}.")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    for name, value in (("k", k), ("query_chunk_size", query_chunk_size), ("corpus_chunk_size", corpus_chunk_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be an integer of at least 1; got {value!r}.")


def _unit_rows(embeddings: Any, name: str) -> Tensor:
    """``embeddings`` as a float (n, D) tensor of unit rows (zero rows stay zero), n >= 1."""
    try:
        matrix = to_tensor(embeddings).detach()
    except (TypeError, ValueError, RuntimeError) as error:
        raise InputError(f"{name} must be a (sentences, dimensions) float matrix; {error}") from error
    if matrix.is_sparse:
        matrix = matrix.to_dense()
    if matrix.numel() == 0:
        raise InputError(f"{name} is empty (shape {tuple(matrix.shape)}); bitext mining needs rows on both sides.")
    if matrix.dim() != 2:
        raise InputError(f"{name} must be a 2-D (sentences, dimensions) matrix; got shape {tuple(matrix.shape)}.")
    finite = torch.isfinite(matrix).all(dim=1)  # (n,)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()[:10].tolist()
        raise InputError(f"{name} hold NaN or inf in rows {bad}; drop or re-encode those sentences.")
    return F.normalize(matrix, p=2, dim=1)


def _nearest(
    queries: Tensor, corpus: Tensor, k: int, query_chunk_size: int, corpus_chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cosines (Q, k) float64 and ids (Q, k) int64 of the ``k`` nearest ``corpus`` (C, D) rows of
    each of the unit ``queries`` (Q, D), best first."""
    cosines = np.empty((len(queries), k), dtype=np.float64)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for q_start in range(0, len(queries), query_chunk_size):
        block = queries[q_start : q_start + query_chunk_size]  # (q, D)
        best_cos, best_ids = chunked_top_k(block, corpus, k, _dot, corpus_chunk_size)
        stop = q_start + len(block)
        cosines[q_start:stop] = best_cos.cpu().double().numpy()
        ids[q_start:stop] = best_ids.cpu().numpy()
    return cosines, ids


def _margin(margin: str, cosines: np.ndarray, averages: np.ndarray) -> np.ndarray:
    """Margin scores (n, k) of candidate ``cosines`` (n, k) over their neighbourhood ``averages`` (n, k)."""
    if margin == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            return cosines / averages
    if margin == "distance":
        return cosines - averages
    return cosines


def _best(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of candidate ``ids`` (n, k): the best-scoring one (first on ties, NaN never) and its score, (n,)."""
    best = np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=1)  # (n,)
    rows = np.arange(len(ids))
    return ids[rows, best], scores[rows, best]


def _ranked(scores: np.ndarray, source_ids: np.ndarray, target_ids: np.ndarray) -> list[BitextPair]:
    """Pairs, highest score first; equal scores keep their given order; NaN scores last."""
    order = np.argsort(-np.where(np.isnan(scores), -np.inf, scores), kind="stable")
    return [
        BitextPair(float(score), int(source), int(target))
        for score, source, target in zip(scores[order], source_ids[order], target_ids[order], strict=True)
    ]


def _one_to_one(ranked: list[BitextPair]) -> list[BitextPair]:
    """The ``ranked`` pairs kept greedily so that each source and each target appears once."""
    used_sources: set[int] = set()
    used_targets: set[int] = set()
    kept = []
    for pair in ranked:
        if pair.source_id in used_sources or pair.target_id in used_targets:
            continue
        used_sources.add(pair.source_id)
        used_targets.add(pair.target_id)
        kept.append(pair)
    return kept


def _dot(queries: Tensor, corpus: Tensor) -> Tensor:
    return queries @ corpus.T  # cosines of unit rows
