"""The k best corpus entries per query, scoring the corpus a chunk at a time (bounded memory).

Used by paraphrase mining, hard-negative mining and bitext mining. ``util.semantic_search`` keeps
its own loop (:mod:`sentkit.apps.search`), which also slices sparse tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def chunked_top_k(
    queries: Tensor,
    corpus: Tensor,
    k: int,
    score_function: Callable[[Tensor, Tensor], Tensor],
    corpus_chunk_size: int,
) -> tuple[Tensor, Tensor]:
    """Scores and corpus ids (q, min(k, C)) of the ``k`` best ``corpus`` (C, D) rows for each of
    ``queries`` (q, D) under ``score_function``, best first.

    Only ``corpus_chunk_size`` corpus rows are scored (and moved to the queries' device) at a time; a
    running top-k keeps memory at (q, 2k) between chunks. With one chunk the result is
    ``torch.topk`` of the whole score matrix.
    """
    best_scores = torch.empty((len(queries), 0), device=queries.device)
    best_ids = torch.empty((len(queries), 0), dtype=torch.long, device=queries.device)
    for start in range(0, len(corpus), corpus_chunk_size):
        chunk = corpus[start : start + corpus_chunk_size].to(queries.device)
        scores = score_function(queries, chunk).detach()  # (q, c)
        chunk_scores, chunk_ids = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        chunk_ids = chunk_ids + start
        if start:  # merge with the best of the chunks before
            merged_scores = torch.cat([best_scores, chunk_scores.to(best_scores.dtype)], dim=1)  # (q, <= 2k)
            merged_ids = torch.cat([best_ids, chunk_ids], dim=1)
            chunk_scores, order = torch.topk(merged_scores, min(k, merged_scores.shape[1]), dim=1)
            chunk_ids = merged_ids.gather(1, order)
        best_scores, best_ids = chunk_scores, chunk_ids
    return best_scores, best_ids
