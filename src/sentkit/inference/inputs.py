"""Checks on what users pass to ``encode``: every item a text, with errors that name the item."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from sentkit.errors import InputError, InputTypeError


def as_text_list(inputs: Any) -> tuple[list[str], bool]:
    """Return ``(texts, is_single)`` for one text or a collection of texts.

    Raises:
        InputTypeError: ``inputs`` is neither a text nor an iterable of texts, or an item is not a
            ``str`` (the message names its index and type).
    """
    if isinstance(inputs, str):
        return [inputs], True
    if isinstance(inputs, (bytes, bytearray, dict)) or not isinstance(inputs, Iterable):
        raise InputTypeError(
            f"encode takes a str or a list of str, got {type(inputs).__name__}. "
            "Decode bytes first (data.decode('utf-8'))."
        )
    texts = inputs.tolist() if isinstance(inputs, np.ndarray) else list(inputs)
    for index, item in enumerate(texts):
        if not isinstance(item, str):
            raise InputTypeError(
                f"Input at index {index} is {type(item).__name__} ({_preview(item)}); every input must be a str. "
                "Convert or drop it before encoding."
            )
    return texts, False


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise InputError(f"batch_size must be a positive int, got {batch_size!r}.")
    return batch_size


def _preview(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 40 else text[:37] + "..."
