"""Training: trainers, losses and evaluators (the ``train`` extra: ``pip install 'sentkit[train]'``).

Inference code never imports this package; ``SentenceTransformer.fit`` and the trainers load it
on first use. The names below load lazily, so ``import sentkit.train`` stays cheap.

Layout: ``losses`` (bi-encoder losses), ``cross_encoder_losses``, ``sparse_losses``,
``evaluation`` (evaluators for all three model families), and the trainers:
:class:`SentenceTransformerTrainer`, :class:`CrossEncoderTrainer`, :class:`SparseEncoderTrainer`
(built on Hugging Face's ``Trainer``, with their ``*TrainingArguments``), the data collators and
batch samplers they use, :class:`InputExample` for the classic ``model.fit(...)``, and the
callbacks that write the training log (CSV and PNG).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentkit.train.arguments import (
        CrossEncoderTrainingArguments,
        SentenceTransformerTrainingArguments,
        SparseEncoderTrainingArguments,
    )
    from sentkit.train.callbacks import SpladeRegularizerWeightSchedulerCallback, TrainingLogCallback
    from sentkit.train.cross_encoder_trainer import CrossEncoderTrainer
    from sentkit.train.data import (
        CrossEncoderDataCollator,
        InputExample,
        SentencesDataset,
        SentenceTransformerDataCollator,
        SparseEncoderDataCollator,
    )
    from sentkit.train.parallel_sentences import ParallelSentencesDataset
    from sentkit.train.samplers import BatchSamplers, MultiDatasetBatchSamplers
    from sentkit.train.sparse_trainer import SparseEncoderTrainer
    from sentkit.train.trainer import SentenceTransformerTrainer

# Public name -> module that defines it; imported on first access.
_LAZY = {
    "BatchSamplers": "sentkit.train.samplers",
    "CrossEncoderDataCollator": "sentkit.train.data",
    "CrossEncoderTrainer": "sentkit.train.cross_encoder_trainer",
    "CrossEncoderTrainingArguments": "sentkit.train.arguments",
    "InputExample": "sentkit.train.data",
    "MultiDatasetBatchSamplers": "sentkit.train.samplers",
    "ParallelSentencesDataset": "sentkit.train.parallel_sentences",
    "SentenceTransformerDataCollator": "sentkit.train.data",
    "SentencesDataset": "sentkit.train.data",
    "SentenceTransformerTrainer": "sentkit.train.trainer",
    "SentenceTransformerTrainingArguments": "sentkit.train.arguments",
    "SparseEncoderDataCollator": "sentkit.train.data",
    "SparseEncoderTrainer": "sentkit.train.sparse_trainer",
    "SparseEncoderTrainingArguments": "sentkit.train.arguments",
    "SpladeRegularizerWeightSchedulerCallback": "sentkit.train.callbacks",
    "TrainingLogCallback": "sentkit.train.callbacks",
}

__all__ = [
    "BatchSamplers",
    "CrossEncoderDataCollator",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
    "InputExample",
    "MultiDatasetBatchSamplers",
    "ParallelSentencesDataset",
    "SentenceTransformerDataCollator",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "SentencesDataset",
    "SparseEncoderDataCollator",
    "SparseEncoderTrainer",
    "SparseEncoderTrainingArguments",
    "SpladeRegularizerWeightSchedulerCallback",
    "TrainingLogCallback",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sentkit.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
