"""Community detection: groups of embeddings that lie close to a central one (fast clustering)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from sentkit.errors import InputError
from sentkit.similarity import normalize_embeddings, to_tensor


def community_detection(
    embeddings: Any,
    threshold: float = 0.75,
    min_community_size: int = 10,
    batch_size: int = 1024,
    show_progress_bar: bool = False,
) -> list[list[int]]:
    """Find communities: embeddings whose cosine similarity to a central embedding is >= ``threshold``.

    ``embeddings`` (N, D) or (D,) is a tensor, array or list. Every embedding with at least
    ``min_community_size`` neighbours at or above ``threshold`` (itself included) is a candidate
    centre; its community is those neighbours, most similar first. Candidates are taken largest
    first and each index goes to one community only: a candidate whose centre is taken is skipped,
    and one left with fewer than ``min_community_size`` free members is dropped. Similarities are
    computed ``batch_size`` rows (x N) at a time. Integer (quantized) or half-precision
    embeddings are compared in float32.

    Returns:
        The communities, largest first, each a list of indices whose first element is its centre.
        The same communities in the same order as the reference's (CPU) algorithm.

    Raises:
        InputError: a non-positive ``min_community_size`` or ``batch_size``.
    """
    if min_community_size <= 0 or batch_size <= 0:
        raise InputError(
            f"min_community_size and batch_size must be positive, got {min_community_size} and {batch_size}."
        )
    if len(embeddings) == 0:
        return []
    vectors = to_tensor(embeddings)
    if vectors.dim() == 1:
        vectors = vectors.unsqueeze(0)
    if len(vectors) < min_community_size:
        return []
    vectors = normalize_embeddings(vectors)  # (N, D)
    candidates: list[tuple[int, np.ndarray]] = []
    search = _NeighbourSearch(len(vectors), min_community_size, threshold)
    for start in tqdm(range(0, len(vectors), batch_size), desc="Finding clusters", disable=not show_progress_bar):
        scores = vectors[start : start + batch_size] @ vectors.T  # (b, N)
        candidates.extend(search.communities(scores, start))
    return _disjoint_communities(candidates, len(vectors), min_community_size)


class _NeighbourSearch:
    """Per row, the neighbours at or above the threshold, found with a top-k that grows when needed."""

    def __init__(self, count: int, min_community_size: int, threshold: float) -> None:
        self.count = count
        self.min_community_size = min_community_size
        self.threshold = threshold
        # Neighbours looked at per row; doubled (and kept) whenever a row has more above the threshold.
        self.sort_max_size = min(max(2 * min_community_size, 50), count)

    def communities(self, scores: Tensor, start: int) -> list[tuple[int, np.ndarray]]:
        """(centre, members) for each row of ``scores`` (b, N) with enough neighbours; rows are ``start + i``."""
        threshold = torch.tensor(self.threshold, device=scores.device)  # float32, as the reference compares
        kth_best = scores.topk(k=self.min_community_size, dim=1).values[:, -1]  # (b,)
        found = []
        for row in torch.nonzero(kth_best >= threshold).flatten().tolist():
            values, indices = scores[row].topk(k=self.sort_max_size)
            while values[-1] >= threshold and self.sort_max_size < self.count:
                self.sort_max_size = min(2 * self.sort_max_size, self.count)
                values, indices = scores[row].topk(k=self.sort_max_size)
            members = indices[values >= threshold].cpu().numpy().astype(np.int64)
            found.append((start + row, members))
        return found


def _disjoint_communities(
    candidates: list[tuple[int, np.ndarray]], count: int, min_community_size: int
) -> list[list[int]]:
    """Largest candidates first, each index in one community; communities sorted by size."""
    taken = np.zeros(count, dtype=bool)
    communities: list[list[int]] = []
    for centre, members in sorted(candidates, key=lambda candidate: len(candidate[1]), reverse=True):
        if taken[centre]:
            continue
        free = members[~taken[members]]
        if len(free) >= min_community_size:
            community = [centre, *free[free != centre].tolist()]
            communities.append(community)
            taken[community] = True
    return sorted(communities, key=len, reverse=True)
