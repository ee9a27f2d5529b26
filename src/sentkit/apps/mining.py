"""Paraphrase mining: the most similar pairs among a set of texts, in bounded memory."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from torch import Tensor

from sentkit.apps.top_k import chunked_top_k
from sentkit.errors import InputError
from sentkit.similarity import cos_sim, to_tensor

if TYPE_CHECKING:
    from sentkit.encoders.sentence_transformer import SentenceTransformer


def paraphrase_mining(
    model: SentenceTransformer,
    sentences: Sequence[str],
    show_progress_bar: bool = False,
    batch_size: int = 32,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100000,
    max_pairs: int = 500000,
    top_k: int = 100,
    score_function: Callable[[Tensor, Tensor], Tensor] = cos_sim,
    truncate_dim: int | None = None,
    prompt_name: str | None = None,
    prompt: str | None = None,
) -> list[list[float | int]]:
    """Encode ``sentences`` with ``model`` and return their most similar pairs.

    The encoding arguments (``show_progress_bar``, ``batch_size``, ``truncate_dim``,
    ``prompt_name``, ``prompt``) go to ``model.encode``; the rest to
    :func:`paraphrase_mining_embeddings`, which describes the result.

    Returns:
        ``[[score, i, j], ...]`` with ``i < j`` indices into ``sentences``, best score first.

    Raises:
        InputError: non-positive chunk sizes, ``top_k`` or ``max_pairs``; encoding errors of ``model.encode``.
    """
    embeddings = model.encode(
        list(sentences),
        show_progress_bar=show_progress_bar,
        batch_size=batch_size,
        convert_to_tensor=True,
        truncate_dim=truncate_dim,
        prompt_name=prompt_name,
        prompt=prompt,
    )
    return paraphrase_mining_embeddings(
        embeddings,
        query_chunk_size=query_chunk_size,
        corpus_chunk_size=corpus_chunk_size,
        max_pairs=max_pairs,
        top_k=top_k,
        score_function=score_function,
    )


def paraphrase_mining_embeddings(
    embeddings: Any,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100000,
    max_pairs: int = 500000,
    top_k: int = 100,
    score_function: Callable[[Tensor, Tensor], Tensor] = cos_sim,
) -> list[list[float | int]]:
    """The ``max_pairs`` highest-scoring pairs among ``embeddings`` (N, D).

    Each embedding is compared with every other one, ``query_chunk_size`` x ``corpus_chunk_size``
    scores at a time; each keeps its ``top_k`` best partners (itself excluded), and of those pairs
    the best ``max_pairs`` are kept in a heap, so memory is bounded by the chunk sizes and
    ``max_pairs``, never N x N. ``score_function`` is assumed symmetric: a pair is scored once,
    from its first query (the lower index, unless the pair only enters the top-k of the higher).

    Returns:
        ``[[score, i, j], ...]`` with ``i < j``, each pair once, highest score first. Equal scores
        are ordered by ``(i, j)`` (the reference leaves their order to its heap's layout).

    Raises:
        InputError: non-positive chunk sizes, ``top_k`` or ``max_pairs``.
    """
    _check_positive(query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size, top_k=top_k)
    if max_pairs <= 0:
        raise InputError(f"max_pairs must be positive, got {max_pairs}.")
    embeddings = to_tensor(embeddings)
    if embeddings.dim() == 1:
        embeddings = embeddings.unsqueeze(0)
    pairs = _PairHeap(max_pairs)
    for start in range(0, len(embeddings), query_chunk_size):
        queries = embeddings[start : start + query_chunk_size]  # (q, D)
        scores, ids = chunked_top_k(queries, embeddings, top_k + 1, score_function, corpus_chunk_size)
        scores, ids = scores.cpu(), ids.cpu()
        for row, (row_scores, row_ids) in enumerate(zip(scores.tolist(), ids.tolist(), strict=True)):
            pairs.offer(start + row, row_scores, row_ids, top_k)
    ranked = sorted(pairs.entries, key=lambda entry: (-entry[0], entry[1], entry[2]))
    return [[score, i, j] for score, i, j in ranked]


class _PairHeap:
    """The ``max_pairs`` best (score, i, j) pairs seen so far, each pair once, in a min-heap."""

    def __init__(self, max_pairs: int) -> None:
        self.max_pairs = max_pairs
        self.entries: list[tuple[float, int, int]] = []
        self.queued: set[tuple[int, int]] = set()
        self.min_score = float("-inf")  # score of the last evicted entry: nothing at or below it gets in

    def offer(self, query: int, scores: list[float], ids: list[int], top_k: int) -> None:
        """Offer ``query``'s ``top_k`` best partners (itself excluded) as pairs."""
        neighbours = [(other, score) for other, score in zip(ids, scores, strict=True) if other != query][:top_k]
        for other, score in neighbours:
            if score <= self.min_score:
                continue
            pair = (query, other) if query < other else (other, query)
            if pair in self.queued:
                continue
            self.queued.add(pair)
            if len(self.entries) < self.max_pairs:
                heapq.heappush(self.entries, (score, *pair))
            else:
                evicted = heapq.heappushpop(self.entries, (score, *pair))
                self.queued.discard(evicted[1:])
                self.min_score = evicted[0]


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value <= 0:
            raise InputError(f"{name} must be positive, got {value}.")
