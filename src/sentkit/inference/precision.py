"""Output precision: float32 embeddings -> int8 / uint8 / binary / ubinary."""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from sentkit.errors import InputError

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"precision={precision!r} is not supported; use one of {', '.join(PRECISIONS)}.")


def output_width(dimension: int, precision: str) -> int:
    """Columns of an embedding of ``dimension`` values stored at ``precision`` (binary packs 8 per byte)."""
    return (dimension + 7) // 8 if precision.endswith("binary") else dimension


def numpy_dtype(precision: str) -> np.dtype[Any]:
    """The numpy dtype of embeddings stored at ``precision``."""
    if precision == "float32":
        return np.dtype(np.float32)
    return np.dtype(np.int8 if precision in ("int8", "binary") else np.uint8)


def quantize_embeddings(
    embeddings: Any,
    precision: str,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """Quantize float embeddings (N, D) to ``precision``.

    int8/uint8 split each dimension's range into 256 buckets; the range comes from ``ranges``
    (2, D), else from ``calibration_embeddings``, else from the embeddings themselves.
    binary/ubinary keep the sign bit, packed 8 dimensions per byte: (N, ceil(D / 8)).
    An empty (0, D) input gives an empty output of the precision's dtype and width.

    Deliberate difference: the reference raises for int8/uint8 of a single embedding (D,) or
    (1, D) without ``ranges`` or ``calibration_embeddings`` (one row has no per-dimension range;
    older releases collapsed it to zeros, sentence-transformers #2837). sentkit uses that
    embedding's own range instead, the minimum and maximum over all its dimensions for every
    dimension, and logs a warning saying so. Pass ``ranges`` from a representative set to get
    buckets comparable across calls. Everywhere else the result equals the reference's.

    Raises:
        InputError: an unknown precision or integer input.
    """
    check_precision(precision)
    embeddings = _as_numpy(embeddings)
    if embeddings.dtype.kind in "iu":
        raise InputError("quantize_embeddings takes float embeddings; these are already integers.")
    if precision == "float32":
        return embeddings.astype(np.float32)
    if embeddings.ndim == 2 and embeddings.shape[0] == 0:
        return np.zeros((0, output_width(embeddings.shape[1], precision)), dtype=numpy_dtype(precision))
    if precision.endswith("binary"):
        packed = np.packbits(embeddings > 0, axis=-1)
        return (packed - 128).astype(np.int8) if precision == "binary" else packed
    if ranges is None:
        ranges = _ranges(embeddings, precision, calibration_embeddings)
    ranges = np.asarray(ranges, dtype=np.float32)
    starts = ranges[0, :]
    steps = (ranges[1, :] - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    buckets = np.clip(np.floor((embeddings - starts) / steps), 0, 255)
    return buckets.astype(np.uint8) if precision == "uint8" else (buckets - 128).astype(np.int8)


def _ranges(embeddings: np.ndarray, precision: str, calibration: np.ndarray | None) -> np.ndarray:
    if calibration is None:
        if embeddings.ndim == 1 or embeddings.shape[0] == 1:
            logger.warning(
                "Computing %s quantization buckets from a single embedding: using its own minimum and "
                "maximum over all dimensions as every dimension's range. Pass ranges or "
                "calibration_embeddings from a representative set for buckets comparable across calls.",
                precision,
            )
            low, high = float(np.min(embeddings)), float(np.max(embeddings))
            width = embeddings.shape[-1]
            return np.vstack((np.full(width, low), np.full(width, high)))
        if embeddings.shape[0] < 100:
            logger.warning(
                "Computing %s quantization buckets from only %d embeddings; pass ranges or "
                "calibration_embeddings from more embeddings for stable buckets.",
                precision,
                embeddings.shape[0],
            )
        calibration = embeddings
    return np.vstack((np.min(calibration, axis=0), np.max(calibration, axis=0)))


def _as_numpy(embeddings: Any) -> np.ndarray:
    """Float embeddings as numpy: torch tensors (if torch is loaded at all), lists of rows, arrays."""
    torch = sys.modules.get("torch")  # an input cannot be a tensor unless torch was imported
    if torch is not None and isinstance(embeddings, torch.Tensor):
        return embeddings.detach().float().cpu().numpy()
    if isinstance(embeddings, list):
        return np.stack([_as_numpy(row) for row in embeddings])
    return np.asarray(embeddings)
