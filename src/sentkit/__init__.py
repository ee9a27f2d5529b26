"""sentkit: sentence embeddings with the sentence-transformers API, faster and lighter.

``import sentkit`` is cheap: torch and transformers load on first use of a model class.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sentkit._version import __version__

if TYPE_CHECKING:
    from sentkit import errors, evaluation, losses, models, util
    from sentkit.apps.hard_negatives import mine_hard_negatives
    from sentkit.apps.keywords import KeyBERT
    from sentkit.encoders.cross_encoder import CrossEncoder
    from sentkit.encoders.multi_vector_encoder import MultiVectorEncoder
    from sentkit.encoders.onnx_encoder import OnnxEncoder
    from sentkit.encoders.sentence_transformer import SentenceTransformer
    from sentkit.encoders.sparse_encoder import SparseEncoder
    from sentkit.inference.onnx.reference_files import (
        export_dynamic_quantized_onnx_model,
        export_optimized_onnx_model,
    )
    from sentkit.inference.precision import quantize_embeddings
    from sentkit.io.model_card import (
        CrossEncoderModelCardData,
        SentenceTransformerModelCardData,
        SparseEncoderModelCardData,
    )
    from sentkit.logging_handler import LoggingHandler
    from sentkit.similarity import SimilarityFunction
    from sentkit.train import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
        InputExample,
        ParallelSentencesDataset,
        SentencesDataset,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        SparseEncoderTrainer,
        SparseEncoderTrainingArguments,
    )
    from sentkit.train.samplers import DefaultBatchSampler, MultiDatasetDefaultBatchSampler

__all__ = [
    "CrossEncoder",
    "CrossEncoderModelCardData",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
    "DefaultBatchSampler",
    "InputExample",
    "KeyBERT",
    "LoggingHandler",
    "MultiDatasetDefaultBatchSampler",
    "MultiVectorEncoder",
    "OnnxEncoder",
    "ParallelSentencesDataset",
    "SentenceTransformer",
    "SentenceTransformerModelCardData",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "SentencesDataset",
    "SimilarityFunction",
    "SparseEncoder",
    "SparseEncoderModelCardData",
    "SparseEncoderTrainer",
    "SparseEncoderTrainingArguments",
    "__version__",
    "errors",
    "evaluation",
    "export_dynamic_quantized_onnx_model",
    "export_optimized_onnx_model",
    "losses",
    "mine_hard_negatives",
    "models",
    "quantize_embeddings",
    "util",
]

# Public name -> module that defines it; imported on first access.
_LAZY = {
    "KeyBERT": "sentkit.apps.keywords",
    "mine_hard_negatives": "sentkit.apps.hard_negatives",
    "DefaultBatchSampler": "sentkit.train.samplers",
    "LoggingHandler": "sentkit.logging_handler",
    "MultiDatasetDefaultBatchSampler": "sentkit.train.samplers",
    "ParallelSentencesDataset": "sentkit.train",
    "SentencesDataset": "sentkit.train",
    "export_dynamic_quantized_onnx_model": "sentkit.inference.onnx.reference_files",
    "export_optimized_onnx_model": "sentkit.inference.onnx.reference_files",
    "quantize_embeddings": "sentkit.inference.precision",
    "CrossEncoderModelCardData": "sentkit.io.model_card",
    "SentenceTransformerModelCardData": "sentkit.io.model_card",
    "SparseEncoderModelCardData": "sentkit.io.model_card",
    "CrossEncoder": "sentkit.encoders.cross_encoder",
    "MultiVectorEncoder": "sentkit.encoders.multi_vector_encoder",
    "OnnxEncoder": "sentkit.encoders.onnx_encoder",
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
