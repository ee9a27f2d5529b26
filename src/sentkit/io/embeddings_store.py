"""Embeddings on disk: a folder of ``.npy`` shards, their texts, and a JSON manifest. No pickle.

Format ``sentkit-embeddings``, version 1 (one format for :func:`save_embeddings` and for
:func:`sentkit.inference.streaming.encode_to_disk`; a saved file set is one shard)::

    folder/
        manifest.json             the commit record (below); replaced atomically
        embeddings-00000.npy      (n_0, D) rows 0 .. n_0 - 1, a plain numpy .npy file
        texts-00000.txt           the texts of those rows, UTF-8, concatenated (optional)
        texts-00000.offsets.npy   (n_0 + 1,) int64 byte offsets: text i = bytes[off[i]:off[i + 1]]
        embeddings-00001.npy ...  the next shard, and so on

    manifest.json = {
        "format": "sentkit-embeddings", "version": 1,
        "rows": N, "dimension": D, "dtype": "float32",   # D = columns (ceil(dim / 8) for binary)
        "has_texts": true,
        "shards": [{"index": 0, "rows": n_0}, ...],      # file names follow from the index
        "model": {"name", "dimension", "normalized", "precision", "similarity_fn_name", "fingerprint"},
        "settings": {...},                               # encode arguments that shaped the rows
        "complete": true,                                # false while a streaming run is under way
        "input_sha256": "..."                            # streaming: digest of the texts consumed
    }

Only shards listed in the manifest exist as far as a reader is concerned; every file is written
to ``NAME.tmp``, flushed, fsynced and renamed, and the manifest is rewritten the same way after
its shard, so a crash at any instant leaves a consistent folder. Any language that reads ``.npy``
and JSON reads this format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from sentkit.errors import InputError
from sentkit.io.embeddings_format import FORMAT_NAME, FORMAT_VERSION, MANIFEST, ShardFiles, read_manifest
from sentkit.io.embeddings_reader import EmbeddingReader
from sentkit.io.files import fsync_folder

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ShardFiles",
    "StoredEmbeddings",
    "load_embeddings",
    "read_manifest",
    "save_embeddings",
    "write_manifest",
    "write_shard",
]


@dataclass
class StoredEmbeddings:
    """What :func:`load_embeddings` returns: (N, D) ``embeddings``, their ``texts`` (or None), and
    the ``model`` identity and full ``manifest`` from ``manifest.json``."""

    embeddings: np.ndarray
    texts: list[str] | None
    model: dict[str, Any]
    manifest: dict[str, Any]


def new_manifest(model: dict[str, Any], settings: dict[str, Any], has_texts: bool) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "rows": 0,
        "dimension": None,
        "dtype": None,
        "has_texts": has_texts,
        "shards": [],
        "model": model,
        "settings": settings,
        "complete": False,
    }


def write_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` through ``path.tmp``: flush, fsync, rename; a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_shard(folder: Path, index: int, embeddings: np.ndarray, texts: Sequence[str] | None) -> dict[str, Any]:
    """Write shard ``index`` (embeddings (n, D), optional texts) atomically; return its manifest entry."""
    files = ShardFiles(index)
    write_atomic(folder / files.embeddings, lambda handle: np.save(handle, np.ascontiguousarray(embeddings)))
    if texts is not None:
        encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(item) for item in encoded], out=offsets[1:])
        write_atomic(folder / files.texts, lambda handle: handle.write(b"".join(encoded)))
        write_atomic(folder / files.offsets, lambda handle: np.save(handle, offsets))
    return {"index": index, "rows": int(embeddings.shape[0])}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Replace ``manifest.json`` atomically (the commit point of every write)."""
    data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    write_atomic(folder / MANIFEST, lambda handle: handle.write(data))
    fsync_folder(folder)


def save_embeddings(
    folder: str | Path,
    embeddings: Any,
    texts: Sequence[str] | None = None,
    model: Any = None,
    *,
    normalized: bool | None = None,
    precision: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Save (N, D) ``embeddings`` (numpy or torch), their ``texts`` and ``model``'s identity in ``folder``.

    ``normalized`` / ``precision`` describe how the embeddings were made (default: rows of norm 1
    count as normalized; precision from the dtype). An existing embeddings folder is replaced.
    Returns the folder.

    Raises:
        InputError: embeddings that are not 2-D, texts whose count differs from the rows, or a
            folder that holds files that are not an embeddings folder's.
    """
    from sentkit.io.model_identity import model_identity

    array = _as_matrix(embeddings)
    if texts is not None and len(texts) != array.shape[0]:
        raise InputError(f"Got {len(texts)} texts for {array.shape[0]} embeddings; pass one text per row.")
    if precision is None:
        precision = "float32" if array.dtype.kind == "f" else str(array.dtype)
    if normalized is None:
        normalized = array.dtype.kind == "f" and bool(np.allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-4))
    identity = {"name": None, "dimension": array.shape[1], "normalized": normalized, "precision": precision}
    if model is not None:
        identity = model_identity(model, normalized=normalized, precision=precision)
    folder = Path(folder)
    clear_folder(folder)
    manifest = new_manifest(identity, dict(settings or {}), texts is not None)
    manifest["shards"] = [write_shard(folder, 0, array, texts)]
    manifest.update(rows=array.shape[0], dimension=array.shape[1], dtype=str(array.dtype), complete=True)
    write_manifest(folder, manifest)
    return folder


def load_embeddings(folder: str | Path, mmap: bool = False) -> StoredEmbeddings:
    """Load a whole embeddings folder into memory (``mmap=True``: memory-mapped when it has one shard).

    For corpora larger than memory use :func:`sentkit.io.embeddings_reader.open_embeddings`.

    Raises:
        InputError: not an embeddings folder, or a shard that is missing or does not match the manifest.
    """
    reader = EmbeddingReader(folder)
    embeddings = reader.shard_embeddings(0) if mmap and len(reader.shard_rows) == 1 else np.asarray(reader)
    texts = list(reader.texts) if reader.texts is not None else None
    return StoredEmbeddings(embeddings, texts, dict(reader.model), reader.manifest)


def clear_folder(folder: Path) -> None:
    """Create ``folder``, or empty it of a previous embeddings store (only files of this format).

    Raises:
        InputError: ``folder`` holds other files and no manifest (refusing to mix or delete them).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ours = [path for path in folder.iterdir() if _is_store_file(path.name)]
    others = [path.name for path in folder.iterdir() if not _is_store_file(path.name)]
    if others and not (folder / MANIFEST).exists():
        raise InputError(f"{folder} holds other files ({', '.join(sorted(others)[:3])}...); use an empty folder.")
    for path in ours:
        path.unlink()


def _is_store_file(name: str) -> bool:
    base = name.removesuffix(".tmp")
    return base == MANIFEST or (base.startswith(("embeddings-", "texts-")) and base.endswith((".npy", ".txt")))


def _as_matrix(embeddings: Any) -> np.ndarray:
    if hasattr(embeddings, "detach"):
        embeddings = embeddings.detach().cpu()
        if str(embeddings.dtype) == "torch.bfloat16":
            embeddings = embeddings.float()
        embeddings = embeddings.numpy()
    elif isinstance(embeddings, list) and embeddings and hasattr(embeddings[0], "detach"):
        embeddings = np.stack([item.detach().cpu().float().numpy() for item in embeddings])
    array = np.asarray(embeddings)
    if array.ndim != 2:
        raise InputError(f"embeddings must be 2-D (N, D), got shape {array.shape}.")
    return array
