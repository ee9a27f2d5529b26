"""BatchSemiHardTripletLoss: in-batch triplets with semi-hard negatives (FaceNet, Schroff et al. 2015).

For every anchor-positive pair (same label), the negative is the closest text of another label
that is still farther than the positive; if there is none, the farthest negative. The loss is
``relu(d(a, p) - d(a, n) + margin)`` averaged over the anchor-positive pairs.

Requirements:
    One text per row with an integer class label; at least two texts per label in a batch.

Inputs:
    =========  ===========
    columns    labels
    =========  ===========
    (text,)    class (int)
    =========  ===========

Example:
    >>> loss = BatchSemiHardTripletLoss(model)
    >>> loss([model.tokenize(texts)], torch.tensor(class_ids)).backward()
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from sentkit.train.losses._shared import flat_labels
from sentkit.train.losses.batch_hard_triplet import (
    BatchHardTripletLossDistanceFunction,
    DistanceMatrixFn,
    LabelledBatchLoss,
)
from sentkit.train.registry import register_loss


@register_loss("batch_semi_hard_triplet", family="sentence")
class BatchSemiHardTripletLoss(LabelledBatchLoss):
    """Semi-hard negative triplet loss.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: (B, D) -> (B, B) distances; euclidean by default.
        margin: how much closer the positive must be than the negative.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: DistanceMatrixFn = BatchHardTripletLossDistanceFunction.euclidean_distance,
        margin: float = 5,
    ) -> None:
        super().__init__(model, distance_metric)
        self.margin = margin

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        labels = flat_labels(self, labels, embeddings[0].shape[0]).unsqueeze(1)  # (B, 1)
        batch = labels.shape[0]
        distances = self.distance_metric(embeddings[0])  # (B, B)
        same = labels == labels.T  # (B, B)
        # For entry (a, p): the smallest negative distance of row a that exceeds d(a, p), by a sorted search.
        negatives = distances.masked_fill(same, torch.inf)  # (B, B)
        sorted_negatives = negatives.sort(dim=1, stable=True).values  # (B, B) ascending, +inf last
        above = torch.searchsorted(sorted_negatives.detach().contiguous(), distances.detach().contiguous(), right=True)
        outside = sorted_negatives.gather(1, above.clamp(max=batch - 1))  # (B, B) semi-hard, or +inf
        inside = _masked_row_max(distances, ~same)  # (B, 1) farthest negative
        semi_hard = torch.where(torch.isfinite(outside), outside, inside)  # (B, B)
        losses = distances - semi_hard + self.margin  # (B, B)
        positive_pairs = same.float() - torch.eye(batch, device=labels.device)  # (B, B) anchor-positive pairs
        total = torch.max(losses * positive_pairs, torch.zeros(1, device=labels.device)).sum()
        return total / positive_pairs.sum().clamp(min=1e-16)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "margin": self.margin}


def _masked_row_max(data: Tensor, mask: Tensor) -> Tensor:
    """(B, 1) maximum of each row of (B, B) ``data`` over the ``mask``ed entries (row min if none)."""
    row_min = data.min(dim=1, keepdim=True).values  # (B, 1)
    return ((data - row_min) * mask).max(dim=1, keepdim=True).values + row_min
