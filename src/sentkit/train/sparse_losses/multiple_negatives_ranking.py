"""SparseMultipleNegativesRankingLoss: in-batch negatives (InfoNCE) on sparse embeddings, inside SpladeLoss."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from torch import Tensor, nn

from sentkit.errors import ConfigurationError
from sentkit.similarity import dot_score
from sentkit.train.losses._shared import SimilarityFn
from sentkit.train.losses.multiple_negatives_ranking import Direction, HardnessMode, MultipleNegativesRankingLoss
from sentkit.train.registry import register_loss


@register_loss("multiple_negatives_ranking", family="sparse")
class SparseMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """Each query must score its own positive above every other document of the batch (sparse embeddings).

    The bi-encoder :class:`~sentkit.train.losses.MultipleNegativesRankingLoss` with sparse
    defaults: dot product and ``scale=1``, since SPLADE weights are unnormalised. It scores
    embeddings that :class:`SpladeLoss` computes, and is not called on its own.

    Inputs: (anchor, positive) pairs or (anchor, positive, negative_1, ..., negative_n) rows.
    Labels: none.

    Args: those of :class:`~sentkit.train.losses.MultipleNegativesRankingLoss` (``scale``,
    ``similarity_fct``, ``gather_across_devices``, ``directions``, ``partition_mode``,
    ``hardness_mode``, ``hardness_strength``), with ``scale=1.0`` and ``similarity_fct=dot_score``.

    Example::

        loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), document_regularizer_weight=3e-5,
                          query_regularizer_weight=5e-5)
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 1.0,
        similarity_fct: SimilarityFn = dot_score,
        gather_across_devices: bool = False,
        directions: tuple[Direction, ...] = ("query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        hardness_mode: HardnessMode | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=directions,
            partition_mode=partition_mode,
            hardness_mode=hardness_mode,
            hardness_strength=hardness_strength,
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Not used alone.

        Raises:
            ConfigurationError: always; wrap the loss in :class:`SpladeLoss`.
        """
        raise ConfigurationError(
            "SparseMultipleNegativesRankingLoss is not used alone: wrap it, "
            "SpladeLoss(model, loss=SparseMultipleNegativesRankingLoss(model), document_regularizer_weight=...)."
        )
