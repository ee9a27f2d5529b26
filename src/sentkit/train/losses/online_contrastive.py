"""OnlineContrastiveLoss: ContrastiveLoss on the hard pairs of the batch only.

A positive pair counts if it is farther apart than the closest negative pair; a negative pair
counts if it is closer than the farthest positive pair. The loss is the sum of squared distances
of those positives plus ``relu(margin - d)**2`` of those negatives. Pairs labelled neither 0 nor
1 are ignored.

Requirements:
    Sentence pairs labelled 1 (similar) or 0 (dissimilar); both kinds in a batch help.

Inputs:
    ========================  ==============
    columns                   labels
    ========================  ==============
    (sentence_A, sentence_B)  1 or 0 (int)
    ========================  ==============

Example:
    >>> loss = OnlineContrastiveLoss(model, margin=0.5)
    >>> loss([model.tokenize(first), model.tokenize(second)], torch.tensor([1, 0, 0, 1])).backward()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from sentkit.train.losses._shared import embed_columns, flat_labels, member_name, require_columns
from sentkit.train.losses.contrastive import DistanceFn, SiameseDistanceMetric, warn_non_binary
from sentkit.train.registry import register_loss


@register_loss("online_contrastive", family="sentence")
class OnlineContrastiveLoss(nn.Module):
    """Contrastive loss on hard positives and hard negatives.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: (B, D), (B, D) -> (B,) distances; cosine distance by default.
        margin: negative pairs closer than this are pushed apart.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: DistanceFn = SiameseDistanceMetric.COSINE_DISTANCE,
        margin: float = 0.5,
    ) -> None:
        super().__init__()
        self.model = model
        self.margin = margin
        self.distance_metric = distance_metric
        self._checked_labels = False

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None, size_average: bool = False
    ) -> Tensor:
        """Scalar loss (a sum) for two columns and (B,) labels; ``size_average`` is unused."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Scalar loss from the (B, D) embeddings of the two columns.

        Raises:
            InputError: not two columns, missing labels or a label count other than B.
        """
        require_columns(self, embeddings, (2,))
        labels = flat_labels(self, labels, embeddings[0].shape[0])  # (B,)
        if not self._checked_labels:
            self._checked_labels = True
            warn_non_binary(self, labels, "pairs with other labels are ignored.")
        distances = self.distance_metric(embeddings[0], embeddings[1])  # (B,)
        negatives, positives = distances[labels == 0], distances[labels == 1]  # (N,), (P,)
        # With no pair of the other kind, the threshold is the own kind's mean.
        hard_negatives = negatives[negatives < (positives.max() if len(positives) else negatives.mean())]
        hard_positives = positives[positives > (negatives.min() if len(negatives) else positives.mean())]
        return hard_positives.pow(2).sum() + F.relu(self.margin - hard_negatives).pow(2).sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": member_name(self.distance_metric, SiameseDistanceMetric), "margin": self.margin}
