"""The output half of :func:`~sentkit.apps.hard_negatives.mine_hard_negatives`: the four output
formats, and the statistics table printed with ``verbose``.

Rows come grouped by anchor (first-appearance order) and, within an anchor, by positive; the
negatives of an anchor are shared by all its positives. Scores are Python floats of the float32
scores. Next to the columns, each format gives the negative scores (one per positive pair that a
kept negative is compared with), their differences from the positive scores, and how many rows it
could have had, for the statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sentkit.apps.hard_negatives_search import NO_SCORE, MinedNegatives

if TYPE_CHECKING:
    from sentkit.apps.hard_negatives_settings import MiningSettings, MiningTexts

__all__ = ["FormattedOutput", "format_output", "print_statistics"]


@dataclass
class FormattedOutput:
    """``columns`` for ``Dataset.from_dict``; the kept ``negative_scores`` and ``difference_scores``
    (positive minus negative), both flat; ``maximum_samples``, the rows there could have been."""

    columns: dict[str, list[Any]]
    negative_scores: Tensor
    difference_scores: Tensor
    maximum_samples: int


@dataclass
class _PerPair:
    """The negatives of each (anchor, positive) pair: ids, scores, kept (P, N); positive scores (P, N)."""

    ids: Tensor
    scores: Tensor
    kept: Tensor
    positive_scores: Tensor

    @classmethod
    def of(cls, mined: MinedNegatives, texts: MiningTexts) -> _PerPair:
        repeats = torch.tensor(texts.positives_per_query)
        scores = mined.scores.repeat_interleave(repeats, dim=0)  # (P, N)
        return cls(
            ids=mined.ids.repeat_interleave(repeats, dim=0),
            scores=scores,
            kept=scores != NO_SCORE,
            positive_scores=mined.positive_scores.unsqueeze(1).expand_as(scores),
        )


def format_output(mined: MinedNegatives, texts: MiningTexts, settings: MiningSettings) -> FormattedOutput:
    """Lay out ``mined`` as ``settings.output_format`` (validated before)."""
    return _FORMATS[settings.output_format](mined, texts, settings)


def _triplets(mined: MinedNegatives, texts: MiningTexts, settings: MiningSettings) -> FormattedOutput:
    """One (anchor, positive, negative[, scores]) row per pair and found negative."""
    pairs = _PerPair.of(mined, texts)
    anchor, positive = settings.anchor_column, settings.positive_column
    columns: dict[str, list[Any]] = {anchor: [], positive: [], "negative": []}
    if settings.output_scores:
        columns["scores"] = []
    positive_scores = mined.positive_scores.tolist()
    rows = zip(
        texts.pair_queries,
        texts.pair_positives,
        positive_scores,
        pairs.ids.tolist(),
        pairs.scores.tolist(),
        strict=True,
    )
    for query, positive_text, positive_score, ids, scores in rows:
        for index, score in zip(ids, scores, strict=True):
            if score == NO_SCORE:
                continue
            columns[anchor].append(query)
            columns[positive].append(positive_text)
            columns["negative"].append(texts.corpus[index])
            if settings.output_scores:
                columns["scores"].append([positive_score, score])
    return _with_statistics(columns, pairs, pairs.kept, pairs.kept.numel())


def _labeled_pairs(mined: MinedNegatives, texts: MiningTexts, settings: MiningSettings) -> FormattedOutput:
    """Per anchor, its positives (label 1) then its found negatives (label 0), or their scores."""
    anchor, document = settings.anchor_column, settings.positive_column
    value_column = "score" if settings.output_scores else "label"
    columns: dict[str, list[Any]] = {anchor: [], document: [], value_column: []}
    positive_scores = iter(mined.positive_scores.tolist())
    for query, positive_ids, ids, scores in zip(
        texts.queries, texts.positive_ids, mined.ids.tolist(), mined.scores.tolist(), strict=True
    ):
        labeled = [(index, next(positive_scores), 1) for index in positive_ids]
        labeled += [(index, score, 0) for index, score in zip(ids, scores, strict=True) if score != NO_SCORE]
        for index, score, label in labeled:
            columns[anchor].append(query)
            columns[document].append(texts.corpus[index])
            columns[value_column].append(score if settings.output_scores else label)
    pairs = _PerPair.of(mined, texts)
    maximum = len(texts.queries) * settings.num_negatives + settings.dataset_rows
    return _with_statistics(columns, pairs, pairs.kept, maximum)


def _n_tuples(mined: MinedNegatives, texts: MiningTexts, settings: MiningSettings) -> FormattedOutput:
    """One (anchor, positive, negative_1, ..., negative_n[, scores]) row per pair with all n found."""
    pairs = _PerPair.of(mined, texts)
    complete = pairs.kept.all(dim=1).tolist()  # (P,)
    columns: dict[str, list[Any]] = {
        settings.anchor_column: [query for query, keep in zip(texts.pair_queries, complete, strict=True) if keep],
        settings.positive_column: [text for text, keep in zip(texts.pair_positives, complete, strict=True) if keep],
    }
    kept_ids = [ids for ids, keep in zip(pairs.ids.tolist(), complete, strict=True) if keep]
    for position in range(settings.num_negatives):
        columns[f"negative_{position + 1}"] = [texts.corpus[ids[position]] for ids in kept_ids]
    rows = torch.tensor(complete, dtype=torch.bool)
    if settings.output_scores:
        columns["scores"] = torch.cat([mined.positive_scores[rows].unsqueeze(1), pairs.scores[rows]], dim=1).tolist()
    return _with_statistics(columns, pairs, rows.unsqueeze(1).expand_as(pairs.kept), len(complete))


def _labeled_lists(mined: MinedNegatives, texts: MiningTexts, settings: MiningSettings) -> FormattedOutput:
    """One (anchor, [positive, negatives...], [1, 0, ...] or scores) row per pair with a negative found."""
    pairs = _PerPair.of(mined, texts)
    value_column = "scores" if settings.output_scores else "labels"
    columns: dict[str, list[Any]] = {settings.anchor_column: [], settings.positive_column: [], value_column: []}
    rows = zip(
        texts.pair_queries,
        texts.pair_positives,
        mined.positive_scores.tolist(),
        pairs.ids.tolist(),
        pairs.scores.tolist(),
        strict=True,
    )
    for query, positive_text, positive_score, ids, scores in rows:
        found = [(index, score) for index, score in zip(ids, scores, strict=True) if score != NO_SCORE]
        if not found:
            continue
        columns[settings.anchor_column].append(query)
        columns[settings.positive_column].append([positive_text] + [texts.corpus[index] for index, _ in found])
        if settings.output_scores:
            columns[value_column].append([positive_score] + [score for _, score in found])
        else:
            columns[value_column].append([1] + [0] * len(found))
    return _with_statistics(columns, pairs, pairs.kept, pairs.kept.size(0))


def _with_statistics(columns: dict[str, list[Any]], pairs: _PerPair, kept: Tensor, maximum: int) -> FormattedOutput:
    negatives = pairs.scores[kept]
    return FormattedOutput(columns, negatives, pairs.positive_scores[kept] - negatives, maximum)


_FORMATS: dict[str, Callable[[MinedNegatives, MiningTexts, MiningSettings], FormattedOutput]] = {
    "triplet": _triplets,
    "labeled-pair": _labeled_pairs,
    "n-tuple": _n_tuples,
    "labeled-list": _labeled_lists,
}


# ----------------------------------------------------------------------------------- statistics
def _quantile(q: float) -> Callable[[Tensor], Tensor | float]:
    return lambda scores: torch.quantile(scores.float(), q=q) if scores.numel() else float("inf")


_STATISTICS: list[tuple[str, Callable[[Tensor], Tensor | float]]] = [
    ("Mean", lambda scores: scores.mean() if scores.numel() else torch.tensor(float("nan"))),
    ("Median", lambda scores: scores.median() if scores.numel() else torch.tensor(float("nan"))),
    ("Std", lambda scores: scores.std() if scores.numel() > 1 else torch.tensor(float("nan"))),
    ("Min", lambda scores: scores.min() if scores.numel() else float("inf")),
    ("25%", _quantile(0.25)),
    ("50%", _quantile(0.5)),
    ("75%", _quantile(0.75)),
    ("Max", lambda scores: scores.max() if scores.numel() else float("-inf")),
]
_ROW = "{:<6} {:>14} {:>14} {:>14}"
_FILTERS = ("absolute_margin", "relative_margin", "max_score", "min_score")


def _cell(value: Tensor | float | int) -> str:
    return f"{value.item():.4f}" if isinstance(value, Tensor) else f"{value:,}"


def print_statistics(
    mined: MinedNegatives, formatted: FormattedOutput, settings: MiningSettings, output_rows: int
) -> None:
    """Print the reference's table of positive, negative and difference scores, the candidates each
    filter skipped, and how many rows lack negatives (with the parameters to adjust)."""
    positives, negatives, differences = mined.positive_scores, formatted.negative_scores, formatted.difference_scores
    print(_ROW.format("Metric", "Positive", "Negative", "Difference"))
    print(_ROW.format("Count", _cell(len(positives)), _cell(len(negatives)), ""))
    for name, statistic in _STATISTICS:
        print(
            _ROW.format(name, _cell(statistic(positives)), _cell(statistic(negatives)), _cell(statistic(differences)))
        )
    for name in _FILTERS:
        if name in mined.skipped:
            count, ratio = mined.skipped[name]
            value = getattr(settings, name)
            print(f"Skipped {count:,} potential negatives ({ratio:.2%}) due to the {name} of {value}.")
    missing = formatted.maximum_samples - output_rows
    if missing > 0:
        solutions = ["range_max"] + (["range_min"] if settings.range_min > 0 else [])
        solutions += [name for name in _FILTERS if getattr(settings, name) is not None]
        considerations = (
            " and ".join([", ".join(solutions[:-1]), solutions[-1]]) if len(solutions) > 1 else solutions[0]
        )
        print(
            f"Could not find enough negatives for {missing} samples ({missing / formatted.maximum_samples:.2%})."
            f" Consider adjusting the {considerations} parameter{'s' if len(solutions) > 1 else ''} if you'd like"
            " to find more valid negatives."
        )
