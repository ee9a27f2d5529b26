"""CosineSimilarityLoss: regress the cosine of each pair onto its gold score.

``loss_fct(cos_score_transformation(cos(u, v)), label)``, by default the mean squared error
between the cosine of the two embeddings and the label.

Requirements:
    Sentence pairs with a float label, typically in [0, 1] or [-1, 1].

Inputs:
    ========================  ================
    columns                   labels
    ========================  ================
    (sentence_A, sentence_B)  float similarity
    ========================  ================

Example:
    >>> loss = CosineSimilarityLoss(model)
    >>> loss([model.tokenize(["A cat."]), model.tokenize(["A kitten."])], torch.tensor([0.8])).backward()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.train.losses._shared import embed_columns, flat_labels, full_class_name
from sentkit.train.registry import register_loss

# Stateless defaults, shared by every instance as the reference's default arguments are.
_MEAN_SQUARED_ERROR = nn.MSELoss()
_IDENTITY = nn.Identity()


@register_loss("cosine_similarity", family="sentence")
class CosineSimilarityLoss(nn.Module):
    """Regression of pair cosines onto labels.

    Args:
        model: the SentenceTransformer to train.
        loss_fct: (B,) predictions, (B,) labels -> scalar; mean squared error by default.
        cos_score_transformation: applied to the (B,) cosines first; identity by default.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fct: nn.Module = _MEAN_SQUARED_ERROR,
        cos_score_transformation: nn.Module = _IDENTITY,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss_fct = loss_fct
        self.cos_score_transformation = cos_score_transformation

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Scalar loss for two columns and (B,) labels."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Scalar loss from the (B, D) embeddings of the two columns.

        Raises:
            InputError: missing labels or a label count other than B.
        """
        labels = flat_labels(self, labels, embeddings[0].shape[0])  # (B,)
        cosines = torch.cosine_similarity(embeddings[0], embeddings[1])  # (B,)
        return self.loss_fct(self.cos_score_transformation(cosines), labels.float())

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "loss_fct": full_class_name(self.loss_fct),
            "cos_score_transformation": full_class_name(self.cos_score_transformation),
        }
