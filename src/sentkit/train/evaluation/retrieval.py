"""Retrieval building blocks: the top-k hits of each query over corpus chunks, and the IR metrics.

Hits are ranked by score, highest first, ties broken by the smaller corpus id, so the result does
not depend on how the corpus is chunked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sentkit.train.evaluation.metrics import dcg_at_k


@dataclass
class TopHits:
    """The best ``max_k`` ``(score, corpus_id)`` hits of each of ``num_queries`` queries so far.

    ``corpus_ids`` is the whole corpus in order; ``add_chunk`` takes the (Q, C) scores of the
    queries against the corpus entries ``start .. start + C``.
    """

    num_queries: int
    max_k: int
    corpus_ids: Sequence[Any]
    hits: list[list[tuple[float, Any]]] = field(init=False)
    _id_rank: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.hits = [[] for _ in range(self.num_queries)]
        order = sorted(range(len(self.corpus_ids)), key=lambda index: self.corpus_ids[index])
        self._id_rank = np.empty(len(self.corpus_ids), dtype=np.int64)  # (N,) position in sorted id order
        self._id_rank[order] = np.arange(len(self.corpus_ids))

    def add_chunk(self, scores: np.ndarray, start: int) -> None:
        """Merge the best hits of a (Q, C) score matrix for corpus entries ``start .. start + C``."""
        if scores.shape[1] == 0:
            return
        k = min(self.max_k, scores.shape[1])
        chunk_rank = self._id_rank[start : start + scores.shape[1]]  # (C,)
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (Q, k), unordered
        cutoffs = np.take_along_axis(scores, candidates, axis=1).min(axis=1)  # (Q,)
        for query, row in enumerate(scores):
            chosen = candidates[query]
            if np.count_nonzero(row >= cutoffs[query]) > k:  # ties at the cut-off: lowest ids first
                tied = np.flatnonzero(row >= cutoffs[query])
                chosen = tied[np.lexsort((chunk_rank[tied], -row[tied]))[:k]]
            merged = self.hits[query]
            merged.extend((float(row[i]), self.corpus_ids[start + i]) for i in chosen)
            merged.sort(key=lambda hit: (-hit[0], hit[1]))
            del merged[self.max_k :]

    def as_dicts(self) -> list[list[dict[str, Any]]]:
        """Per query, ``[{"corpus_id": ..., "score": ...}, ...]`` best first."""
        return [[{"corpus_id": cid, "score": score} for score, cid in query_hits] for query_hits in self.hits]


@dataclass(frozen=True)
class CutOffs:
    """The k values of each metric."""

    accuracy: Sequence[int]
    precision_recall: Sequence[int]
    mrr: Sequence[int]
    ndcg: Sequence[int]
    map: Sequence[int]

    @property
    def max_k(self) -> int:
        all_ks = (self.accuracy, self.precision_recall, self.mrr, self.ndcg, self.map)
        return max((k for ks in all_ks for k in ks), default=1)


def retrieval_metrics(
    ranked_ids: Sequence[Sequence[Any]],
    relevant: Sequence[Mapping[Any, Any] | set[Any] | Sequence[Any]],
    cutoffs: CutOffs,
) -> dict[str, dict[int, float]]:
    """Mean IR metrics over queries.

    Args:
        ranked_ids: per query, the retrieved corpus ids, best first.
        relevant: per query, its relevant corpus ids (non-empty).
        cutoffs: the k values of each metric.

    Returns:
        ``{"accuracy@k": {k: value}, "precision@k": ..., "recall@k": ..., "ndcg@k": ...,
        "mrr@k": ..., "map@k": ...}``. Accuracy@k: share of queries with a relevant hit in the
        top k. MAP@k divides by min(k, number of relevant documents).
    """
    per_query: dict[str, dict[int, list[float]]] = {
        name: {k: [] for k in ks}
        for name, ks in (
            ("accuracy@k", cutoffs.accuracy),
            ("precision@k", cutoffs.precision_recall),
            ("recall@k", cutoffs.precision_recall),
            ("ndcg@k", cutoffs.ndcg),
            ("mrr@k", cutoffs.mrr),
            ("map@k", cutoffs.map),
        )
    }
    for ids, wanted in zip(ranked_ids, relevant, strict=True):
        is_hit = [1 if cid in wanted else 0 for cid in ids]
        for k in cutoffs.accuracy:
            per_query["accuracy@k"][k].append(1.0 if any(is_hit[:k]) else 0.0)
        for k in cutoffs.precision_recall:
            per_query["precision@k"][k].append(sum(is_hit[:k]) / k)
            per_query["recall@k"][k].append(sum(is_hit[:k]) / len(wanted))
        for k in cutoffs.mrr:
            first = next((rank for rank, hit in enumerate(is_hit[:k]) if hit), None)
            per_query["mrr@k"][k].append(0.0 if first is None else 1.0 / (first + 1))
        for k in cutoffs.ndcg:
            per_query["ndcg@k"][k].append(dcg_at_k(is_hit, k) / dcg_at_k([1] * len(wanted), k))
        for k in cutoffs.map:
            per_query["map@k"][k].append(_average_precision_at_k(is_hit, k) / min(k, len(wanted)))
    return {name: {k: float(np.mean(values)) for k, values in by_k.items()} for name, by_k in per_query.items()}


def _average_precision_at_k(is_hit: Sequence[int], k: int) -> float:
    """Sum of the precision at each relevant hit in the top ``k``."""
    found, total = 0, 0.0
    for rank, hit in enumerate(is_hit[:k]):
        if hit:
            found += 1
            total += found / (rank + 1)
    return total
