"""Checks on what users pass to ``encode``: every item a text (or, for image models, an image),
with errors that name the item."""

from __future__ import annotations

import operator
import os
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from sentkit.errors import ConfigurationError, ContentlessInputWarning, InputError, InputTypeError

EMPTY_POLICIES = ("keep", "warn", "error")
_PACKAGE_FOLDER = str(Path(__file__).resolve().parents[1])  # .../sentkit
# Unicode categories with no visible content: controls (Cc) and format characters such as zero-width
# spaces and joiners, the byte order mark and soft hyphens (Cf).
_INVISIBLE = frozenset({"Cc", "Cf"})
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tiff", ".webp")


def as_text_list(inputs: Any, modalities: Sequence[str] = ("text",)) -> tuple[list[Any], bool]:
    """Return ``(texts, is_single)`` for one input or a collection of inputs.

    Inputs are texts (``str``, or ``{"text": str}``). When ``modalities`` (the model's) holds
    ``"image"``, as sentence-transformers takes them for such models, also images: PIL images, image
    arrays (a 3-D numpy array or tensor, H x W x C or C x H x W), image references (a local file or
    an http(s) URL ending in an image extension, or a ``data:image/`` URI) and ``{"image": ...}``;
    references become :class:`ImageFile` and open when their batch is encoded.

    Raises:
        InputError: a dict with another key or several keys (names its index).
        InputTypeError: ``inputs`` is neither an input nor an iterable of inputs, or an item is of
            another type, or an image for a text-only model (the message names its index and type).
    """
    takes_images = "image" in modalities
    if isinstance(inputs, (str, dict)) or is_image(inputs) or (takes_images and _is_array(inputs)):
        return [_checked_item(inputs, 0, modalities)], True
    if isinstance(inputs, (bytes, bytearray)) or not isinstance(inputs, Iterable):
        raise InputTypeError(
            f"encode takes a str or a list of str, got {type(inputs).__name__}. "
            "Decode bytes first (data.decode('utf-8'))."
        )
    items = inputs.tolist() if isinstance(inputs, np.ndarray) and not takes_images else list(inputs)
    if not takes_images and all(isinstance(item, str) for item in items):
        return items, False
    return [_checked_item(item, index, modalities) for index, item in enumerate(items)], False


@dataclass(frozen=True)
class ImageFile:
    """An image given by reference: a local path, an http(s) URL or a ``data:image/`` URI."""

    source: str

    def load(self) -> Any:
        """The image as an RGB PIL image, turned upright by its EXIF orientation (transformers'
        ``load_image``, as sentence-transformers opens it; a URL needs the network).

        Raises:
            InputError: the source cannot be read or is not an image.
        """
        from transformers.image_utils import load_image

        try:
            return load_image(self.source)
        except Exception as exc:  # PIL, httpx and base64 raise many kinds
            raise InputError(f"Cannot open the image {_preview(self.source)}: {exc}") from exc


def is_image_reference(text: str) -> bool:
    """Whether the text ``text`` names an image, as sentence-transformers decides it for image models:
    a ``data:image/`` URI, an http(s) URL whose path ends in an image extension, or an existing local
    file with such an extension."""
    if text.startswith("data:image/"):
        return True
    if text.startswith(("http://", "https://")) and " " not in text:
        try:
            return urlparse(text).path.lower().endswith(IMAGE_EXTENSIONS)
        except ValueError:  # a malformed URL ("https://[[x]]") is a text
            return False
    return text.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(text)


def is_image(item: Any) -> bool:
    """Whether ``item`` is a PIL image (Pillow is not imported: without it, nothing is one)."""
    module = sys.modules.get("PIL.Image")
    return module is not None and isinstance(item, module.Image)


def is_image_input(item: Any) -> bool:
    """Whether ``item`` is an image an image model takes as it is: a PIL image, an image array or an
    :class:`ImageFile`."""
    return is_image(item) or isinstance(item, ImageFile) or _is_array(item)


def _is_array(item: Any) -> bool:
    """A 3-D numpy array or torch tensor: one image (torch is not imported for the check)."""
    if isinstance(item, np.ndarray):
        return item.ndim == 3
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(item, torch.Tensor) and item.dim() == 3


def _checked_item(item: Any, index: int, modalities: Sequence[str]) -> Any:
    """``item`` as encode takes it: a one-key dict unwrapped, a string under ``"image"`` or naming an
    image (image models only) as :class:`ImageFile`; anything else not a text or image raises."""
    if isinstance(item, dict):
        return _unwrapped(item, index, modalities)
    if isinstance(item, str):
        return ImageFile(item) if "image" in modalities and is_image_reference(item) else item
    _check_item(item, index, modalities)
    return item


def _unwrapped(item: dict[Any, Any], index: int, modalities: Sequence[str]) -> Any:
    """The text or image of ``{"text": ...}`` / ``{"image": ...}``: the key says which it is, whatever
    the value looks like (a string under ``"image"`` is an image reference, opened when encoded)."""
    kinds = ("text", "image") if "image" in modalities else ("text",)
    if len(item) != 1 or next(iter(item)) not in kinds:
        accepted = " or ".join(f"{{'{kind}': ...}}" for kind in kinds)
        raise InputError(
            f"Input at index {index} is a dict with keys {sorted(map(str, item))}; this model takes {accepted} "
            "with one key (texts and images are embedded separately: give each its own input)."
        )
    kind, value = next(iter(item.items()))
    if kind == "image":
        if isinstance(value, str):
            return ImageFile(value)
        if not is_image_input(value):
            raise InputTypeError(
                f"Input at index {index}: {{'image': ...}} holds {type(value).__name__}, not an image."
            )
        return value
    if not isinstance(value, str):
        raise InputTypeError(f"Input at index {index}: {{'text': ...}} holds {type(value).__name__}, not a str.")
    return value


def _check_item(item: Any, index: int, modalities: Sequence[str]) -> None:
    """Raise :class:`InputTypeError` for an input item other than a text or, for image models, an image."""
    if "image" in modalities and is_image_input(item):
        return
    if is_image(item):
        raise InputTypeError(
            f"Input at index {index} is an image ({type(item).__name__}); this model takes text only. "
            "Encode images with an image model such as CLIPModel, or pass the image's caption."
        )
    allowed = "a str or an image (PIL image, 3-D array, path, URL or data URI)" if "image" in modalities else "a str"
    hint = " (PIL.Image.fromarray(array) for other arrays)" if "image" in modalities else ""
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
