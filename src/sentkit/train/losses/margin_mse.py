"""MarginMSELoss: match a teacher's score margins (Hofstätter et al. 2021).

For a query, a positive and n negatives, the student's margin ``sim(q, p) - sim(q, n_k)`` should
equal the teacher's (usually a cross-encoder's); the loss is their mean squared error.

Requirements:
    (query, positive, negative_1, ..., negative_n) rows with teacher scores.

Inputs:
    ===============================================  ==================================================
    columns                                          labels
    ===============================================  ==================================================
    (query, positive, negative)                      (B,) teacher margin
    (query, positive, negative_1, ..., negative_n)   (B, n) teacher margins, or (B, n + 1) teacher
                                                     scores of the positive and each negative
    ===============================================  ==================================================

Example:
    >>> loss = MarginMSELoss(model)
    >>> margins = cross_encoder.predict(list(zip(q, p))) - cross_encoder.predict(list(zip(q, n)))
    >>> loss([model.tokenize(q), model.tokenize(p), model.tokenize(n)], torch.tensor(margins)).backward()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.errors import InputError
from sentkit.similarity import pairwise_dot_score
from sentkit.train.losses._shared import SimilarityFn, callable_name, embed_columns
from sentkit.train.registry import register_loss

_CITATION = """
@misc{hofstätter2021improving,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofstätter and Sophia Althammer and Michael Schröder and Mete Sertkan and Allan Hanbury},
    year={2021},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""


@register_loss("margin_mse", family="sentence")
class MarginMSELoss(nn.Module):
    """Margin distillation loss.

    Args:
        model: the SentenceTransformer to train.
        similarity_fct: (B, D), (B, D) -> (B,) pairwise scores; dot product by default.
    """

    def __init__(self, model: nn.Module, similarity_fct: SimilarityFn = pairwise_dot_score) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.loss_fct = nn.MSELoss()

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Scalar loss for (query, positive, negatives...) columns and teacher margins."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Scalar loss from per-column (B, D) embeddings.

        Raises:
            InputError: fewer than three columns, or labels of neither (B,), (B, n) nor (B, n + 1).
        """
        if len(embeddings) < 3 or labels is None:
            raise InputError("MarginMSELoss needs (query, positive, negative...) columns and teacher margins.")
        query, positive, negatives = embeddings[0], embeddings[1], embeddings[2:]
        batch, count = query.shape[0], len(negatives)
        if labels.shape == (batch, count + 1):
            labels = labels[:, :1] - labels[:, 1:]  # scores -> margins, (B, n)
        if labels.shape == (batch,):
            labels = labels.unsqueeze(1)  # (B, 1)
        if labels.shape != (batch, count):
            raise InputError(
                f"Labels of shape {tuple(labels.shape)} do not fit {count} negatives: pass (batch, {count}) "
                f"margins or (batch, {count + 1}) scores of the positive and each negative."
            )
        positive_scores = self.similarity_fct(query, positive)  # (B,)
        margins = torch.stack([positive_scores - self.similarity_fct(query, n) for n in negatives], dim=1)  # (B, n)
        return self.loss_fct(margins, labels.detach())

    def get_config_dict(self) -> dict[str, Any]:
        return {"similarity_fct": callable_name(self.similarity_fct)}

    @property
    def citation(self) -> str:
        return _CITATION
