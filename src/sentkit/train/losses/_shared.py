"""Pieces every bi-encoder loss shares: embedding the input columns, label checks, names, gathering.

A loss receives one features dict per input column (anchor, positive, negatives...). The model
maps a features dict to one with ``"sentence_embedding"`` of shape (B, D).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentkit.errors import ConfigurationError, InputError

logger = logging.getLogger(__name__)

Features = dict[str, Any]
SimilarityFn = Callable[[Tensor, Tensor], Tensor]

# Keys whose value is metadata of the whole batch: equal columns share it rather than concatenate it.
_BATCH_METADATA_KEYS = ("prompt_length",)


# ------------------------------------------------------------------------------ embedding columns
def embed_columns(model: nn.Module, features_list: Iterable[Features], separate_first: bool = True) -> list[Tensor]:
    """One (B, D) sentence embedding tensor per input column, in column order.

    The anchor column runs on its own (it is often shorter: a query); the other columns share one
    forward pass when :func:`merge_columns` can pad them into one batch. Merging changes speed only:
    padded positions are masked, so the embeddings are the same.
    """
    columns = list(features_list)
    if separate_first and columns:
        first = model(columns[0])["sentence_embedding"]  # (B, D)
        return [first, *embed_columns(model, columns[1:], separate_first=False)]
    merged = merge_columns(columns) if len(columns) > 1 else None
    if merged is None:
        return [model(features)["sentence_embedding"] for features in columns]
    embeddings = model(merged)["sentence_embedding"]  # (C * B, D), column-major
    return list(embeddings.reshape(len(columns), -1, *embeddings.shape[1:]).unbind(0))  # C x (B, D)


def merge_columns(columns: list[Features]) -> Features | None:
    """The columns as one batch (column-major rows, token axes right-padded with 0), or None.

    None when the columns cannot be stacked safely: different keys, a tensor whose first axis is
    not the batch, float tensors of different widths, or plain values that differ.
    """
    first = columns[0]
    if any(set(features) != set(first) for features in columns[1:]) or "cu_seq_lens_q" in first:
        return None
    ids = first.get("input_ids", first.get("attention_mask"))
    if not isinstance(ids, Tensor) or ids.dim() != 2:
        return None
    rows = ids.shape[0]
    merged: Features = {}
    for key, value in first.items():
        values = [features[key] for features in columns]
        if isinstance(value, Tensor) and key not in _BATCH_METADATA_KEYS:
            stacked = _stack_rows(values, rows)
            if stacked is None:
                return None
            merged[key] = stacked
        elif all(_same_value(other, value) for other in values[1:]):
            merged[key] = value
        else:
            return None
    return merged


def _stack_rows(values: list[Any], rows: int) -> Tensor | None:
    """Concatenate per-column (B, T, ...) tensors along B, right-padding T with zeros; None if unsafe."""
    first = values[0]
    if any(not isinstance(v, Tensor) or v.dim() != first.dim() or v.dim() == 0 or v.shape[0] != rows for v in values):
        return None
    if first.dim() >= 2:
        if any(v.shape[2:] != first.shape[2:] for v in values):
            return None
        width = max(v.shape[1] for v in values)
        if any(v.shape[1] != width for v in values):
            if first.is_floating_point() or first.is_complex():
                return None  # only token ids and masks pad safely (padding carries attention 0)
            values = [F.pad(v, [0, 0] * (v.dim() - 2) + [0, width - v.shape[1]]) for v in values]
    return torch.cat(values, dim=0)


def _same_value(a: Any, b: Any) -> bool:
    try:
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            return isinstance(a, Tensor) and isinstance(b, Tensor) and torch.equal(a, b)
        return bool(a == b)
    except (RuntimeError, ValueError, TypeError):
        return False


# ---------------------------------------------------------------------------------------- labels
def flat_labels(loss: nn.Module, labels: Tensor | None, batch_size: int) -> Tensor:
    """``labels`` as a (B,) tensor, one per example.

    Raises:
        InputError: no labels, or a count other than ``batch_size``.
    """
    name = type(loss).__name__
    if labels is None:
        raise InputError(f"{name} needs one label per example; got labels=None. Add a 'label' or 'score' column.")
    if labels.numel() != batch_size:
        raise InputError(
            f"{name} expects {batch_size} labels (one per example), got {labels.numel()} "
            f"with shape {tuple(labels.shape)}."
        )
    return labels.view(-1)


def require_columns(loss: nn.Module, embeddings: list[Tensor], allowed: tuple[int, ...]) -> None:
    """Raise InputError unless the number of input columns is one of ``allowed``."""
    if len(embeddings) not in allowed:
        expected = " or ".join(str(count) for count in allowed)
        raise InputError(
            f"{type(loss).__name__} takes {expected} input columns, got {len(embeddings)}. "
            "Check the dataset's text columns (the label column is not a text column)."
        )


# ----------------------------------------------------------------------------------------- names
def callable_name(fn: Any) -> str:
    """A readable name for a similarity or distance callable (``cos_sim``, ``dot_score(x=1)``)."""
    if isinstance(fn, functools.partial):
        inner = getattr(fn.func, "__name__", type(fn.func).__name__)
        arguments = ", ".join(f"{key}={value!r}" for key, value in fn.keywords.items())
        return f"{inner}({arguments})" if arguments else inner
    return str(getattr(fn, "__name__", type(fn).__name__))


def member_name(fn: Any, namespace: type) -> str:
    """``"Namespace.MEMBER"`` when ``fn`` is one of the callables ``namespace`` lists, else its name."""
    for name, value in vars(namespace).items():
        member = value.__func__ if isinstance(value, staticmethod) else value
        if not name.startswith("_") and member is fn:
            return f"{namespace.__name__}.{name}"
    return callable_name(fn)


def full_class_name(obj: Any) -> str:
    """``module.Class`` of ``obj`` (an instance or a class)."""
    cls = obj if inspect.isclass(obj) else type(obj)
    module = cls.__module__
    return cls.__name__ if module in (None, "builtins") else f"{module}.{cls.__name__}"


# ------------------------------------------------------------------------------------ distributed
def gather_with_grad(tensor: Tensor) -> Tensor:
    """All ranks' (B, ...) tensors concatenated to (world * B, ...), gradients flowing back.

    Without an initialised process group this is the tensor itself (single-process training).
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return tensor
    from torch.distributed import nn as distributed_nn

    return torch.cat(distributed_nn.all_gather(tensor), dim=0)


def process_rank() -> int:
    """This process's rank in the process group, 0 when not distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_rank())
    return 0


# ----------------------------------------------------------------------------------------- model
def first_module(model: nn.Module) -> nn.Module:
    """The model's first building block (its input module), ``model`` itself if it is not a sequence."""
    model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
    return model[0] if isinstance(model, nn.Sequential) and len(model) else model


def has_static_embedding_input(model: nn.Module) -> bool:
    """True when the model's input module is a StaticEmbedding (directly or as a Router route)."""
    from sentkit.modules.router import Router
    from sentkit.modules.static_embedding import StaticEmbedding

    first = first_module(model)
    if isinstance(first, Router):
        return any(isinstance(route[0], StaticEmbedding) for route in first.routes().values() if route)
    return isinstance(first, StaticEmbedding)


def check_positive(name: str, value: float) -> None:
    """Raise ConfigurationError unless ``value`` > 0."""
    if not value > 0:
        raise ConfigurationError(f"{name} must be a positive number, got {value!r}.")
