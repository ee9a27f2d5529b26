"""BatchAllTripletLoss: every valid in-batch triplet, averaged over those that still violate the margin.

All (anchor, positive, negative) with label(a) == label(p), a != p and label(n) != label(a)
contribute ``relu(d(a, p) - d(a, n) + margin)``; the sum is divided by the number of triplets
with a positive loss.

Requirements:
    One text per row with an integer class label; at least two texts per label in a batch.

Inputs:
    =========  ===========
    columns    labels
    =========  ===========
    (text,)    class (int)
    =========  ===========

Example:
    >>> loss = BatchAllTripletLoss(model, margin=5)
    >>> loss([model.tokenize(texts)], torch.tensor(class_ids)).backward()
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from sentkit.train.losses._shared import flat_labels
from sentkit.train.losses.batch_hard_triplet import (
    BatchHardTripletLossDistanceFunction,
    DistanceMatrixFn,
    LabelledBatchLoss,
    anchor_positive_mask,
)
from sentkit.train.registry import register_loss


@register_loss("batch_all_triplet", family="sentence")
class BatchAllTripletLoss(LabelledBatchLoss):
    """All-triplets loss.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: (B, D) -> (B, B) distances; euclidean by default.
        margin: how much closer each positive must be than each negative.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: DistanceMatrixFn = BatchHardTripletLossDistanceFunction.euclidean_distance,
        margin: float = 5,
    ) -> None:
        super().__init__(model, distance_metric)
        self.triplet_margin = margin

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        labels = flat_labels(self, labels, embeddings[0].shape[0])  # (B,)
        distances = self.distance_metric(embeddings[0])  # (B, B)
        # Only the P anchor-positive pairs are scored against every text: (P, B), not a (B, B, B) cube.
        anchors, positives = anchor_positive_mask(labels).nonzero(as_tuple=True)  # (P,), (P,)
        to_positive = distances[anchors, positives].unsqueeze(1)  # (P, 1)
        losses = to_positive - distances[anchors] + self.triplet_margin  # (P, B) one column per negative
        valid = labels[anchors].unsqueeze(1) != labels.unsqueeze(0)  # (P, B) other-label negatives
        losses = (valid.float() * losses).clamp(min=0)
        violating = int((losses > 1e-16).sum().item())
        return losses.sum() / (violating + 1e-16)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "margin": self.triplet_margin}
