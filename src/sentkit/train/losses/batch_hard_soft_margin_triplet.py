"""BatchHardSoftMarginTripletLoss: BatchHardTripletLoss with a soft margin and no margin to tune.

Per anchor, ``softplus(d(anchor, hardest positive) - d(anchor, hardest negative))``, averaged
(Hermans et al. 2017): a smooth hinge that keeps pushing a little even past any margin.

Requirements:
    One text per row with an integer class label; at least two texts per label in a batch.

Inputs:
    =========  ===========
    columns    labels
    =========  ===========
    (text,)    class (int)
    =========  ===========

Example:
    >>> loss = BatchHardSoftMarginTripletLoss(model)
    >>> loss([model.tokenize(texts)], torch.tensor(class_ids)).backward()
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sentkit.train.losses._shared import flat_labels
from sentkit.train.losses.batch_hard_triplet import (
    BatchHardTripletLossDistanceFunction,
    DistanceMatrixFn,
    LabelledBatchLoss,
    hardest_gap,
)
from sentkit.train.registry import register_loss


@register_loss("batch_hard_soft_margin_triplet", family="sentence")
class BatchHardSoftMarginTripletLoss(LabelledBatchLoss):
    """Hardest-triplet loss with a softplus instead of a margin hinge.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: (B, D) -> (B, B) distances; euclidean by default.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: DistanceMatrixFn = BatchHardTripletLossDistanceFunction.euclidean_distance,
    ) -> None:
        super().__init__(model, distance_metric)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        labels = flat_labels(self, labels, embeddings[0].shape[0])  # (B,)
        return F.softplus(hardest_gap(self.distance_metric(embeddings[0]), labels)).mean()  # (B, 1) -> scalar
