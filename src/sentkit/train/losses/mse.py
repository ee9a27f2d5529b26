"""MSELoss: distil a teacher's embeddings into the student (Reimers & Gurevych 2020).

The student's embedding of each text should equal a precomputed teacher embedding (the label):
the mean squared error per column, averaged over columns. Typical use: multilingual distillation,
where the English sentence and its translation both target the teacher's English embedding.
With ``projection_dim`` a trainable linear map takes the student's embeddings to the teacher's
size first.

Requirements:
    Texts and teacher embeddings computed beforehand (``teacher.encode(texts)``).

Inputs:
    ==============================  =====================================================
    columns                         labels
    ==============================  =====================================================
    (text,)                         (B, D_teacher) teacher embeddings
    (text_1, ..., text_n)           (B, D_teacher) shared, or (B, n, D_teacher) per column
    ==============================  =====================================================

Example:
    >>> loss = MSELoss(student)
    >>> targets = teacher.encode(english, convert_to_tensor=True)
    >>> loss([student.tokenize(english), student.tokenize(german)], targets).backward()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.errors import ConfigurationError, InputError
from sentkit.train.losses._shared import embed_columns
from sentkit.train.registry import register_loss

_CITATION = """
@inproceedings{reimers-2020-multilingual-sentence-bert,
    title = "Making Monolingual Sentence Embeddings Multilingual using Knowledge Distillation",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2020",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/2004.09813",
}
"""


@register_loss("mse", family="sentence")
class MSELoss(nn.Module):
    """Embedding regression onto teacher embeddings.

    Args:
        model: the SentenceTransformer (student) to train.
        projection_dim: if set, a trainable ``nn.Linear(D_student, projection_dim)`` is applied to
            the student's embeddings (for a teacher of another size).

    Raises:
        ConfigurationError: ``projection_dim`` set on a model whose embedding size is unknown.
    """

    def __init__(self, model: nn.Module, projection_dim: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.projection_dim = projection_dim
        self.projection: nn.Linear | None = None
        if projection_dim is not None:
            student_dim = model.get_embedding_dimension()  # type: ignore[operator]
            if student_dim is None:
                raise ConfigurationError("projection_dim needs a model whose embedding dimension is known.")
            self.projection = nn.Linear(student_dim, projection_dim, device=model.device)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Scalar loss; ``labels`` are (B, D) or (B, columns, D) teacher embeddings.

        Raises:
            InputError: no labels, or labels of another rank or column count.
        """
        if labels is None:
            raise InputError("MSELoss needs the teacher embeddings as labels; compute them with teacher.encode(...).")
        embeddings = embed_columns(self.model, sentence_features)
        return self.compute_loss_from_embeddings(embeddings, _per_column_targets(labels.detach(), len(embeddings)))

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], teacher_embeddings: list[Tensor]) -> Tensor:
        """Mean over columns of the MSE between student (B, D) and teacher (B, D) embeddings."""
        losses = []
        for student, teacher in zip(embeddings, teacher_embeddings, strict=True):
            if self.projection is not None:
                student = self.projection(student)  # (B, projection_dim)
            teacher = teacher.to(device=student.device, dtype=student.dtype)
            losses.append(nn.functional.mse_loss(student, teacher))
        return torch.stack(losses).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {"projection_dim": self.projection_dim}

    @property
    def citation(self) -> str:
        return _CITATION


def _per_column_targets(labels: Tensor, columns: int) -> list[Tensor]:
    """One (B, D) target per column from (B, D) (shared) or (B, columns, D) labels."""
    if labels.dim() == 2:
        return [labels] * columns
    if labels.dim() == 3:
        if labels.shape[1] != columns:
            raise InputError(
                f"Labels hold {labels.shape[1]} teacher columns for {columns} text columns; pass "
                f"(batch, {columns}, dim) labels, or (batch, dim) to share one target."
            )
        return list(labels.unbind(dim=1))
    raise InputError(f"Labels must be (batch, dim) or (batch, columns, dim) teacher embeddings, got {labels.dim()}-d.")
