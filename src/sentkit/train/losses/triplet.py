"""TripletLoss: the anchor must be closer to the positive than to the negative, by a margin.

``relu(d(anchor, positive) - d(anchor, negative) + triplet_margin)``, averaged over the batch.

Requirements:
    (anchor, positive, negative) triplets.

Inputs:
    ==============================  ========
    columns                         labels
    ==============================  ========
    (anchor, positive, negative)    none
    ==============================  ========

Example:
    >>> loss = TripletLoss(model, distance_metric=TripletDistanceMetric.COSINE, triplet_margin=0.5)
    >>> loss([model.tokenize(anchors), model.tokenize(positives), model.tokenize(negatives)], None).backward()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from sentkit.similarity import pairwise_cos_sim, pairwise_euclidean_sim, pairwise_manhattan_sim
from sentkit.train.losses._shared import embed_columns, member_name, require_columns
from sentkit.train.registry import register_loss

_CITATION = """
@misc{hermans2017defense,
    title={In Defense of the Triplet Loss for Person Re-Identification},
    author={Alexander Hermans and Lucas Beyer and Bastian Leibe},
    year={2017},
    eprint={1703.07737},
    archivePrefix={arXiv},
    primaryClass={cs.CV}
}
"""


def _cosine(x: Tensor, y: Tensor) -> Tensor:
    return 1 - pairwise_cos_sim(x, y)  # (B,)


def _euclidean(x: Tensor, y: Tensor) -> Tensor:
    return -pairwise_euclidean_sim(x, y)  # (B,)


def _manhattan(x: Tensor, y: Tensor) -> Tensor:
    return -pairwise_manhattan_sim(x, y)  # (B,)


class TripletDistanceMetric:
    """Pair distances for :class:`TripletLoss`: each maps (B, D), (B, D) to (B,)."""

    COSINE = staticmethod(_cosine)
    EUCLIDEAN = staticmethod(_euclidean)
    MANHATTAN = staticmethod(_manhattan)


@register_loss("triplet", family="sentence")
class TripletLoss(nn.Module):
    """Margin triplet loss.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: (B, D), (B, D) -> (B,) distances; euclidean by default.
        triplet_margin: how much closer the positive must be than the negative.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: Callable[[Tensor, Tensor], Tensor] = TripletDistanceMetric.EUCLIDEAN,
        triplet_margin: float = 5,
    ) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = distance_metric
        self.triplet_margin = triplet_margin

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Scalar loss for (anchor, positive, negative) columns; ``labels`` are unused."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """Scalar loss from three (B, D) embeddings.

        Raises:
            InputError: not three columns.
        """
        require_columns(self, embeddings, (3,))
        anchor, positive, negative = embeddings
        to_positive = self.distance_metric(anchor, positive)  # (B,)
        to_negative = self.distance_metric(anchor, negative)  # (B,)
        return F.relu(to_positive - to_negative + self.triplet_margin).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "distance_metric": member_name(self.distance_metric, TripletDistanceMetric),
            "triplet_margin": self.triplet_margin,
        }

    @property
    def citation(self) -> str:
        return _CITATION
