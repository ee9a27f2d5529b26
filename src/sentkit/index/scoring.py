"""Scores of the three metrics, higher is closer: cosine similarity, dot product, negative euclidean distance.

Cosine indexes hold L2-normalised rows and normalise their queries, so cosine is a dot product here.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SCORE_BLOCK = 1 << 24  # query rows x corpus rows scored at once (64 MiB of float32)


def candidate_scores(queries: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """Scores (Q, k) of ``queries`` (Q, D) against their own candidates ``vectors`` (Q, k, D), in float64."""
    queries64 = queries.astype(np.float64)
    if metric == "euclidean":
        differences = vectors.astype(np.float64) - queries64[:, None, :]  # (Q, k, D)
        return -np.sqrt(np.einsum("qkd,qkd->qk", differences, differences))
    return np.einsum("qd,qkd->qk", queries64, vectors.astype(np.float64))  # (Q, k)


def exact_top_k(queries: np.ndarray, chunks: Iterable[tuple[int, np.ndarray]], k: int, metric: str) -> np.ndarray:
    """Rows (Q, k) int64 of the ``k`` best corpus rows per query, best first, scanning every chunk.

    ``chunks`` yields ``(first row, vectors (c, D) float32)``; ``k`` must not exceed the corpus size.
    """
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start, vectors in chunks:
        scores = _block_scores(queries, vectors, metric)  # (Q, c)
        keep = min(k, scores.shape[1])
        top = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]  # (Q, keep), unordered
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        merged_rows = np.concatenate([best_rows, top + start], axis=1)
        keep = min(k, merged_scores.shape[1])
        order = np.argsort(-merged_scores, axis=1, kind="stable")[:, :keep]  # (Q, keep), best first
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_rows = np.take_along_axis(merged_rows, order, axis=1)
    return best_rows


def _block_scores(queries: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """Scores (Q, c) of queries (Q, D) against vectors (c, D), ranked like the metric (float32)."""
    products = queries @ vectors.T  # (Q, c)
    if metric != "euclidean":
        return products
    # -|q - v|^2 up to the per-query constant |q|^2: same ranking, no square root needed
    return 2 * products - np.einsum("cd,cd->c", vectors, vectors)[None, :]


def chunk_rows(query_count: int) -> int:
    """Corpus rows per scoring block so that ``query_count`` x rows stays within :data:`SCORE_BLOCK`."""
    return max(1024, SCORE_BLOCK // max(query_count, 1))
