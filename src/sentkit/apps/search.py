"""Semantic search: the top-k corpus entries for each query, in bounded memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from sentkit.errors import InputError
from sentkit.similarity import cos_sim, to_tensor


def semantic_search(
    query_embeddings: Any,
    corpus_embeddings: Any,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 500000,
    top_k: int = 10,
    score_function: Callable[[Tensor, Tensor], Tensor] = cos_sim,
) -> list[list[dict[str, int | float]]]:
    """Find the ``top_k`` best corpus entries for each query.

    ``query_embeddings`` (Q, D) or (D,) and ``corpus_embeddings`` (C, D) are tensors, arrays or
    lists; sparse COO tensors (SparseEncoder embeddings) stay sparse. Scores are computed one
    (query chunk x corpus chunk) block at a time and only a running top-k per query is kept, so
    memory is bounded by the chunk sizes, never Q x C.

    Returns:
        One list per query of ``{"corpus_id": int, "score": float}``, best first.

    Raises:
        InputError: non-positive ``top_k`` or chunk sizes, or mismatched embedding sizes.
    """
    for name, value in (
        ("top_k", top_k),
        ("query_chunk_size", query_chunk_size),
        ("corpus_chunk_size", corpus_chunk_size),
    ):
        if value <= 0:
            raise InputError(f"{name} must be positive, got {value}.")
    queries = to_tensor(query_embeddings)
    corpus = to_tensor(corpus_embeddings)
    if queries.dim() == 1:
        queries = queries.unsqueeze(0)
    if corpus.dim() == 1:
        corpus = corpus.unsqueeze(0)
    if len(corpus) and queries.shape[-1] != corpus.shape[-1]:
        raise InputError(f"Query embeddings have size {queries.shape[-1]} but corpus embeddings {corpus.shape[-1]}.")
    queries = queries.to(corpus.device)

    results: list[list[dict[str, int | float]]] = []
    for q_start in range(0, len(queries), query_chunk_size):
        query_chunk = _rows(queries, q_start, query_chunk_size)  # (q, D)
        best_scores = torch.empty((len(query_chunk), 0), device=corpus.device)
        best_ids = torch.empty((len(query_chunk), 0), dtype=torch.long, device=corpus.device)
        for c_start in range(0, len(corpus), corpus_chunk_size):
            scores = score_function(query_chunk, _rows(corpus, c_start, corpus_chunk_size))  # (q, c)
            k = min(top_k, scores.shape[1])
            chunk_scores, chunk_ids = torch.topk(scores, k, dim=1)
            merged_scores = torch.cat([best_scores, chunk_scores.to(best_scores.dtype)], dim=1)
            merged_ids = torch.cat([best_ids, chunk_ids + c_start], dim=1)
            keep = min(top_k, merged_scores.shape[1])
            best_scores, positions = torch.topk(merged_scores, keep, dim=1)
            best_ids = torch.gather(merged_ids, 1, positions)
        for ids, scores in zip(best_ids.tolist(), best_scores.tolist(), strict=False):
            results.append([{"corpus_id": int(i), "score": float(s)} for i, s in zip(ids, scores, strict=False)])
    return results


def _rows(embeddings: Tensor, start: int, count: int) -> Tensor:
    """Rows ``start`` to ``start + count`` of dense or sparse ``embeddings`` (sparse tensors cannot be sliced)."""
    if not embeddings.is_sparse:
        return embeddings[start : start + count]
    rows = torch.arange(start, min(start + count, embeddings.shape[0]), device=embeddings.device)
    return embeddings.index_select(0, rows)
