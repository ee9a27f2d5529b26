"""Checks on what users pass to ``CrossEncoder``: every item a (text, text) pair, older keyword names."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from sentkit.errors import InputError, InputTypeError

logger = logging.getLogger(__name__)

Pair = tuple[str, str]

# Older keyword names of the constructor -> current ones.
LEGACY_INIT_NAMES = {
    "automodel_args": "model_kwargs",
    "tokenizer_args": "tokenizer_kwargs",
    "config_args": "config_kwargs",
    "cache_dir": "cache_folder",
    "default_activation_function": "activation_fn",
}


def as_pair_list(inputs: Any) -> tuple[list[Pair], bool]:
    """Return ``(pairs, is_single)`` for one pair or a collection of pairs.

    As in the reference, a list or tuple whose first item is not itself a list or tuple is one
    pair; a 1-D numpy array is one pair and a 2-D one a batch.

    Raises:
        InputTypeError: an item that is not a pair, or a pair part that is not a str (the message
            names the item's index and what it holds).
        InputError: an item with other than two parts.
    """
    if isinstance(inputs, np.ndarray):
        inputs = inputs.tolist()
    if isinstance(inputs, (list, tuple)):
        is_single = len(inputs) > 0 and not isinstance(inputs[0], (list, tuple))
    elif isinstance(inputs, Iterable) and not isinstance(inputs, (str, bytes, bytearray, dict)):
        inputs, is_single = list(inputs), False
    else:
        is_single = True
    items = [inputs] if is_single else list(inputs)
    return [_check_pair(index, item) for index, item in enumerate(items)], is_single


def _check_pair(index: int, item: Any) -> Pair:
    if not isinstance(item, (list, tuple)):
        raise InputTypeError(
            f"Input at index {index} is {type(item).__name__} ({_preview(item)}); every input must be a "
            "(text, text) pair such as (query, passage)."
        )
    if len(item) != 2:
        raise InputError(
            f"Input at index {index} has {len(item)} parts ({_preview(item)}); a pair has exactly 2: (text, text)."
        )
    for position, part in enumerate(item):
        if not isinstance(part, str):
            raise InputTypeError(
                f"Input at index {index} holds {type(part).__name__} ({_preview(part)}) at position {position}; "
                "both parts of a pair must be str."
            )
    return item[0], item[1]


def check_top_k(top_k: Any) -> int | None:
    """``top_k`` for ranking: None (all) or a positive int.

    Raises:
        InputError: zero, a negative number, or not an int.
    """
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k <= 0:
        raise InputError(f"top_k must be a positive int or None (all documents), got {top_k!r}.")
    return int(top_k)


def _preview(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 60 else text[:57] + "..."


def rename_legacy_arguments(legacy: dict[str, Any]) -> dict[str, Any]:
    """Older constructor keywords under their current names (``classifier_dropout`` into ``config_kwargs``)."""
    renamed = {LEGACY_INIT_NAMES.get(name, name): value for name, value in legacy.items()}
    if "classifier_dropout" in renamed:
        renamed["config_kwargs"] = {
            **renamed.get("config_kwargs", {}),
            "classifier_dropout": renamed.pop("classifier_dropout"),
        }
    return renamed


def legacy_call_arguments(method: str, kwargs: dict[str, Any], activation_fn: Any) -> Any:
    """Take older keywords out of ``kwargs`` (``activation_fct``; ignored ones with a warning); return the activation.

    Raises:
        InputError: any other keyword.
    """
    ignored = (
        ("num_workers",)
        if method == "predict"
        else ("num_workers", "apply_softmax", "convert_to_numpy", "convert_to_tensor")
    )
    for name in ignored:
        if name in kwargs:
            kwargs.pop(name)
            logger.warning("CrossEncoder.%s: %s has no effect and is ignored.", method, name)
    legacy_activation = kwargs.pop("activation_fct", None)
    if kwargs:
        raise InputError(f"{method}() got unexpected keyword arguments {sorted(kwargs)}.")
    return activation_fn if activation_fn is not None else legacy_activation
