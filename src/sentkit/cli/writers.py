"""Embedding files written chunk by chunk, so memory stays bounded on inputs of any size.

``.npy`` and ``.safetensors`` files start with a header of fixed size whose row count is patched in
when the last chunk is written; ``.jsonl`` writes one ``{"index", "embedding"}`` line per row.
Files are written under a ``.partial`` name and renamed at the end, so a failed run never leaves a
file that looks complete. int8 / uint8 need the value range of all embeddings: they are kept as
float32 in a temporary file first, then quantized with the ranges of the whole set (as ``encode``
computes them on all its inputs).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from sentkit.errors import InputError

OUTPUT_FORMATS = ("auto", "npy", "safetensors", "jsonl", "store")
NPY_HEADER_BYTES = 128  # magic (6) + version (2) + length (2) + 118 bytes of header text
SAFETENSORS_HEADER_BYTES = 256
SAFETENSORS_DTYPES = {"float32": "F32", "int8": "I8", "uint8": "U8"}
SAFETENSORS_KEY = "embeddings"


class EmbeddingWriter(Protocol):
    def write(self, rows: np.ndarray) -> None: ...

    def close(self, empty_width: int, empty_dtype: np.dtype[Any]) -> int: ...

    def abort(self) -> None: ...


def output_format(path: str | None, declared: str) -> str:
    """``declared`` unless ``auto``; then from ``path``'s extension (JSONL for stdout), ``store`` (an
    embeddings folder, see :mod:`sentkit.inference.streaming`) for a folder or a name without one.

    Raises:
        InputError: an unknown extension, or a file format asked for stdout.
    """
    to_stdout = path in (None, "-")
    if declared == "auto":
        if to_stdout:
            return "jsonl"
        if str(path).endswith(("/", os.sep)) or Path(str(path)).is_dir() or not Path(str(path)).suffix:
            return "store"
        suffix = Path(str(path)).suffix.lower()
        formats = {".npy": "npy", ".safetensors": "safetensors", ".jsonl": "jsonl", ".ndjson": "jsonl"}
        if suffix not in formats:
            raise InputError(f"Cannot tell the output format of {path}: end it in .npy, .safetensors or .jsonl.")
        return formats[suffix]
    if to_stdout and declared != "jsonl":
        raise InputError(f"--output-format {declared} needs an output path: pass -o PATH.")
    return declared


def open_writer(path: str | None, fmt: str, precision: str) -> EmbeddingWriter:
    """A writer for ``fmt`` at ``path`` (None or ``-``: JSONL on stdout) storing ``precision``."""
    writer: EmbeddingWriter
    if fmt == "jsonl":
        writer = JsonlWriter(None if path in (None, "-") else Path(str(path)))
    elif fmt == "npy":
        writer = NpyWriter(Path(str(path)))
    else:
        writer = SafetensorsWriter(Path(str(path)))
    return CalibratedWriter(writer, precision) if precision in ("int8", "uint8") else writer


class _FileWriter:
    """Shared part: a ``.partial`` file, renamed to ``path`` on close, removed on abort."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.handle: IO[bytes] = open(self.partial, "wb")  # noqa: SIM115 - closed in close/abort
        self.rows = 0
        self.width: int | None = None
        self.dtype: np.dtype[Any] | None = None

    def _check(self, rows: np.ndarray) -> np.ndarray:
        if rows.ndim != 2:
            raise InputError(f"Expected (N, D) embeddings, got shape {rows.shape}.")
        if self.width is None:
            self.width, self.dtype = rows.shape[1], rows.dtype
            self._write_header()
        if rows.shape[1] != self.width or rows.dtype != self.dtype:
            raise InputError(f"Rows of width {rows.shape[1]} ({rows.dtype}) after rows of width {self.width}.")
        return np.ascontiguousarray(rows)

    def write(self, rows: np.ndarray) -> None:
        rows = self._check(rows)
        self.handle.write(rows.tobytes())
        self.rows += len(rows)

    def close(self, empty_width: int, empty_dtype: np.dtype[Any]) -> int:
        if self.width is None:
            self.width, self.dtype = empty_width, np.dtype(empty_dtype)
        self.handle.seek(0)
        self._write_header()
        self.handle.close()
        os.replace(self.partial, self.path)
        return self.rows

    def abort(self) -> None:
        self.handle.close()
        self.partial.unlink(missing_ok=True)

    def _write_header(self) -> None:
        raise NotImplementedError


class NpyWriter(_FileWriter):
    """A ``.npy`` file (format 1.0) of shape (N, D), C order."""

    def _write_header(self) -> None:
        descr = np.lib.format.dtype_to_descr(np.dtype(self.dtype))
        text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': ({self.rows}, {self.width}), }}"
        room = NPY_HEADER_BYTES - 10
        self.handle.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", room) + text.ljust(room - 1).encode() + b"\n")


class SafetensorsWriter(_FileWriter):
    """A ``.safetensors`` file with one tensor, ``embeddings`` (N, D)."""

    def _write_header(self) -> None:
        dtype = np.dtype(self.dtype)
        size = self.rows * int(self.width or 0) * dtype.itemsize
        tensor = {"dtype": SAFETENSORS_DTYPES[dtype.name], "shape": [self.rows, self.width], "data_offsets": [0, size]}
        text = json.dumps({SAFETENSORS_KEY: tensor, "__metadata__": {"format": "np"}}, separators=(",", ":"))
        room = SAFETENSORS_HEADER_BYTES
        self.handle.write(struct.pack("<Q", room) + text.ljust(room).encode())


class JsonlWriter:
    """``{"index": i, "embedding": [...]}`` per line, to a file or stdout."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.partial = None if path is None else path.with_name(path.name + ".partial")
        self.handle: IO[str] = sys.stdout if self.partial is None else open(self.partial, "w", encoding="utf-8")  # noqa: SIM115
        self.rows = 0

    def write(self, rows: np.ndarray) -> None:
        for row in rows.tolist():
            self.handle.write(json.dumps({"index": self.rows, "embedding": row}) + "\n")
            self.rows += 1

    def close(self, empty_width: int, empty_dtype: np.dtype[Any]) -> int:
        if self.partial is None:
            self.handle.flush()
        else:
            self.handle.close()
            os.replace(self.partial, str(self.path))
        return self.rows

    def abort(self) -> None:
        if self.partial is not None:
            self.handle.close()
            self.partial.unlink(missing_ok=True)


class CalibratedWriter:
    """int8 / uint8 output: float32 rows go to a temporary ``.npy``; on close they are quantized with
    the min / max of every row (``quantize_embeddings(..., ranges=...)``) and passed to ``inner``."""

    def __init__(self, inner: EmbeddingWriter, precision: str, chunk_rows: int = 65536) -> None:
        self.inner = inner
        self.precision = precision
        self.chunk_rows = chunk_rows
        target = getattr(inner, "path", None)
        if target is None:  # stdout: stage in the temporary directory
            import tempfile

            target = Path(tempfile.gettempdir()) / f"sentkit-{os.getpid()}"
        self.staging = NpyWriter(Path(str(target) + ".float32.tmp.npy"))
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None

    def write(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.float32)
        low, high = rows.min(axis=0), rows.max(axis=0)
        self.low = low if self.low is None else np.minimum(self.low, low)
        self.high = high if self.high is None else np.maximum(self.high, high)
        self.staging.write(rows)

    def close(self, empty_width: int, empty_dtype: np.dtype[Any]) -> int:
        from sentkit.inference.precision import quantize_embeddings

        self.staging.close(empty_width, np.dtype(np.float32))
        try:
            if self.staging.rows == 1:
                raise InputError(
                    f"Cannot compute {self.precision} ranges from a single embedding; encode more texts "
                    "or use float32 / binary precision."
                )
            if self.low is not None and self.high is not None:
                ranges = np.vstack((self.low, self.high))  # (2, D)
                floats = np.load(self.staging.path, mmap_mode="r")  # (N, D)
                for start in range(0, len(floats), self.chunk_rows):
                    chunk = np.asarray(floats[start : start + self.chunk_rows])
                    self.inner.write(quantize_embeddings(chunk, self.precision, ranges=ranges))
                del floats
        except BaseException:
            self.inner.abort()
            raise
        finally:
            self.staging.path.unlink(missing_ok=True)
        return self.inner.close(empty_width, empty_dtype)

    def abort(self) -> None:
        self.staging.abort()
        self.staging.path.unlink(missing_ok=True)
        self.inner.abort()
