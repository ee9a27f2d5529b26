"""How float embeddings become the codes a vector index stores, and how codes are read back.

Precisions (the names of :func:`sentkit.util.quantize_embeddings`):

- ``float32``: stored as given (after L2 normalisation for the cosine metric).
- ``int8`` / ``uint8``: one byte per dimension, 256 buckets per dimension between the index's
  ``ranges`` (2, D): the minimum and maximum of each dimension, taken from the first embeddings
  added unless given. Values outside the ranges fall into the first or last bucket.
- ``binary`` / ``ubinary``: the sign bit of each dimension, 8 dimensions per byte, plus one
  float32 scale per row.

Scoring a stored row without its float embedding uses its reconstruction: the centre of each
bucket (int8/uint8), or ``scale * (+1 or -1 per bit)`` with ``scale`` the row's mean absolute
value, the least-squares scale of its sign vector (binary/ubinary). Scores computed that way are
estimates on the metric's own scale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentkit.errors import InputError

logger = logging.getLogger(__name__)

METRICS = ("cosine", "dot", "euclidean")
PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
_SCALAR = ("int8", "uint8")
_FEW_CALIBRATION_ROWS = 100


def as_numpy(embeddings: Any) -> np.ndarray:
    """A numpy view of an array, a torch tensor or a list of either (no torch import needed)."""
    if hasattr(embeddings, "detach"):
        return np.asarray(embeddings.detach().float().cpu().numpy())
    if isinstance(embeddings, (list, tuple)) and embeddings and hasattr(embeddings[0], "detach"):
        return np.stack([item.detach().float().cpu().numpy() for item in embeddings])
    return np.asarray(embeddings)


@dataclass
class Codec:
    """The storage rules of one index: dimension ``D``, metric, precision and, for int8/uint8, ranges.

    ``ranges`` stays ``None`` for int8/uint8 until :meth:`calibrate` sets it (first add).
    """

    dimension: int
    metric: str
    precision: str
    ranges: np.ndarray | None = None  # (2, D) float32

    @property
    def quantized(self) -> bool:
        return self.precision != "float32"

    @property
    def binary(self) -> bool:
        return self.precision.endswith("binary")

    @property
    def width(self) -> int:
        """Columns of a stored code row: D, or ceil(D / 8) for the binary precisions."""
        return (self.dimension + 7) // 8 if self.binary else self.dimension

    @property
    def dtype(self) -> np.dtype[Any]:
        if self.precision == "float32":
            return np.dtype(np.float32)
        return np.dtype(np.int8 if self.precision in ("int8", "binary") else np.uint8)

    def prepare(self, embeddings: Any, what: str) -> np.ndarray:
        """``embeddings`` (N, D) or (D,) as float32 (N, D), L2-normalised for the cosine metric.

        Raises:
            InputError: not a float matrix, the wrong dimension, or NaN / infinite values.
        """
        array = as_numpy(embeddings)
        if array.dtype.kind != "f":
            raise InputError(
                f"{what} must be float embeddings, got dtype {array.dtype}; pass the float vectors "
                "(the index quantizes them itself)."
            )
        if array.ndim == 1:
            array = array[None, :]  # (1, D)
        if array.ndim != 2 or array.shape[1] != self.dimension:
            raise InputError(
                f"{what} have shape {tuple(array.shape)}; this index holds {self.dimension}-dimensional "
                f"vectors, so pass (N, {self.dimension}) or ({self.dimension},)."
            )
        array = np.ascontiguousarray(array, dtype=np.float32)  # (N, D)
        finite = np.isfinite(array).all(axis=1)
        if not finite.all():
            rows = np.flatnonzero(~finite)
            raise InputError(f"{what} hold NaN or infinite values in rows {rows[:10].tolist()}; remove or fix them.")
        if self.metric == "cosine":
            norms = np.linalg.norm(array, axis=1, keepdims=True)  # (N, 1)
            array = array / np.maximum(norms, 1e-12)  # zero vectors stay zero
        return array

    def calibrate(self, prepared: np.ndarray) -> None:
        """Fix the int8/uint8 ranges from ``prepared`` (N, D) if they are not set yet.

        Raises:
            InputError: fewer than 2 rows to take ranges from.
        """
        if self.precision not in _SCALAR or self.ranges is not None:
            return
        if len(prepared) < 2:
            raise InputError(
                f"A {self.precision} index takes its quantization ranges from the first embeddings added, "
                f"which needs at least 2 of them (got {len(prepared)}). Add more at once, or pass ranges= or "
                "calibration_embeddings= to VectorIndex."
            )
        if len(prepared) < _FEW_CALIBRATION_ROWS:
            logger.warning(
                "Taking %s quantization ranges from only %d embeddings; later embeddings outside them are "
                "clipped. Pass calibration_embeddings= from a representative set for better buckets.",
                self.precision,
                len(prepared),
            )
        self.ranges = np.vstack((prepared.min(axis=0), prepared.max(axis=0))).astype(np.float32)  # (2, D)

    def set_ranges(self, ranges: Any) -> None:
        """Use ``ranges`` (2, D) for int8/uint8 quantization.

        Raises:
            InputError: the wrong shape, non-finite values, or a precision without ranges.
        """
        if self.precision not in _SCALAR:
            raise InputError(f"ranges only apply to int8/uint8 indexes; this one is {self.precision}.")
        array = np.asarray(as_numpy(ranges), dtype=np.float32)
        if array.shape != (2, self.dimension) or not np.isfinite(array).all():
            raise InputError(
                f"ranges must be a finite (2, {self.dimension}) array (minimum and maximum per dimension), "
                f"got shape {tuple(array.shape)}."
            )
        self.ranges = array

    def encode(self, prepared: np.ndarray) -> np.ndarray:
        """Codes (N, width) of ``prepared`` (N, D) float32 rows, of this precision's dtype."""
        if not self.quantized:
            return prepared
        from sentkit.inference.precision import quantize_embeddings

        if self.precision in _SCALAR and self.ranges is None:
            raise InputError(f"The {self.precision} ranges are not set yet; add embeddings first.")
        return quantize_embeddings(prepared, self.precision, ranges=self.ranges)

    def scales(self, prepared: np.ndarray) -> np.ndarray:
        """(N,) float32 mean absolute value per row: the scale of a binary row's reconstruction."""
        return np.abs(prepared).mean(axis=1).astype(np.float32)

    def packed_bits(self, codes: np.ndarray) -> np.ndarray:
        """Binary/ubinary codes (N, width) as packed sign bits, uint8 (N, width)."""
        return codes.view(np.uint8) ^ 0x80 if self.precision == "binary" else codes  # binary = packed - 128

    def decode(self, codes: np.ndarray, scales: np.ndarray | None) -> np.ndarray:
        """Float32 reconstruction (..., D) of codes (..., width); ``scales`` (...,) for binary."""
        if not self.quantized:
            return codes
        if self.binary:
            bits = np.unpackbits(self.packed_bits(codes), axis=-1)[..., : self.dimension]  # (..., D) of 0/1
            if scales is None:
                raise InputError("Binary codes need their row scales to be decoded.")
            signs = bits.astype(np.float32) * 2 - 1
            return signs * scales[..., None]
        if self.ranges is None:
            raise InputError(f"The {self.precision} ranges are not set yet; add embeddings first.")
        buckets = codes.astype(np.float32) + (128 if self.precision == "int8" else 0)  # 0 .. 255
        steps = (self.ranges[1] - self.ranges[0]) / 255  # (D,); 0 where a dimension is constant
        return self.ranges[0] + (buckets + 0.5) * steps
