"""SentenceTransformerTrainer: fine-tune a bi-encoder on Hugging Face ``datasets``.

Example::

    from datasets import Dataset
    from sentkit import SentenceTransformer
    from sentkit.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentkit.train.losses import CoSENTLoss

    model = SentenceTransformer("all-MiniLM-L6-v2")
    data = Dataset.from_dict({"sentence1": [...], "sentence2": [...], "score": [...]})
    args = SentenceTransformerTrainingArguments(output_dir="out", num_train_epochs=1)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=CoSENTLoss(model)).train()
    model.save("out/final")
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from sentkit.train.arguments import SentenceTransformerTrainingArguments
from sentkit.train.base_trainer import BaseTrainer
from sentkit.train.data import SentenceTransformerDataCollator
from sentkit.train.registry import loss_class


class SentenceTransformerTrainer(BaseTrainer):
    """Train a :class:`~sentkit.SentenceTransformer`; the arguments are those of
    :class:`~sentkit.train.base_trainer.BaseTrainer`.

    Each batch gives the loss one features dict per text column, in dataset column order, and the
    label column as a tensor (``None`` without one). Default loss: ``CoSENTLoss``.
    """

    training_args_class: ClassVar[type] = SentenceTransformerTrainingArguments
    data_collator_class: ClassVar[type] = SentenceTransformerDataCollator

    def default_loss(self, model: nn.Module) -> nn.Module:
        return loss_class("CoSENTLoss", family="sentence")(model)
