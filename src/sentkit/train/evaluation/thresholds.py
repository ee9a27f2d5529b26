"""Best decision thresholds for binary classification by a score: for accuracy and for F1.

Pairs are ranked by score (highest first when a high score means "similar", lowest first for
distances). Every cut between two distinct scores is a candidate threshold; the chosen one is
the midpoint between the last score kept and the next one, computed in the scores' own dtype
(the score itself when the midpoint rounds onto the next score, or at the end of the list).
The first cut that reaches the best value wins.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class _Cuts(NamedTuple):
    scores: np.ndarray  # (C,) the score at each cut (the last of each group of equal scores)
    next_scores: np.ndarray  # (C,) the score after each cut (the cut's own score for the last cut)
    kept: np.ndarray  # (C,) how many pairs are on the "similar" side of the cut
    kept_positive: np.ndarray  # (C,) how many of them are positive


def _cuts(scores: Any, labels: Any, high_score_more_similar: bool) -> _Cuts:
    values = np.asarray(scores)
    positive = np.asarray(labels).ravel() == 1
    order = np.argsort(values, kind="stable")
    if high_score_more_similar:
        order = order[::-1]
    ranked = values[order]
    cut_ends = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), ranked.size - 1]
    next_index = np.minimum(cut_ends + 1, ranked.size - 1)
    return _Cuts(ranked[cut_ends], ranked[next_index], cut_ends + 1, np.cumsum(positive[order])[cut_ends])


def _threshold(cuts: _Cuts, best: int) -> Any:
    score, following = cuts.scores[best], cuts.next_scores[best]
    if best == cuts.scores.size - 1:
        return score
    middle = (score + following) / 2
    return score if middle == following else middle


def best_accuracy_threshold(scores: Any, labels: Any, high_score_more_similar: bool) -> tuple[float, Any]:
    """The best accuracy over all thresholds, and its threshold.

    Args:
        scores: (N,) scores. labels: (N,) 0/1 labels.
        high_score_more_similar: True for similarities, False for distances.

    Returns:
        ``(accuracy, threshold)``. With no cut better than calling every pair dissimilar, the
        threshold is the first score nudged one step past the best one; ``(0, -1)`` for no pairs.
    """
    values = np.asarray(scores)
    positive = np.asarray(labels).ravel() == 1
    total = values.size
    if total == 0:
        return 0, -1
    dtype = np.result_type(values.dtype, np.float16)
    cuts = _cuts(values, labels, high_score_more_similar)
    negatives = int(np.sum(~positive))
    first = cuts.scores[0].astype(dtype)
    best_threshold: Any = np.nextafter(first, np.asarray(np.inf if high_score_more_similar else -np.inf, dtype=dtype))
    best_accuracy = negatives / total
    kept_negative = cuts.kept - cuts.kept_positive
    accuracies = (cuts.kept_positive + (negatives - kept_negative)) / total  # (C,)
    best = int(np.argmax(accuracies))
    if accuracies[best] > best_accuracy:
        best_accuracy = float(accuracies[best])
        best_threshold = _threshold(cuts, best)
    return best_accuracy, best_threshold


def best_f1_threshold(scores: Any, labels: Any, high_score_more_similar: bool) -> tuple[float, float, float, Any]:
    """The best F1 over all thresholds, with its precision, recall and threshold.

    Args:
        scores: (N,) scores. labels: (N,) 0/1 labels.
        high_score_more_similar: True for similarities, False for distances.

    Returns:
        ``(f1, precision, recall, threshold)``; all 0 when no cut keeps a positive pair.
    """
    values = np.asarray(scores)
    if values.size == 0:
        return 0, 0, 0, 0
    cuts = _cuts(values, labels, high_score_more_similar)
    total_positive = int(np.sum(np.asarray(labels).ravel() == 1))
    useful = cuts.kept_positive > 0
    if not useful.any():
        return 0, 0, 0, 0
    precision = np.where(useful, cuts.kept_positive / cuts.kept, 0.0)
    recall = np.where(useful, cuts.kept_positive / max(total_positive, 1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(useful, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    return float(f1[best]), float(precision[best]), float(recall[best]), _threshold(cuts, best)
