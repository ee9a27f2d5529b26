"""SparseMSELoss: regress a SparseEncoder's embeddings onto a teacher's (e.g. for a new language)."""

from __future__ import annotations

from torch import Tensor, nn

from sentkit.train.losses.mse import MSELoss, _per_column_targets
from sentkit.train.registry import register_loss


@register_loss("mse", family="sparse")
class SparseMSELoss(MSELoss):
    """Mean squared error between the student's sparse embeddings and teacher embeddings given as labels.

    The bi-encoder :class:`~sentkit.train.losses.MSELoss` without a projection; unlike the other
    sparse losses it trains on its own (call it with the features of each column), and it also
    works inside :class:`SpladeLoss`.

    Inputs: one or more text columns. Labels: teacher embeddings, (B, V) shared by every column or
    (B, columns, V) one per column.

    Args:
        model: the :class:`sentkit.SparseEncoder` (student) to train.

    Example::

        labels = teacher.encode(english, convert_to_sparse_tensor=False)
        loss = SparseMSELoss(student)
        value = loss([student.tokenize(english), student.tokenize(french)], labels)
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], teacher_embeddings: list[Tensor] | Tensor
    ) -> Tensor:
        """Mean over columns of the MSE of (B, V) embeddings; targets as a list or as the label tensor."""
        if isinstance(teacher_embeddings, Tensor):  # the labels, as SpladeLoss passes them
            teacher_embeddings = _per_column_targets(teacher_embeddings.detach(), len(embeddings))
        return super().compute_loss_from_embeddings(embeddings, teacher_embeddings)
