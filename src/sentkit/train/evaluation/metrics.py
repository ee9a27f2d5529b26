"""Evaluation statistics in numpy: correlations, average precision, MCC, F1, NDCG.

They give the values of ``scipy.stats.pearsonr`` / ``spearmanr`` and of scikit-learn's
``average_precision_score``, ``matthews_corrcoef``, ``f1_score`` and ``ndcg_score`` (ties in the
scores averaged, as scikit-learn does), so evaluators need neither package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def pearson(x: Any, y: Any) -> float:
    """Pearson correlation of two (N,) sequences; NaN when either is constant (or N < 2)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.size < 2:
        return float("nan")
    a = a - a.mean()
    b = b - b.mean()
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0:
        return float("nan")
    value = float(np.dot(a / norm_a, b / norm_b))
    return max(-1.0, min(1.0, value))


def average_ranks(values: Any) -> np.ndarray:
    """(N,) 1-based ranks of ``values``, tied values sharing the mean of their ranks."""
    data = np.asarray(values).ravel()
    order = np.argsort(data, kind="stable")
    sorted_values = data[order]
    starts_group = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group_of_sorted = np.cumsum(starts_group) - 1  # (N,) group index per sorted position
    group_starts = np.flatnonzero(starts_group)
    group_ends = np.r_[group_starts[1:], data.size]  # exclusive
    mean_rank = (group_starts + group_ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks = np.empty(data.size, dtype=np.float64)
    ranks[order] = mean_rank[group_of_sorted]
    return ranks


def spearman(x: Any, y: Any) -> float:
    """Spearman rank correlation of two (N,) sequences (Pearson of the tie-averaged ranks)."""
    return pearson(average_ranks(x), average_ranks(y))


def average_precision(labels: Any, scores: Any) -> float:
    """Average precision of (N,) binary ``labels`` ranked by (N,) ``scores``, higher first.

    Equal scores form one cut-off, as in scikit-learn: AP = sum over cut-offs of
    (recall gain) x (precision at the cut-off). No positive label gives 0.0.
    """
    truth = np.asarray(labels).ravel() == 1
    values = np.asarray(scores).ravel()
    if truth.size == 0 or not truth.any():
        return 0.0
    order = np.argsort(values, kind="stable")[::-1]
    sorted_values, sorted_truth = values[order], truth[order]
    cut_ends = np.r_[np.flatnonzero(sorted_values[1:] != sorted_values[:-1]), values.size - 1]
    true_positives = np.cumsum(sorted_truth)[cut_ends].astype(np.float64)  # (C,)
    extracted = cut_ends + 1.0
    precision = true_positives / extracted
    recall = true_positives / true_positives[-1]
    recall_gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_gain * precision))


def matthews_corrcoef(labels: Any, predictions: Any) -> float:
    """Matthews correlation of (N,) binary ``labels`` and ``predictions``; 0.0 when undefined."""
    truth = np.asarray(labels).ravel().astype(bool)
    predicted = np.asarray(predictions).ravel().astype(bool)
    tp = float(np.sum(truth & predicted))
    tn = float(np.sum(~truth & ~predicted))
    fp = float(np.sum(~truth & predicted))
    fn = float(np.sum(truth & ~predicted))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    if denominator == 0:
        return 0.0
    return float((tp * tn - fp * fn) / denominator)


def f1_scores(labels: Any, predictions: Any) -> dict[str, float]:
    """Macro, micro and support-weighted F1 of (N,) class ``labels`` and ``predictions``.

    Classes are those present in either; an undefined per-class F1 counts as 0.

    Returns:
        ``{"macro": float, "micro": float, "weighted": float}``.
    """
    truth = np.asarray(labels).ravel()
    predicted = np.asarray(predictions).ravel()
    classes = np.union1d(truth, predicted)
    tp = np.array([np.sum((truth == c) & (predicted == c)) for c in classes], dtype=np.float64)
    fp = np.array([np.sum((truth != c) & (predicted == c)) for c in classes], dtype=np.float64)
    fn = np.array([np.sum((truth == c) & (predicted != c)) for c in classes], dtype=np.float64)
    per_class = _safe_f1(tp, fp, fn)
    support = tp + fn
    micro = float(_safe_f1(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))[0])
    weighted = float(np.sum(per_class * support) / support.sum()) if support.sum() > 0 else 0.0
    return {"macro": float(per_class.mean()) if per_class.size else 0.0, "micro": micro, "weighted": weighted}


def _safe_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def ndcg_at_k(relevance: Sequence[float] | np.ndarray, scores: Any, k: int | None = None) -> float:
    """NDCG@k of one ranking: (N,) gains ``relevance`` ordered by (N,) ``scores``, higher first.

    Documents with equal scores share the discounts of the positions they span (their gains are
    averaged over the tie), so the result does not depend on how ties would be broken. The ideal
    ranking sorts the gains; an all-zero ``relevance`` gives 0.0.
    """
    gains = np.asarray(relevance, dtype=np.float64).ravel()
    values = np.asarray(scores, dtype=np.float64).ravel()
    discount = 1.0 / np.log2(np.arange(gains.size) + 2.0)  # (N,)
    if k is not None:
        discount[k:] = 0.0
    ideal = float(np.sum(np.sort(gains)[::-1] * discount))
    if ideal == 0:
        return 0.0
    unique_desc, group, counts = np.unique(-values, return_inverse=True, return_counts=True)
    mean_gain = np.zeros(unique_desc.size)
    np.add.at(mean_gain, group.ravel(), gains)
    mean_gain /= counts
    group_ends = np.cumsum(counts) - 1
    cumulative_discount = np.cumsum(discount)[group_ends]
    group_discount = np.diff(np.r_[0.0, cumulative_discount])
    return float(np.sum(mean_gain * group_discount) / ideal)


def dcg_at_k(relevance: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of the first ``k`` gains in ``relevance``, in the given order."""
    total = 0.0
    for position, gain in enumerate(relevance[:k]):
        total += gain / np.log2(position + 2)
    return float(total)
