"""The weighting schemes of :class:`~sentkit.train.cross_encoder_losses.LambdaLoss` (Wang et al., 2018).

A scheme weighs each pair of documents (i, j), in the order the model ranks them, by how much
swapping them would change the ranking metric. All take:

- ``gain`` (B, N): ``(2**label - 1) / ideal DCG`` of the document at each predicted rank;
- ``discount`` (1, N): ``log2(1 + rank)`` for ranks 1..N;
- ``true_sorted`` (B, N): the labels in predicted order (negative padding clamped to 0);

and return weights that broadcast to (B, N, N). None of them carries a gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BaseWeightingScheme(nn.Module):
    """A LambdaLoss weighting scheme: ``forward(gain, discount, true_sorted)`` -> pair weights."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(gain, discount, true_sorted).")


class NoWeightingScheme(BaseWeightingScheme):
    """Every pair weighs 1: LambdaLoss becomes RankNet."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        return torch.tensor(1.0, device=gain.device)  # () broadcast to every pair


class NDCGLoss1Scheme(BaseWeightingScheme):
    """Weight ``gain_i / discount_i`` of the first document of each pair (a loose NDCG bound)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        return (gain / discount).unsqueeze(2)  # (B, N, 1)


class NDCGLoss2Scheme(BaseWeightingScheme):
    """Weight ``|gain_i - gain_j|`` times the change of 1/discount between rank distances |i-j| and |i-j|+1."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        ranks = torch.arange(gain.shape[1], device=gain.device)  # (N,)
        distance = (ranks[:, None] - ranks[None, :]).abs()  # (N, N)
        inverse = discount[0].abs().reciprocal()  # (N,)
        # For distance d >= 1: 1/discount at rank d minus at rank d + 1 (indices d - 1 and d).
        step = (inverse[(distance - 1).clamp(min=0)] - inverse[distance]).abs()  # (N, N)
        step = step.masked_fill(distance == 0, 0.0)
        return step.unsqueeze(0) * (gain[:, :, None] - gain[:, None, :]).abs()  # (B, N, N)


class LambdaRankScheme(BaseWeightingScheme):
    """Weight ``|1/discount_i - 1/discount_j| * |gain_i - gain_j|`` (a coarse NDCG bound)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        inverse = discount.reciprocal()  # (1, N)
        rank_change = (inverse[:, :, None] - inverse[:, None, :]).abs()  # (1, N, N)
        return rank_change * (gain[:, :, None] - gain[:, None, :]).abs()  # (B, N, N)


class NDCGLoss2PPScheme(BaseWeightingScheme):
    """``mu`` times the NDCGLoss2 weights plus the LambdaRank weights; the strongest in the paper.

    Args:
        mu: weight of the NDCGLoss2 part.
    """

    def __init__(self, mu: float = 10.0) -> None:
        super().__init__()
        self.mu = mu
        self.ndcg_loss2 = NDCGLoss2Scheme()
        self.lambda_rank = LambdaRankScheme()

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        ndcg2 = self.ndcg_loss2(gain, discount, true_sorted)  # (B, N, N)
        return self.mu * ndcg2 + self.lambda_rank(gain, discount, true_sorted)  # (B, N, N)
