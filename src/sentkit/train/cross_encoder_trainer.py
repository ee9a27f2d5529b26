"""CrossEncoderTrainer: fine-tune a reranker (a CrossEncoder) on Hugging Face ``datasets``.

Unlike the bi-encoder trainer, the batch keeps its texts: each loss receives the list of text
columns (``[queries, passages, ...]``, each a list of str) and the labels, pairs them up and
tokenizes them itself. A batch-wide ``prompt`` and ``task`` (from ``args.prompts`` and
``args.router_mapping``) are passed to losses that take them.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from torch import nn

from sentkit.errors import ConfigurationError
from sentkit.train.arguments import CrossEncoderTrainingArguments
from sentkit.train.base_trainer import BaseTrainer
from sentkit.train.data import CrossEncoderDataCollator
from sentkit.train.registry import loss_class


class CrossEncoderTrainer(BaseTrainer):
    """Train a :class:`~sentkit.CrossEncoder`; the arguments are those of
    :class:`~sentkit.train.base_trainer.BaseTrainer`.

    Default loss: ``BinaryCrossEntropyLoss`` for a model with one label, ``CrossEntropyLoss``
    otherwise.

    Raises:
        ConfigurationError: a streaming (Iterable) dataset, which this trainer does not take.
    """

    training_args_class: ClassVar[type] = CrossEncoderTrainingArguments
    data_collator_class: ClassVar[type] = CrossEncoderDataCollator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from datasets import IterableDataset

        for name in ("train_dataset", "eval_dataset"):
            data = kwargs.get(name)
            parts = data.values() if isinstance(data, dict) else [data]
            if any(isinstance(part, IterableDataset) for part in parts):
                raise ConfigurationError(f"CrossEncoderTrainer takes no IterableDataset as {name}; pass a Dataset.")
        super().__init__(*args, **kwargs)

    def default_collator(self, model: nn.Module, args: Any) -> Any:
        return CrossEncoderDataCollator(router_mapping=args.router_mapping, prompts=args.prompts)

    def default_loss(self, model: nn.Module) -> nn.Module:
        name = "BinaryCrossEntropyLoss" if getattr(model, "num_labels", 1) == 1 else "CrossEntropyLoss"
        return loss_class(name, family="cross")(model)

    def collect_features(self, inputs: dict[str, Any]) -> tuple[list[Any], Any]:
        """The text columns (lists of str, in column order) and the labels."""
        labels = inputs.pop("label", None)
        return list(inputs.values()), labels

    def call_loss(self, loss_fn: nn.Module, inputs: dict[str, Any]) -> Any:
        extras = {name: inputs.pop(name) for name in ("prompt", "task") if name in inputs}
        texts, labels = self.collect_features(inputs)
        accepted = self._accepted_keywords(loss_fn)
        return loss_fn(texts, labels, **{name: value for name, value in extras.items() if name in accepted})

    def _accepted_keywords(self, loss_fn: nn.Module) -> set[str]:
        key = id(loss_fn)
        if key not in self._loss_takes_kwargs:
            parameters = inspect.signature(loss_fn.forward).parameters
            takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
            self._loss_takes_kwargs[key] = {"prompt", "task"} if takes_any else set(parameters) & {"prompt", "task"}
        return self._loss_takes_kwargs[key]
