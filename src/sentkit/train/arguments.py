"""Training arguments: :class:`transformers.TrainingArguments` plus the sentence-transformers fields.

Every ``TrainingArguments`` option works as in Hugging Face (``output_dir``, ``num_train_epochs``,
``per_device_train_batch_size``, ``learning_rate``, ``warmup_steps``, ``gradient_accumulation_steps``,
``fp16``/``bf16``, ``eval_strategy``, ``save_steps``, ``load_best_model_at_end``,
``metric_for_best_model``, ``seed``, ``use_cpu``, ...). The added fields:

- ``prompts``: a str for every column; ``{column: prompt}``; ``{dataset: prompt}``; or
  ``{dataset: {column: prompt}}`` (the last two with a dict of datasets).
- ``batch_sampler``: a :class:`~sentkit.train.samplers.BatchSamplers` name (``"no_duplicates"``,
  ...), a sampler class or a factory with the sampler constructor.
- ``multi_dataset_batch_sampler``: ``"proportional"`` (default) or ``"round_robin"``, or a class.
- ``router_mapping``: ``{column: route}`` or ``{dataset: {column: route}}`` for models with a Router.
- ``learning_rate_mapping``: ``{parameter-name regex: learning rate}``.
- ``warmup_ratio``: kept for old scripts; stored into ``warmup_steps`` (a float below 1 is a ratio).

Dict fields also accept their JSON text (as from a command line).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from transformers import TrainingArguments
from transformers.training_args import ParallelMode

from sentkit.errors import ConfigurationError
from sentkit.train.samplers import BatchSamplers, MultiDatasetBatchSamplers

logger = logging.getLogger(__name__)

__all__ = [
    "BatchSamplers",
    "CrossEncoderTrainingArguments",
    "MultiDatasetBatchSamplers",
    "SentenceTransformerTrainingArguments",
    "SparseEncoderTrainingArguments",
]


@dataclass
class SentkitTrainingArguments(TrainingArguments):
    """The fields all three trainers add to :class:`transformers.TrainingArguments` (see the module docstring)."""

    # TrainingArguments parses these from JSON text when given on a command line.
    _VALID_DICT_FIELDS = [  # noqa: RUF012 - a class constant of TrainingArguments, extended
        *TrainingArguments._VALID_DICT_FIELDS,
        "prompts",
        "router_mapping",
        "learning_rate_mapping",
    ]

    # Union[...] (not X | Y): HfArgumentParser reads these annotations at run time.
    prompts: Union[str, dict[str, str], dict[str, dict[str, str]], None] = field(  # noqa: UP007
        default=None, metadata={"help": "Prompts per column, per dataset, or one for all."}
    )
    batch_sampler: Union[BatchSamplers, str, Callable[..., Any]] = field(  # noqa: UP007
        default=BatchSamplers.BATCH_SAMPLER, metadata={"help": "The batch sampler of one dataset."}
    )
    multi_dataset_batch_sampler: Union[MultiDatasetBatchSamplers, str, Callable[..., Any]] = field(  # noqa: UP007
        default=MultiDatasetBatchSamplers.PROPORTIONAL, metadata={"help": "How batches of several datasets mix."}
    )
    router_mapping: Union[str, dict[str, str], dict[str, dict[str, str]], None] = field(  # noqa: UP007
        default_factory=dict, metadata={"help": "Router route per column (or per dataset and column)."}
    )
    learning_rate_mapping: Union[str, dict[str, float], None] = field(  # noqa: UP007
        default_factory=dict, metadata={"help": "Learning rate per parameter-name regular expression."}
    )
    warmup_ratio: float | None = field(
        default=None, metadata={"help": "Old name: the warmup as a fraction of the steps; use warmup_steps."}
    )

    def __post_init__(self) -> None:
        if self.warmup_ratio is not None and not self.warmup_steps:
            self.warmup_steps = self.warmup_ratio
            self.warmup_ratio = None
        super().__post_init__()
        self.batch_sampler = _as_enum(self.batch_sampler, BatchSamplers, "batch_sampler")
        self.multi_dataset_batch_sampler = _as_enum(
            self.multi_dataset_batch_sampler, MultiDatasetBatchSamplers, "multi_dataset_batch_sampler"
        )
        if isinstance(self.prompts, str):
            # JSON text of a dict; any other text is the one prompt for every column.
            with contextlib.suppress(json.JSONDecodeError):
                self.prompts = json.loads(self.prompts)
        self.router_mapping = _as_dict(self.router_mapping, "router_mapping")
        self.learning_rate_mapping = _as_dict(self.learning_rate_mapping, "learning_rate_mapping")
        # The trainers compute the loss only; no logits are gathered during evaluation.
        self.prediction_loss_only = True
        # Broadcasting buffers breaks backward through BERT-like models under DDP (in-place update).
        self.ddp_broadcast_buffers = False
        if self.parallel_mode == ParallelMode.DISTRIBUTED and not self.dataloader_drop_last:
            logger.info("Distributed training: setting dataloader_drop_last=True so that no process waits.")
            self.dataloader_drop_last = True

    def to_dict(self) -> dict[str, Any]:
        values = super().to_dict()
        for name in ("batch_sampler", "multi_dataset_batch_sampler"):
            if callable(values.get(name)):
                values.pop(name)  # a class or function cannot go to JSON
        return values


@dataclass
class SentenceTransformerTrainingArguments(SentkitTrainingArguments):
    """Arguments of :class:`~sentkit.train.SentenceTransformerTrainer`."""


@dataclass
class CrossEncoderTrainingArguments(SentkitTrainingArguments):
    """Arguments of :class:`~sentkit.train.CrossEncoderTrainer`.

    A cross encoder reads each pair as one input, so ``prompts`` and ``router_mapping`` are one
    value or one value per dataset (``{dataset: prompt}``), never per column.
    """


@dataclass
class SparseEncoderTrainingArguments(SentkitTrainingArguments):
    """Arguments of :class:`~sentkit.train.SparseEncoderTrainer` (the same fields)."""


def _as_enum(value: Any, enum: Any, name: str) -> Any:
    if isinstance(value, str) and not isinstance(value, enum):
        try:
            return enum(value)
        except ValueError:
            allowed = [member.value for member in enum]
            raise ConfigurationError(
                f"{name}={value!r} is not known; use one of {allowed}, a sampler class or a factory."
            ) from None
    return value


def _as_dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"{name} must be a dict (or its JSON text); got {value!r}.")
    return parsed
