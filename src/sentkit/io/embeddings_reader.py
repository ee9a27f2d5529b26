"""Read an embeddings folder lazily: shards are memory-mapped on first touch, never loaded whole.

See :mod:`sentkit.io.embeddings_store` for the format. Memory use of a reader does not grow with
the corpus beyond one small record per shard: rows are read from the operating system's page
cache as they are indexed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from sentkit.errors import InputError, InputTypeError
from sentkit.io.embeddings_format import ShardFiles, read_manifest

__all__ = ["EmbeddingReader", "StoredTexts", "open_embeddings"]


def open_embeddings(folder: str | Path) -> EmbeddingReader:
    """A memory-mapped :class:`EmbeddingReader` over ``folder``."""
    return EmbeddingReader(folder)


class EmbeddingReader:
    """All rows of an embeddings folder as one lazy (N, D) array.

    ``len(reader)``, ``reader.shape``, ``reader.dtype``; ``reader[i]`` (one row, (D,)),
    ``reader[a:b]`` / ``reader[[i, j]]`` / ``reader[mask]`` (a (k, D) copy), iteration over rows,
    :meth:`iter_batches`, ``np.asarray(reader)`` (everything in memory), ``reader.texts`` (a lazy
    sequence of str, or None), ``reader.model`` (the model identity) and ``reader.manifest``.
    Reads the manifest once: rows committed after opening are not seen (open a new reader).

    Raises:
        InputError: ``folder`` is not an embeddings folder, or a listed shard is missing or has
            another shape than the manifest says.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        self.shard_rows = [int(shard["rows"]) for shard in self.manifest["shards"]]
        self._shard_index = [int(shard["index"]) for shard in self.manifest["shards"]]
        self._ends = np.cumsum(self.shard_rows, dtype=np.int64)  # row after the last of each shard
        self._maps: dict[int, np.ndarray] = {}
        width = self.manifest.get("dimension")
        self.shape = (int(self._ends[-1]) if self.shard_rows else 0, int(width or 0))
        self.dtype = np.dtype(self.manifest.get("dtype") or "float32")
        self.texts = StoredTexts(self) if self.manifest.get("has_texts") else None

    @property
    def model(self) -> dict[str, Any]:
        return dict(self.manifest.get("model") or {})

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"EmbeddingReader({str(self.folder)!r}, shape={self.shape}, dtype={self.dtype})"

    def shard_embeddings(self, shard: int) -> np.ndarray:
        """Shard ``shard`` (its position in the manifest) as a read-only memory map (n, D)."""
        if shard not in self._maps:
            path = self.folder / ShardFiles(self._shard_index[shard]).embeddings
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(f"Cannot read {path}, listed in the manifest: {exc}") from exc
            if array.shape[0] != self.shard_rows[shard] or (array.ndim == 2 and array.shape[1] != self.shape[1]):
                raise InputError(f"{path} has shape {array.shape}; the manifest says {self.shard_rows[shard]} rows.")
            self._maps[shard] = array
        return self._maps[shard]

    def locate(self, row: int | np.integer[Any]) -> tuple[int, int]:
        """``(shard, row within shard)`` of a global row index (negative counts from the end)."""
        if isinstance(row, (bool, np.bool_)) or not isinstance(row, (int, np.integer)):
            raise InputTypeError(f"Row indices must be int, got {type(row).__name__}.")
        position = int(row) + len(self) if row < 0 else int(row)
        if not 0 <= position < len(self):
            raise IndexError(f"Row {row} is out of range for {len(self)} rows.")
        shard = int(np.searchsorted(self._ends, position, side="right"))
        return shard, position - (int(self._ends[shard - 1]) if shard else 0)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            shard, offset = self.locate(key)
            return np.array(self.shard_embeddings(shard)[offset])
        return self._take(self.rows_of(key))

    def rows_of(self, key: Any) -> np.ndarray:
        """The global row indices that ``key`` (slice, list / array of ints, or boolean mask) selects."""
        if isinstance(key, slice):
            return np.arange(len(self), dtype=np.int64)[key]
        indices = np.asarray(key)
        if indices.dtype == np.bool_:
            if indices.shape != (len(self),):
                raise InputError(f"A boolean mask must have shape ({len(self)},), got {indices.shape}.")
            return np.flatnonzero(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise InputTypeError(f"Index with an int, a slice, a 1-D list of ints or a mask; got {key!r:.60}.")
        return indices.astype(np.int64)

    def _take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)  # (k, D)
        if not len(rows):
            return out
        rows = np.where(rows < 0, rows + len(self), rows)
        if rows.min() < 0 or rows.max() >= len(self):
            raise IndexError(f"Row indices out of range for {len(self)} rows.")
        shards = np.searchsorted(self._ends, rows, side="right")
        for shard in np.unique(shards):
            picked = np.flatnonzero(shards == shard)
            first = int(self._ends[shard - 1]) if shard else 0
            out[picked] = self.shard_embeddings(int(shard))[rows[picked] - first]
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        for batch in self.iter_batches():
            yield from batch

    def iter_batches(self, batch_size: int = 4096) -> Iterator[np.ndarray]:
        """(b, D) arrays of consecutive rows, at most ``batch_size`` rows each, never crossing a shard."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise InputError(f"batch_size must be a positive int, got {batch_size!r}.")
        for shard in range(len(self.shard_rows)):
            array = self.shard_embeddings(shard)
            for start in range(0, array.shape[0], batch_size):
                yield np.array(array[start : start + batch_size])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self._take(np.arange(len(self), dtype=np.int64))
        return whole if dtype is None else whole.astype(dtype)


class StoredTexts(Sequence[str]):
    """The texts of an :class:`EmbeddingReader`, read lazily from each shard's UTF-8 file."""

    def __init__(self, reader: EmbeddingReader) -> None:
        self._reader = reader
        self._shards: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self._reader)

    @overload
    def __getitem__(self, key: int) -> str: ...

    @overload
    def __getitem__(self, key: slice) -> list[str]: ...

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            shard, offset = self._reader.locate(key)
            data, offsets = self._shard(shard)
            return bytes(data[offsets[offset] : offsets[offset + 1]]).decode("utf-8", "surrogatepass")
        return [self[int(row)] for row in self._reader.rows_of(key)]

    def __iter__(self) -> Iterator[str]:
        for shard in range(len(self._reader.shard_rows)):
            data, offsets = self._shard(shard)
            for row in range(len(offsets) - 1):
                yield bytes(data[offsets[row] : offsets[row + 1]]).decode("utf-8", "surrogatepass")

    def _shard(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        if shard not in self._shards:
            files = ShardFiles(self._reader._shard_index[shard])
            folder = self._reader.folder
            try:
                offsets = np.load(folder / files.offsets, mmap_mode="r", allow_pickle=False)
                size = int(offsets[-1])
                data = np.memmap(folder / files.texts, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
            except (OSError, ValueError) as exc:
                raise InputError(f"Cannot read the texts of shard {files.index} in {folder}: {exc}") from exc
            if len(offsets) != self._reader.shard_rows[shard] + 1 or len(data) != size:
                raise InputError(f"The texts of shard {files.index} in {folder} do not match the manifest.")
            self._shards[shard] = (data, offsets)
        return self._shards[shard]
