"""Model folders of cross encoders and sparse encoders, read and written in the reference's format.

These models hold a Transformer with a task head. sentence-transformers 6 saves it under the plain
``Transformer`` type with ``transformer_task`` in ``sentence_bert_config.json``; older sparse
folders name an ``MLMTransformer``. ``Transformer.load`` maps both to sentkit's task modules, and
each module saves under the type string the reference resolves (``reference_type``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentkit.encoders.folders import load_modules
from sentkit.errors import ModelFormatError
from sentkit.io.files import read_json_object
from sentkit.io.layouts import HUGGING_FACE, SENTENCE_TRANSFORMERS, check_not_damaged
from sentkit.modules import LoadOptions, Module
from sentkit.modules.classifier_transformer import ClassifierTransformer
from sentkit.modules.mlm_transformer import MLMTransformer
from sentkit.modules.splade_pooling import SpladePooling
from sentkit.modules.task_transformer import TaskTransformer


def read_model_settings(folder: Path) -> dict[str, Any]:
    """``config_sentence_transformers.json`` of a sentence-transformers folder ({} when absent)."""
    return SENTENCE_TRANSFORMERS.read_settings(folder) if SENTENCE_TRANSFORMERS.matches(folder) else {}


def saved_model_type(folder: Path) -> str | None:
    """The model type a folder was saved as (``CrossEncoder``, ``SparseEncoder``, ...); None for plain HF folders.

    sentence-transformers folders without a ``model_type`` are SentenceTransformer models.
    """
    if not SENTENCE_TRANSFORMERS.matches(folder):
        return None
    return str(read_model_settings(folder).get("model_type", "SentenceTransformer"))


def load_cross_encoder(folder: Path, options: LoadOptions) -> tuple[list[Module], dict[str, Any]]:
    """The modules and settings of a CrossEncoder folder, or of a plain sequence-classification checkpoint.

    A sentence-transformers folder of another model type is read, as by the reference, as the
    Hugging Face checkpoint at its root.

    Raises:
        ModelFormatError: a folder in neither form, a causal-LM reranker, or other modules.
    """
    if saved_model_type(folder) == "CrossEncoder":
        modules = load_modules(folder, options)
        if len(modules) != 1 or not isinstance(modules[0], ClassifierTransformer):
            names = [type(module).__name__ for module in modules]
            raise ModelFormatError(
                f"{folder} is a CrossEncoder made of {names}; sentkit runs CrossEncoders made of one "
                "sequence-classification Transformer."
            )
        return modules, read_model_settings(folder)
    check_not_damaged(folder, strict=options.verify)
    architectures = _architectures(folder, "CrossEncoder")
    if architectures and architectures[0].endswith("ForCausalLM"):
        raise ModelFormatError(
            f"{folder} is a causal language model ({architectures[0]}); rerankers that score with the "
            "logits of 'yes'/'no' tokens are not supported by sentkit yet."
        )
    return [_task_transformer(ClassifierTransformer, folder, options)], {}


def load_sparse_encoder(folder: Path, options: LoadOptions) -> tuple[list[Module], dict[str, Any]]:
    """The modules and settings of a SparseEncoder folder, or SPLADE (max pooling) on a masked-LM checkpoint.

    Raises:
        ModelFormatError: a dense model (making it sparse needs a SparseAutoEncoder, not supported),
            or a checkpoint without a masked-LM head.
    """
    model_type = saved_model_type(folder)
    if model_type == "SparseEncoder":
        return load_modules(folder, options), read_model_settings(folder)
    if model_type == "SentenceTransformer":
        raise ModelFormatError(
            f"{folder} is a dense SentenceTransformer; making it sparse needs a SparseAutoEncoder (CSR), "
            "which sentkit does not support. Load it with sentkit.SentenceTransformer."
        )
    check_not_damaged(folder, strict=options.verify)
    architectures = _architectures(folder, "SparseEncoder")
    if not any(name.endswith("ForMaskedLM") for name in architectures):
        raise ModelFormatError(
            f"{folder} is not a masked language model (architectures {architectures}); SPLADE needs a "
            "*ForMaskedLM checkpoint. CSR sparse models on dense encoders are not supported."
        )
    return [_task_transformer(MLMTransformer, folder, options), SpladePooling("max")], {}


def _architectures(folder: Path, model_type: str) -> list[str]:
    if not HUGGING_FACE.matches(folder):
        raise ModelFormatError(f"{folder} has neither a {model_type} modules.json nor a Hugging Face config.json.")
    return [str(name) for name in read_json_object(folder / HUGGING_FACE.marker).get("architectures") or []]


def _task_transformer(cls: type[TaskTransformer], folder: Path, options: LoadOptions) -> TaskTransformer:
    return cls(
        folder,
        model_kwargs=options.model_kwargs,
        tokenizer_kwargs=options.tokenizer_kwargs,
        config_kwargs=options.config_kwargs,
        trust_remote_code=options.trust_remote_code,
        backend=options.backend,
    )
