"""The inputs of :func:`~sentkit.apps.hard_negatives.mine_hard_negatives`: its arguments checked in
the reference's order (deprecated names applied, ``range_max`` derived), and the texts to mine from
(unique anchors, a de-duplicated corpus holding every positive, the positives of each anchor).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sentkit._optional import require
from sentkit.errors import InputError, InputTypeError

logger = logging.getLogger(__name__)

__all__ = ["OUTPUT_FORMATS", "SAMPLING_STRATEGIES", "MiningSettings", "MiningTexts", "resolve"]

OUTPUT_FORMATS = ("triplet", "n-tuple", "labeled-pair", "labeled-list")
SAMPLING_STRATEGIES = ("top", "random")
FAISS_GPU_MAX_K = 2048  # FAISS on GPU retrieves at most this many documents per query


@dataclass
class MiningSettings:
    """The resolved options of one :func:`mine_hard_negatives` call."""

    anchor_column: str
    positive_column: str
    output_format: str
    output_scores: bool
    range_min: int
    range_max: int
    num_negatives: int
    sampling_strategy: str
    include_positives: bool
    absolute_margin: float | None
    relative_margin: float | None
    max_score: float | None
    min_score: float | None
    dataset_rows: int

    @property
    def filters(self) -> bool:
        """Whether a margin or score bound may drop candidates (this also triggers rescoring)."""
        bounds = (self.absolute_margin, self.relative_margin, self.max_score, self.min_score)
        return any(value is not None for value in bounds)


@dataclass
class MiningTexts:
    """The texts to mine from.

    ``queries`` are the unique anchors in first-appearance order; ``corpus`` the candidates
    (``corpus`` then the positives, de-duplicated); ``positive_ids[q]`` the corpus ids of the
    unique positives of query ``q``; ``rows_per_query`` the dataset rows of each anchor.
    """

    queries: list[str]
    corpus: list[str]
    positive_ids: list[list[int]]
    rows_per_query: list[int]

    @property
    def max_positives(self) -> int:
        """The most dataset rows of one anchor (repeated rows count, as in the reference)."""
        return max(self.rows_per_query)

    @property
    def positives_per_query(self) -> list[int]:
        return [len(ids) for ids in self.positive_ids]

    @property
    def pair_queries(self) -> list[str]:
        """One anchor per (anchor, positive) pair, grouped by anchor."""
        return [query for query, ids in zip(self.queries, self.positive_ids, strict=True) for _ in ids]

    @property
    def pair_positives(self) -> list[str]:
        """One positive per (anchor, positive) pair, aligned with :attr:`pair_queries`."""
        return [self.corpus[index] for ids in self.positive_ids for index in ids]


def resolve(
    dataset: Any,
    anchor_column_name: str | None,
    positive_column_name: str | None,
    corpus: Sequence[str] | None,
    options: dict[str, Any],
    faiss_batch_size: int,
    use_faiss: bool,
    verbose: bool,
) -> tuple[MiningSettings, MiningTexts]:
    """Check the arguments in the reference's order, apply the deprecated names, collect the texts."""
    columns = getattr(dataset, "column_names", None)
    if not isinstance(columns, list):
        raise InputTypeError(
            f"dataset must be a datasets.Dataset with (anchor, positive) columns, got {type(dataset).__name__}."
        )
    if len(dataset) == 0:
        raise InputError("The dataset is empty; pass a dataset with at least one (anchor, positive) row.")
    if faiss_batch_size <= 0:
        raise InputError(f"faiss_batch_size must be a positive integer, got {faiss_batch_size}.")
    faiss = require("faiss", "index", "mine_hard_negatives(use_faiss=True)") if use_faiss else None
    anchor_column, positive_column = _resolve_columns(columns, anchor_column_name, positive_column_name)
    output_format, output_scores = _resolve_output_format(options)
    absolute_margin = _resolve_margin(options["absolute_margin"], options["margin"])
    if options["sampling_strategy"] not in SAMPLING_STRATEGIES:
        raise InputError(
            f"sampling_strategy={options['sampling_strategy']!r} is not one of {SAMPLING_STRATEGIES}: "
            '"top" takes the best candidates, "random" draws among those that pass the filters.'
        )
    texts = _collect_texts(dataset, anchor_column, positive_column, corpus)
    if options["num_negatives"] < 1:
        raise InputError(f"num_negatives must be at least 1, got num_negatives={options['num_negatives']}.")
    settings = MiningSettings(
        anchor_column=anchor_column,
        positive_column=positive_column,
        output_format=output_format,
        output_scores=output_scores,
        range_min=options["range_min"],
        range_max=0,
        num_negatives=options["num_negatives"],
        sampling_strategy=options["sampling_strategy"],
        include_positives=options["include_positives"],
        absolute_margin=absolute_margin,
        relative_margin=options["relative_margin"],
        max_score=options["max_score"],
        min_score=options["min_score"],
        dataset_rows=len(dataset),
    )
    settings.range_max = _resolve_range(settings, options, texts.max_positives, faiss, verbose)
    _report_texts(texts, len(dataset), verbose)
    return settings, texts


def _resolve_columns(columns: list[str], anchor: str | None, positive: str | None) -> tuple[str, str]:
    """The anchor and positive column names: the given ones, else the first and second column."""
    for role, name in (("anchor_column_name", anchor), ("positive_column_name", positive)):
        if name and name not in columns:
            raise InputError(
                f"{role}={name!r} is not a column of the dataset, whose columns are {columns}; "
                "pass one of them, or None for the first (anchor) and second (positive) column."
            )
    anchor = anchor or columns[0]
    if not positive:
        if len(columns) < 2:
            raise InputError(f"The dataset has only the column {columns}; it needs an anchor and a positive column.")
        positive = columns[1]
    if anchor == positive:
        raise InputError(
            f"The anchor and the positive column are both {anchor!r}; "
            "pass anchor_column_name and positive_column_name naming two different columns."
        )
    return anchor, positive


def _resolve_output_format(options: dict[str, Any]) -> tuple[str, bool]:
    """``output_format`` and ``output_scores`` after ``as_triplets``, ``include_positives`` and
    "n-tuple-scores", in the reference's order."""
    output_format, output_scores = options["output_format"], options["output_scores"]
    if options["as_triplets"] is not None:
        output_format = "triplet" if options["as_triplets"] else "n-tuple"
        logger.warning(
            "The `as_triplets` parameter is deprecated. Use the `output_format` parameter instead. "
            "Setting `output_format` to `%s`.",
            output_format,
        )
    if options["include_positives"]:
        defaults = {"range_min": 0, "sampling_strategy": "top"}
        names = ("range_min", "range_max", "max_score", "min_score", "absolute_margin", "relative_margin", "margin")
        if any(options[name] != defaults.get(name) for name in (*names, "sampling_strategy")):
            logger.warning(
                "When using `include_positives=True`, updating `range_min`, `range_max`, `max_score`, "
                "`min_score`, `absolute_margin`, `relative_margin`, or `sampling_strategy` from the default "
                "values may still discard the positive values."
            )
        if output_format != "n-tuple":
            logger.warning(
                'When using `include_positives=True`, `output_format` will be set to `"n-tuple"` to ensure '
                "that the ranking order is preserved."
            )
            output_format = "n-tuple"
    # after include_positives, as in the reference: it turns "n-tuple-scores" into plain "n-tuple"
    if output_format == "n-tuple-scores":
        logger.warning(
            '`output_format="n-tuple-scores"` is deprecated. Use `output_format="n-tuple"` with '
            "`output_scores=True` instead for equivalent output formats."
        )
        output_format, output_scores = "n-tuple", True
    if output_format not in OUTPUT_FORMATS:
        raise InputError(
            f"Invalid output_format: {output_format!r}. Must be one of {', '.join(map(repr, OUTPUT_FORMATS))} "
            '(or the deprecated "n-tuple-scores").'
        )
    return output_format, bool(output_scores)


def _resolve_margin(absolute_margin: float | None, margin: float | None) -> float | None:
    if margin is None:
        return absolute_margin
    if absolute_margin is not None and absolute_margin != margin:
        raise InputError(
            f"margin={margin} and absolute_margin={absolute_margin} disagree; margin is the deprecated "
            "name of absolute_margin, pass only absolute_margin."
        )
    logger.warning(
        "The `margin` parameter is deprecated. Use the `absolute_margin` and/or `relative_margin` parameter "
        "instead. Setting `absolute_margin` to `%s`.",
        margin,
    )
    return margin


def _resolve_range(
    settings: MiningSettings, options: dict[str, Any], max_positives: int, faiss: Any, verbose: bool
) -> int:
    """``range_max`` (derived when None) after checking it against ``range_min`` and ``num_negatives``."""
    range_min, range_max, num_negatives = settings.range_min, options["range_max"], settings.num_negatives
    faiss_note = ""
    if range_max is None:
        may_drop = (
            settings.absolute_margin is not None
            or settings.relative_margin is not None
            or settings.max_score is not None
            or (options["rescoring"] and settings.min_score is not None)
        )
        # Room for the positives, and for the candidates that the filters may drop.
        range_max = range_min + num_negatives * (10 if may_drop else 1) + max_positives
        gpus = getattr(faiss, "get_num_gpus", lambda: 0)() if faiss is not None else 0
        if gpus > 0 and range_max + max_positives > FAISS_GPU_MAX_K:
            range_max = FAISS_GPU_MAX_K - max_positives
            faiss_note = (
                f" Note that range_max was capped to {range_max} because FAISS on GPU can only retrieve up to"
                f" {FAISS_GPU_MAX_K} documents per query, some of which are reserved for the positives. Passing"
                " use_faiss=False lifts that cap, although it can cost a lot more memory."
            )
            if verbose:
                print(
                    f"Using FAISS on GPU, we can only retrieve up to {FAISS_GPU_MAX_K} documents per query, some of "
                    f"which are reserved for the positives. Setting range_max to {range_max}."
                )
        if verbose:
            print(f"Setting range_max to {range_max} based on the provided parameters.")
    if range_min < 0:
        raise InputError(f"range_min must be non-negative, got range_min={range_min}.")
    if range_min >= range_max:
        raise InputError(
            f"range_min must be smaller than range_max, got range_min={range_min} and range_max={range_max}."
            + faiss_note
        )
    if num_negatives > range_max - range_min:
        raise InputError(
            f"Cannot mine {num_negatives} negatives per query: only {range_max - range_min} candidates remain "
            f"after skipping the first range_min={range_min} of range_max={range_max}. Consider decreasing "
            f"num_negatives or range_min, or increasing range_max.{faiss_note}"
        )
    return int(range_max)


def _collect_texts(dataset: Any, anchor_column: str, positive_column: str, corpus: Sequence[str] | None) -> MiningTexts:
    """Unique anchors, the de-duplicated corpus (with every positive) and each anchor's positives."""
    anchors = _text_column(dataset, anchor_column)
    positives = _text_column(dataset, positive_column)
    extra = list(corpus) if corpus is not None else positives
    for index, text in enumerate(extra):
        if not isinstance(text, str):
            raise InputTypeError(f"corpus[{index}] is a {type(text).__name__}, not a str.")
    corpus_texts = list(dict.fromkeys(extra + positives))
    corpus_ids = {text: index for index, text in enumerate(corpus_texts)}
    queries = list(dict.fromkeys(anchors))
    query_ids = {query: index for index, query in enumerate(queries)}
    positive_ids: list[list[int]] = [[] for _ in queries]
    for anchor, positive in zip(anchors, positives, strict=True):
        ids = positive_ids[query_ids[anchor]]
        if corpus_ids[positive] not in ids:
            ids.append(corpus_ids[positive])
    rows = Counter(anchors)
    return MiningTexts(queries, corpus_texts, positive_ids, [rows[query] for query in queries])


def _text_column(dataset: Any, column: str) -> list[str]:
    values = list(dataset[column])
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise InputTypeError(f"Row {row} of column {column!r} is a {type(value).__name__}, not a str.")
    return values


def _report_texts(texts: MiningTexts, dataset_rows: int, verbose: bool) -> None:
    if not verbose:
        return
    if len(texts.queries) != dataset_rows:
        print(f"Found {len(texts.queries)} unique queries out of {dataset_rows} total queries.")
    if texts.max_positives > 1:
        average = sum(texts.rows_per_query) / len(texts.rows_per_query)
        print(f"Found an average of {average:.3f} positives per query.")
