"""SparseEncoderTrainer: fine-tune a sparse (SPLADE) encoder on Hugging Face ``datasets``.

Batches are built as for the bi-encoder trainer. The usual loss is ``SpladeLoss`` wrapping a
ranking loss, with FLOPS regularisers on query and document weights; when the sparse losses
a ``SpladeLoss`` without a :class:`~sentkit.train.callbacks.SpladeRegularizerWeightSchedulerCallback`
gets one, so the regulariser weights warm up from 0 (as in the reference).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from torch import nn

from sentkit.train.arguments import SparseEncoderTrainingArguments
from sentkit.train.base_trainer import BaseTrainer
from sentkit.train.callbacks import SpladeRegularizerWeightSchedulerCallback
from sentkit.train.data import SparseEncoderDataCollator
from sentkit.train.registry import loss_class

logger = logging.getLogger(__name__)


class SparseEncoderTrainer(BaseTrainer):
    """Train a :class:`~sentkit.SparseEncoder`; the arguments are those of
    :class:`~sentkit.train.base_trainer.BaseTrainer`.

    Default loss: ``SpladeLoss(SparseMultipleNegativesRankingLoss)`` with query / document
    regulariser weights 5e-5 / 3e-5 (tune them for your data).
    """

    training_args_class: ClassVar[type] = SparseEncoderTrainingArguments
    data_collator_class: ClassVar[type] = SparseEncoderDataCollator

    def default_loss(self, model: nn.Module) -> nn.Module:
        ranking = loss_class("SparseMultipleNegativesRankingLoss", family="sparse")(model)
        return loss_class("SpladeLoss", family="sparse")(
            model=model, loss=ranking, query_regularizer_weight=5e-5, document_regularizer_weight=3e-5
        )

    def prepare_loss(self, loss: Any, model: nn.Module) -> nn.Module:
        module = super().prepare_loss(loss, model)
        if type(module).__name__ == "SpladeLoss":
            self._add_weight_scheduler(module)
        return module

    def _add_weight_scheduler(self, loss: nn.Module) -> None:
        """Add a regulariser warm-up callback for ``loss``, unless one is there."""
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, SpladeRegularizerWeightSchedulerCallback) and callback.loss is loss:
                return
        logger.info("SpladeLoss without a weight scheduler: adding one (regulariser weights warm up from 0).")
        # Right after the flow callback, so the weights are set before the step's loss.
        self.callback_handler.callbacks.insert(1, SpladeRegularizerWeightSchedulerCallback(loss))
