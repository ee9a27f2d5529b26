"""sentkit: sentence embeddings with the sentence-transformers API, faster and lighter.

``import sentkit`` is cheap: torch and transformers load on first use of a model class.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sentkit._version import __version__

if TYPE_CHECKING:
    from sentkit import errors, evaluation, losses, models, util
    from sentkit.apps.keywords import KeyBERT
    from sentkit.encoders.cross_encoder import CrossEncoder
    from sentkit.encoders.sentence_transformer import SentenceTransformer
    from sentkit.encoders.sparse_encoder import SparseEncoder
    from sentkit.inference.onnx.encoder import OnnxEncoder
    from sentkit.similarity import SimilarityFunction
    from sentkit.train import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
        InputExample,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        SparseEncoderTrainer,
        SparseEncoderTrainingArguments,
    )

__all__ = [
    "CrossEncoder",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
    "InputExample",
    "KeyBERT",
    "OnnxEncoder",
    "SentenceTransformer",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "SimilarityFunction",
    "SparseEncoder",
    "SparseEncoderTrainer",
    "SparseEncoderTrainingArguments",
    "__version__",
    "errors",
    "evaluation",
    "losses",
    "models",
    "util",
]

# Public name -> module that defines it; imported on first access.
_LAZY = {
    "KeyBERT": "sentkit.apps.keywords",
    "CrossEncoder": "sentkit.encoders.cross_encoder",
    "OnnxEncoder": "sentkit.inference.onnx.encoder",
    "SentenceTransformer": "sentkit.encoders.sentence_transformer",
    "SimilarityFunction": "sentkit.similarity",
    "SparseEncoder": "sentkit.encoders.sparse_encoder",
    "errors": "sentkit.errors",
    "evaluation": "sentkit.evaluation",
    "losses": "sentkit.losses",
    "CrossEncoderTrainer": "sentkit.train",
    "CrossEncoderTrainingArguments": "sentkit.train",
    "InputExample": "sentkit.train",
    "SentenceTransformerTrainer": "sentkit.train",
    "SentenceTransformerTrainingArguments": "sentkit.train",
    "SparseEncoderTrainer": "sentkit.train",
    "SparseEncoderTrainingArguments": "sentkit.train",
    "models": "sentkit.models",
    "util": "sentkit.util",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sentkit' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith(f".{name}") else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
