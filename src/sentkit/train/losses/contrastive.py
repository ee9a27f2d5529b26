"""ContrastiveLoss (Hadsell et al. 2006): pull similar pairs together, push others past a margin.

For a pair at distance d: ``0.5 * d**2`` if its label is 1, ``0.5 * relu(margin - d)**2`` if it
is 0. Labels in between weight the two terms (a warning says so once).

Requirements:
    Sentence pairs labelled 1 (similar) or 0 (dissimilar).

Inputs:
    ========================  ==============
    columns                   labels
    ========================  ==============
    (sentence_A, sentence_B)  1 or 0 (int)
    ========================  ==============

Example:
    >>> loss = ContrastiveLoss(model, distance_metric=SiameseDistanceMetric.EUCLIDEAN, margin=1.0)
    >>> loss([model.tokenize(first), model.tokenize(second)], torch.tensor([1, 0])).backward()
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from sentkit.train.losses._shared import embed_columns, flat_labels, member_name, require_columns
from sentkit.train.registry import register_loss

DistanceFn = Callable[[Tensor, Tensor], Tensor]

_CITATION = """
@inproceedings{hadsell2006dimensionality,
    author={Hadsell, R. and Chopra, S. and LeCun, Y.},
    booktitle={2006 IEEE Computer Society Conference on Computer Vision and Pattern Recognition (CVPR'06)},
    title={Dimensionality Reduction by Learning an Invariant Mapping},
    year={2006},
    volume={2},
    number={},
    pages={1735-1742},
    doi={10.1109/CVPR.2006.100}
}
"""


def _euclidean(x: Tensor, y: Tensor) -> Tensor:
    return F.pairwise_distance(x, y, p=2)  # (B,)


def _manhattan(x: Tensor, y: Tensor) -> Tensor:
    return F.pairwise_distance(x, y, p=1)  # (B,)


def _cosine_distance(x: Tensor, y: Tensor) -> Tensor:
    return 1 - F.cosine_similarity(x, y)  # (B,)


class SiameseDistanceMetric:
    """Pair distances for the contrastive losses: each maps (B, D), (B, D) to (B,)."""

    EUCLIDEAN = staticmethod(_euclidean)
    MANHATTAN = staticmethod(_manhattan)
    COSINE_DISTANCE = staticmethod(_cosine_distance)


def warn_non_binary(loss: nn.Module, labels: Tensor, consequence: str) -> None:
    """Warn (UserWarning, pointing at the code that called the loss) if ``labels`` hold anything but 0 and 1."""
    if labels.ne(0).logical_and(labels.ne(1)).any().item():
        # this function, compute_loss_from_embeddings, forward, two nn.Module call wrappers, the caller
        warnings.warn(f"{type(loss).__name__} expects labels 0 or 1; {consequence}", UserWarning, stacklevel=6)


@register_loss("contrastive", family="sentence")
class ContrastiveLoss(nn.Module):
    """Margin-based contrastive loss on pair distances.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: (B, D), (B, D) -> (B,) distances; cosine distance by default.
        margin: dissimilar pairs closer than this are pushed apart.
        size_average: mean over the batch (True) or sum.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: DistanceFn = SiameseDistanceMetric.COSINE_DISTANCE,
        margin: float = 0.5,
        size_average: bool = True,
    ) -> None:
        super().__init__()
        self.distance_metric = distance_metric
        self.margin = margin
        self.model = model
        self.size_average = size_average
        self._checked_labels = False

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Scalar loss for two columns and (B,) labels."""
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
            warn_non_binary(self, labels, "other values weight the two terms (label and 1 - label).")
        distances = self.distance_metric(embeddings[0], embeddings[1])  # (B,)
        similar = labels.float() * distances.pow(2)
        dissimilar = (1 - labels).float() * F.relu(self.margin - distances).pow(2)
        losses = 0.5 * (similar + dissimilar)  # (B,)
        return losses.mean() if self.size_average else losses.sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "distance_metric": member_name(self.distance_metric, SiameseDistanceMetric),
            "margin": self.margin,
            "size_average": self.size_average,
        }

    @property
    def citation(self) -> str:
        return _CITATION
