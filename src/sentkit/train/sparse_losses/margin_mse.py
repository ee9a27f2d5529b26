"""SparseMarginMSELoss: margin distillation on sparse embeddings, inside SpladeLoss."""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

from sentkit.errors import ConfigurationError
from sentkit.similarity import pairwise_dot_score
from sentkit.train.losses._shared import SimilarityFn
from sentkit.train.losses.margin_mse import MarginMSELoss
from sentkit.train.registry import register_loss


@register_loss("margin_mse", family="sparse")
class SparseMarginMSELoss(MarginMSELoss):
    """MSE between the student's ``sim(q, d1) - sim(q, d_i)`` and the teacher's margin, on sparse embeddings.

    The bi-encoder :class:`~sentkit.train.losses.MarginMSELoss` (dot product by default), scoring
    embeddings that :class:`SpladeLoss` computes; it is not called on its own. Neither document
    has to be relevant: only the margin is learned (Hofstätter et al., https://arxiv.org/abs/2010.02666).

    Inputs: (query, document_1, document_2, ..., document_n), n >= 2. Labels per row: the n-1
    teacher margins ``M(q, d1) - M(q, d_i)`` (one float for n = 2) or the n teacher scores.

    Args:
        model: the :class:`sentkit.SparseEncoder` to train.
        similarity_fct: (B, V), (B, V) -> (B,) pairwise scores; dot product by default.

    Example::

        margins = teacher.similarity_pairwise(q, d1) - teacher.similarity_pairwise(q, d2)
        loss = SpladeLoss(model, SparseMarginMSELoss(model), document_regularizer_weight=3e-5,
                          query_regularizer_weight=5e-5)
    """

    def __init__(self, model: nn.Module, similarity_fct: SimilarityFn = pairwise_dot_score) -> None:
        super().__init__(model, similarity_fct=similarity_fct)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Not used alone.

        Raises:
            ConfigurationError: always; wrap the loss in :class:`SpladeLoss`.
        """
        raise ConfigurationError(
            "SparseMarginMSELoss is not used alone: wrap it, "
            "SpladeLoss(model, loss=SparseMarginMSELoss(model), document_regularizer_weight=...)."
        )
