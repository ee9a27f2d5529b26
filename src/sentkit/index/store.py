"""The rows of a vector index in memory: codes, binary row scales and (optionally) float embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from sentkit.index.codec import Codec


class GrowingArray:
    """Rows appended in amortised constant time: a buffer that doubles, of which ``array`` is the filled part."""

    def __init__(self, row_shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self._buffer = np.empty((0, *row_shape), dtype=dtype)
        self._size = 0

    @classmethod
    def wrap(cls, rows: np.ndarray) -> GrowingArray:
        """A growing array that starts as ``rows`` (taken over, not copied)."""
        grown = cls(rows.shape[1:], rows.dtype)
        grown._buffer, grown._size = rows, len(rows)
        return grown

    def __len__(self) -> int:
        return self._size

    @property
    def array(self) -> np.ndarray:
        """The filled rows (a view; valid until the next append or removal)."""
        return self._buffer[: self._size]

    def append(self, rows: np.ndarray) -> None:
        needed = self._size + len(rows)
        if needed > len(self._buffer):
            grown = np.empty((max(needed, 2 * len(self._buffer)), *self._buffer.shape[1:]), self._buffer.dtype)
            grown[: self._size] = self._buffer[: self._size]
            self._buffer = grown
        self._buffer[self._size : needed] = rows
        self._size = needed

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where ``mask`` (N,) bool is true, in order."""
        self._buffer = self.array[mask].copy()
        self._size = len(self._buffer)


class VectorStore:
    """Codes (N, width), binary row scales (N,) and optional float embeddings (N, D) of an index.

    Float embeddings are kept only for quantized precisions with ``keep_float`` (a float32 index's
    codes are its float embeddings).
    """

    def __init__(self, codec: Codec, keep_float: bool) -> None:
        self.codec = codec
        self.codes = GrowingArray((codec.width,), codec.dtype)
        self.scales = GrowingArray((), np.dtype(np.float32)) if codec.binary else None
        self.floats = GrowingArray((codec.dimension,), np.dtype(np.float32)) if keep_float and codec.quantized else None

    def __len__(self) -> int:
        return len(self.codes)

    def append(self, prepared: np.ndarray) -> np.ndarray:
        """Store ``prepared`` (N, D) float32 rows; return their codes (N, width)."""
        self.codec.calibrate(prepared)
        codes = self.codec.encode(prepared)
        self.codes.append(codes)
        if self.scales is not None:
            self.scales.append(self.codec.scales(prepared))
        if self.floats is not None:
            self.floats.append(prepared)
        return codes

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where ``mask`` (N,) bool is true."""
        for part in (self.codes, self.scales, self.floats):
            if part is not None:
                part.keep(mask)

    def vectors(self, rows: np.ndarray, exact: bool) -> np.ndarray:
        """Float32 (..., D) vectors of ``rows`` (...,): the float embeddings when ``exact`` and kept,
        else the reconstruction of the codes (the codes themselves for a float32 index)."""
        if exact and self.floats is not None:
            return self.floats.array[rows]
        scales = None if self.scales is None else self.scales.array[rows]
        return self.codec.decode(self.codes.array[rows], scales)

    def decoded_chunks(self, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, vectors (c, D) float32)``: the codes' reconstructions, ``chunk_rows`` rows at a time."""
        codes = self.codes.array
        scales = None if self.scales is None else self.scales.array
        for start in range(0, len(codes), chunk_rows):
            stop = start + chunk_rows
            yield start, self.codec.decode(codes[start:stop], None if scales is None else scales[start:stop])

    def restore(self, count: int, sections: dict[str, Any]) -> None:
        """Take over the saved ``codes``, ``scales`` and ``floats`` arrays of ``count`` rows.

        Raises:
            ValueError: an array that is missing or whose shape or dtype does not fit this store.
        """
        codec = self.codec
        self.codes = GrowingArray.wrap(_saved(sections, "codes", (count, codec.width), codec.dtype))
        if self.scales is not None:
            self.scales = GrowingArray.wrap(_saved(sections, "scales", (count,), np.dtype(np.float32)))
        if self.floats is not None:
            self.floats = GrowingArray.wrap(_saved(sections, "floats", (count, codec.dimension), np.dtype(np.float32)))


def _saved(sections: dict[str, Any], name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    array = sections.get(name)
    if not isinstance(array, np.ndarray):
        raise ValueError(f"the {name!r} section is missing")
    if array.shape != shape or array.dtype != dtype:
        raise ValueError(f"the {name!r} section holds {array.dtype} {array.shape}, expected {dtype} {shape}")
    return array
