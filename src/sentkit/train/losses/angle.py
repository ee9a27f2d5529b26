"""AnglELoss: CoSENT on the angle similarity, which keeps gradients alive near cos = ±1.

The same pair ranking as :class:`CoSENTLoss`, but the score is ``|cos + sin|`` of the two
embeddings read as complex vectors (:func:`pairwise_angle_sim`), whose gradient does not vanish
where the cosine saturates.

Requirements:
    Sentence pairs with a float similarity label; or (anchor, positive, negatives...) rows, where
    the positive gets the label (1 when labels are None) and each negative gets 1 - label.

Inputs:
    ===============================================  ========================
    columns                                          labels
    ===============================================  ========================
    (sentence_A, sentence_B)                         float similarity
    (anchor, positive, negative_1, ..., negative_n)  none, or positive score
    ===============================================  ========================

Example:
    >>> loss = AnglELoss(model)
    >>> loss([model.tokenize(first), model.tokenize(second)], torch.tensor(gold_scores)).backward()
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sentkit.errors import InputError
from sentkit.similarity import pairwise_angle_sim
from sentkit.train.losses._shared import flat_labels
from sentkit.train.losses.cosent import CoSENTLoss
from sentkit.train.registry import register_loss

_CITATION = """
@inproceedings{li-li-2024-aoe,
    title = "{A}o{E}: Angle-optimized Embeddings for Semantic Textual Similarity",
    author = "Li, Xianming and Li, Jing",
    year = "2024",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2024.acl-long.101/",
    doi = "10.18653/v1/2024.acl-long.101"
}
"""


@register_loss("angle", family="sentence")
class AnglELoss(CoSENTLoss):
    """CoSENT ranking of angle similarities.

    Args:
        model: the SentenceTransformer to train.
        scale: multiplies the scores (1 / temperature).
    """

    def __init__(self, model: nn.Module, scale: float = 20.0) -> None:
        super().__init__(model, scale, similarity_fct=pairwise_angle_sim)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Scalar loss from per-column (B, D) embeddings; more than two columns become pairs.

        Raises:
            InputError: two columns without labels, or a label count other than B.
        """
        if len(embeddings) <= 2:
            if labels is None:
                raise InputError("AnglELoss needs labels for (sentence_A, sentence_B) pairs.")
            return super().compute_loss_from_embeddings(embeddings, labels)
        anchors, candidates = embeddings[0], embeddings[1:]
        if labels is None:
            labels = torch.ones(anchors.shape[0], device=anchors.device)
        labels = flat_labels(self, labels, anchors.shape[0])  # (B,)
        repeated = anchors.repeat(len(candidates), 1)  # (C * B, D), anchor per candidate
        stacked = torch.cat(candidates, dim=0)  # (C * B, D)
        pair_labels = torch.cat([labels, (1 - labels).repeat(len(candidates) - 1)])  # (C * B,)
        return super().compute_loss_from_embeddings([repeated, stacked], pair_labels)

    @property
    def citation(self) -> str:
        return _CITATION
