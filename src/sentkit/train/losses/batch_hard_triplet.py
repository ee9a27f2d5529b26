"""BatchHardTripletLoss: triplets mined inside the batch from class labels, hardest ones only.

Every text is an anchor. Its hardest positive is the farthest text with the same label, its
hardest negative the closest text with another label; the loss is
``relu(d(anchor, hardest positive) - d(anchor, hardest negative) + margin)`` averaged over anchors
(Hermans et al. 2017). This file also holds the distance matrices and masks that the other
batch triplet losses share.

Requirements:
    One text per row with an integer class label; each batch needs at least two texts of a
    label (use a sampler that groups labels) and at least two labels.

Inputs:
    =========  ===========
    columns    labels
    =========  ===========
    (text,)    class (int)
    =========  ===========

Example:
    >>> loss = BatchHardTripletLoss(model, margin=5)
    >>> loss([model.tokenize(texts)], torch.tensor(class_ids)).backward()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.similarity import cos_sim
from sentkit.train.losses._shared import callable_name, flat_labels
from sentkit.train.registry import register_loss

DistanceMatrixFn = Callable[[Tensor], Tensor]

CITATION = """
@misc{hermans2017defense,
    title={In Defense of the Triplet Loss for Person Re-Identification},
    author={Alexander Hermans and Lucas Beyer and Bastian Leibe},
    year={2017},
    eprint={1703.07737},
    archivePrefix={arXiv},
    primaryClass={cs.CV}
}
"""


def cosine_distance(embeddings: Tensor) -> Tensor:
    """(B, B) ``1 - cos`` between the rows of (B, D) ``embeddings``."""
    return 1 - cos_sim(embeddings, embeddings)


def euclidean_distance(embeddings: Tensor, squared: bool = False) -> Tensor:
    """(B, B) euclidean (or squared) distances between the rows of (B, D) ``embeddings``.

    From ``|a|^2 - 2 a.b + |b|^2``; the diagonal is exactly 0 and has a zero (not NaN) gradient.
    """
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        dots = embeddings @ embeddings.T  # (B, B)
    norms = torch.diag(dots)  # (B,) squared lengths
    distances = (norms.unsqueeze(0) - 2.0 * dots + norms.unsqueeze(1)).clamp(min=0)  # (B, B)
    if squared:
        return distances
    zero = distances.eq(0).float()  # sqrt has an infinite gradient at 0: nudge, then zero it out
    return (1.0 - zero) * torch.sqrt(distances + zero * 1e-16)


class BatchHardTripletLossDistanceFunction:
    """Distance matrices for the batch triplet losses: (B, D) embeddings to (B, B) distances."""

    cosine_distance = staticmethod(cosine_distance)
    euclidean_distance = staticmethod(euclidean_distance)
    eucledian_distance = staticmethod(euclidean_distance)  # the reference's older spelling


def anchor_positive_mask(labels: Tensor) -> Tensor:
    """(B, B) True where i != j and label i == label j."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)  # (B, B)
    return same & ~torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)


def anchor_negative_mask(labels: Tensor) -> Tensor:
    """(B, B) True where label i != label j."""
    return labels.unsqueeze(0) != labels.unsqueeze(1)


def hardest_gap(distances: Tensor, labels: Tensor) -> Tensor:
    """(B, 1) d(anchor, farthest positive) - d(anchor, closest negative) per anchor."""
    positives = anchor_positive_mask(labels).float() * distances  # (B, B), 0 off the positives
    hardest_positive = positives.max(dim=1, keepdim=True).values  # (B, 1)
    row_max = distances.max(dim=1, keepdim=True).values  # (B, 1)
    # Same-label entries are lifted by the row's maximum so they never win the minimum.
    negatives = distances + row_max * (1.0 - anchor_negative_mask(labels).float())  # (B, B)
    hardest_negative = negatives.min(dim=1, keepdim=True).values  # (B, 1)
    return hardest_positive - hardest_negative


class LabelledBatchLoss(nn.Module):
    """Base of the losses that embed one column and mine triplets from its class labels."""

    def __init__(self, model: nn.Module, distance_metric: DistanceMatrixFn) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = distance_metric

    @property
    def sentence_embedder(self) -> nn.Module:
        """The model (the reference's attribute name)."""
        return self.model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Scalar loss; only the first column is used, with (B,) class labels."""
        first = next(iter(sentence_features))
        return self.compute_loss_from_embeddings([self.model(first)["sentence_embedding"]], labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Scalar loss from the (B, D) embeddings of the first column and (B,) labels."""
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": callable_name(self.distance_metric)}

    @property
    def citation(self) -> str:
        return CITATION


@register_loss("batch_hard_triplet", family="sentence")
class BatchHardTripletLoss(LabelledBatchLoss):
    """Hardest-positive / hardest-negative triplet loss.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: (B, D) -> (B, B) distances; euclidean by default.
        margin: how much closer the hardest positive must be than the hardest negative.

    Raises:
        InputError (from forward): missing labels or a label count other than the batch size.
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
        gaps = hardest_gap(self.distance_metric(embeddings[0]), labels) + self.triplet_margin  # (B, 1)
        return gaps.clamp(min=0).mean()

    # The reference's static helpers, kept for code that calls them.
    get_anchor_positive_triplet_mask = staticmethod(anchor_positive_mask)
    get_anchor_negative_triplet_mask = staticmethod(anchor_negative_mask)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "margin": self.triplet_margin}
