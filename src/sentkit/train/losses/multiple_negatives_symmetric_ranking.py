"""MultipleNegativesSymmetricRankingLoss: in-batch ranking in both directions, averaged.

Anchors rank the positives (as :class:`MultipleNegativesRankingLoss`) and positives rank the
anchors; each direction has its own softmax and the two log-partitions are averaged. It is
``MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"),
partition_mode="per_direction")``, kept under its older name; prefer that spelling in new code.

Requirements:
    (anchor, positive) pairs; the answer must find its question as well as the reverse.

Inputs:
    ==================  ========
    columns             labels
    ==================  ========
    (anchor, positive)  none
    ==================  ========

Example:
    >>> loss = MultipleNegativesSymmetricRankingLoss(model)
    >>> loss([model.tokenize(questions), model.tokenize(answers)], None).backward()
"""

from __future__ import annotations

from torch import nn

from sentkit.similarity import cos_sim
from sentkit.train.losses._shared import SimilarityFn
from sentkit.train.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from sentkit.train.registry import register_loss


@register_loss("mnsrl", family="sentence")
class MultipleNegativesSymmetricRankingLoss(MultipleNegativesRankingLoss):
    """Symmetric in-batch ranking loss; arguments as :class:`MultipleNegativesRankingLoss`."""

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: SimilarityFn = cos_sim,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
        )
