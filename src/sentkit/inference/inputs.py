"""Checks on what users pass to ``encode``: every item a text, with errors that name the item."""

from __future__ import annotations

import operator
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sentkit.errors import ConfigurationError, ContentlessInputWarning, InputError, InputTypeError

EMPTY_POLICIES = ("keep", "warn", "error")
_PACKAGE_FOLDER = str(Path(__file__).resolve().parents[1])  # .../sentkit
# Unicode categories with no visible content: controls (Cc) and format characters such as zero-width
# spaces and joiners, the byte order mark and soft hyphens (Cf).
_INVISIBLE = frozenset({"Cc", "Cf"})


def as_text_list(inputs: Any, modalities: Sequence[str] = ("text",)) -> tuple[list[Any], bool]:
    """Return ``(texts, is_single)`` for one input or a collection of inputs.

    Inputs are texts (``str``), and PIL images when ``modalities`` (the model's) holds ``"image"``.

    Raises:
        InputTypeError: ``inputs`` is neither an input nor an iterable of inputs, or an item is of
            another type, or an image for a text-only model (the message names its index and type).
    """
    if isinstance(inputs, str):
        return [inputs], True
    if is_image(inputs):
        _check_item(inputs, 0, modalities)
        return [inputs], True
    if isinstance(inputs, (bytes, bytearray, dict)) or not isinstance(inputs, Iterable):
        raise InputTypeError(
            f"encode takes a str or a list of str, got {type(inputs).__name__}. "
            "Decode bytes first (data.decode('utf-8'))."
        )
    texts = inputs.tolist() if isinstance(inputs, np.ndarray) else list(inputs)
    for index, item in enumerate(texts):
        if not isinstance(item, str):
            _check_item(item, index, modalities)
    return texts, False


def is_image(item: Any) -> bool:
    """Whether ``item`` is a PIL image (Pillow is not imported: without it, nothing is one)."""
    module = sys.modules.get("PIL.Image")
    return module is not None and isinstance(item, module.Image)


def _check_item(item: Any, index: int, modalities: Sequence[str]) -> None:
    """Raise :class:`InputTypeError` for an input item other than a text or, for image models, a PIL image."""
    if is_image(item):
        if "image" in modalities:
            return
        raise InputTypeError(
            f"Input at index {index} is an image ({type(item).__name__}); this model takes text only. "
            "Encode images with an image model such as CLIPModel, or pass the image's caption."
        )
    allowed = "a str or a PIL image" if "image" in modalities else "a str"
    hint = " (PIL.Image.open(path) or PIL.Image.fromarray(array) for images)" if "image" in modalities else ""
    raise InputTypeError(
        f"Input at index {index} is {type(item).__name__} ({_preview(item)}); every input must be {allowed}. "
        f"Convert{hint} or drop it before encoding."
    )


def split_task_inputs(inputs: Any, task: str | None) -> tuple[Any, str | None]:
    """Turn inputs written as ``{task: text}`` (the Asym convention) into texts and one task.

    Inputs that are not dicts pass through unchanged with ``task``.

    Raises:
        InputError: dicts with other than one key, keys that differ within the batch, or a key that
            contradicts ``task``.
    """
    if isinstance(inputs, dict):
        inputs = [inputs]
        single = True
    elif isinstance(inputs, (list, tuple)) and inputs and all(isinstance(item, dict) for item in inputs):
        single = False
    else:
        return inputs, task
    keys = []
    for index, item in enumerate(inputs):
        if len(item) != 1:
            raise InputError(f"Input at index {index} has keys {list(item)}; write each input as {{route: text}}.")
        keys.append(next(iter(item)))
    if len(set(keys)) > 1:
        raise InputError(
            f"The inputs mix the routes {sorted(set(keys))}; one encode call takes one route. "
            "Encode each route's inputs in its own call."
        )
    if task is not None and task != keys[0]:
        raise InputError(f"task={task!r} contradicts the inputs' route {keys[0]!r}.")
    texts = [next(iter(item.values())) for item in inputs]
    return (texts[0] if single else texts), keys[0]


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise InputError(f"batch_size must be a positive int, got {batch_size!r}.")
    return batch_size


def _preview(item: Any) -> str:
    text = " ".join(repr(item).split())  # one line, even for arrays
    return text if len(text) <= 40 else text[:37] + "..."


def has_content(text: str) -> bool:
    """Whether ``text`` holds a character other than whitespace, controls and zero-width characters.

    Stops at the first such character, so it costs next to nothing for ordinary texts.
    """
    return any(not (char.isspace() or unicodedata.category(char) in _INVISIBLE) for char in text)


def check_contentless(texts: list[str], policy: str) -> None:
    """Apply the ``empty`` policy of ``encode`` to the inputs without content (see :func:`has_content`).

    ``"keep"`` accepts them silently; ``"warn"`` (the default) issues one
    :class:`~sentkit.errors.ContentlessInputWarning` per call naming their indices; ``"error"`` raises.
    Either way, inputs that are kept get the embedding of an empty input, as in sentence-transformers.

    Raises:
        InputError: an unknown policy, or ``"error"`` with contentless inputs (names their indices).
    """
    if policy not in EMPTY_POLICIES:
        raise InputError(f"empty={policy!r} is not one of {EMPTY_POLICIES}.")
    if policy == "keep":
        return
    indices = [index for index, text in enumerate(texts) if isinstance(text, str) and not has_content(text)]
    if not indices:
        return
    shown = f"{indices[:10]}{f' and {len(indices) - 10} more' if len(indices) > 10 else ''}"
    what = f"The inputs at indices {shown} have no content (empty, or only whitespace, control or zero-width)"
    if policy == "error":
        raise InputError(f"{what}. Drop them, or pass empty='keep' to embed them as empty inputs.")
    warnings.warn(
        f"{what}; each gets the embedding of an empty input. Pass empty='keep' to accept them silently, "
        "or empty='error' to reject them.",
        ContentlessInputWarning,
        stacklevel=_caller_stacklevel(),
    )


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning issued here point at the first frame outside sentkit."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_FOLDER):
        level += 1
        frame = frame.f_back  # type: ignore[assignment]
    return level


def check_truncate_dim(truncate_dim: Any, dimension: int | None) -> int | None:
    """``truncate_dim`` if it is None or an int in 1..``dimension`` (the model's embedding size).

    Raises:
        ConfigurationError: any other value; the message names the model's dimension.
    """
    if truncate_dim is None:
        return None
    try:
        value = None if isinstance(truncate_dim, bool) else operator.index(truncate_dim)  # ints, numpy ints
    except TypeError:
        value = None
    if value is None or not 1 <= value <= (dimension or value):
        allowed = f"in 1..{dimension} (this model's embeddings have {dimension} dimensions)" if dimension else "> 0"
        raise ConfigurationError(f"truncate_dim={truncate_dim!r} must be an int {allowed}.")
    return value
