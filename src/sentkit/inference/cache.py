"""An on-disk embedding cache: re-encoding a text the cache has seen costs a lookup, not a forward pass.

Entries live in one SQLite file (the standard library's ``sqlite3``; WAL mode, so several
processes may share it). The key of an entry is the sha256 of the model's fingerprint (weights,
modules, tokenizer, prompts: :func:`sentkit.io.model_identity.model_fingerprint`), the encode
settings that shape a row (prompt, prompt_name, task, normalize_embeddings, truncate_dim ...) and
the text; the value is the float32 embedding. Arguments that do not change a row (batch_size,
device, show_progress_bar) are not part of the key.

``cache.encode(model, sentences, **kwargs)`` returns what ``model.encode(sentences, **kwargs)``
returns (to float rounding: misses are batched together), with one difference: tensors come back
as float32 whatever the model's dtype. Quantized precisions are applied after the lookup, over the
whole call, exactly as ``encode`` does. Outputs other than sentence embeddings are not cached.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np

from sentkit.errors import InputError
from sentkit.inference.inputs import as_text_list, split_task_inputs
from sentkit.inference.precision import quantize_embeddings
from sentkit.io.model_identity import model_fingerprint

__all__ = ["EmbeddingCache"]

# encode arguments that do not change a row, so they are left out of the key.
_NEUTRAL = {"batch_size", "show_progress_bar", "device", "pool", "chunk_size"}
_OUTPUT = ("precision", "convert_to_numpy", "convert_to_tensor")
_LOOKUP_CHUNK = 500  # keys per SELECT, below SQLite's variable limit


class EmbeddingCache:
    """A persistent map (model, settings, text) -> float32 embedding, in the SQLite file ``path``.

    Use as a context manager or call :meth:`close`. ``hits`` and ``misses`` count texts looked up.
    Thread-safe (one connection behind a lock).

    Raises:
        InputError: ``path`` cannot be opened as a SQLite database.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, dimension INTEGER, vector BLOB)"
            )
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"Cannot use {self.path} as an embedding cache: {exc}") from exc
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._db.execute("DELETE FROM embeddings")
            self._db.commit()

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The stored float32 vectors (D,) of those ``keys`` that are present."""
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, vector FROM embeddings WHERE key IN ({marks})"
                for key, vector in self._db.execute(query, chunk):
                    found[bytes(key)] = np.frombuffer(vector, dtype=np.float32)
        return found

    def put_many(self, items: dict[bytes, np.ndarray]) -> None:
        """Store float32 vectors (D,) under their keys (replacing existing entries)."""
        rows = [(key, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for key, v in items.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)
            self._db.commit()

    def encode(self, model: Any, sentences: Any, **kwargs: Any) -> Any:
        """``model.encode(sentences, **kwargs)``, encoding only the texts not in the cache.

        Raises:
            Whatever ``model.encode`` raises for these arguments (checked before any lookup).
        """
        if kwargs.get("output_value", "sentence_embedding") != "sentence_embedding":
            return model.encode(sentences, **kwargs)
        model.encode([], **kwargs)  # argument checks only
        output = {key: kwargs.pop(key) for key in _OUTPUT if key in kwargs}
        task = kwargs.get("task")
        if isinstance(sentences, dict) or (
            isinstance(sentences, list) and sentences and isinstance(sentences[0], dict)
        ):
            sentences, task = split_task_inputs(sentences, task)
            kwargs["task"] = task
        texts, is_single = as_text_list(sentences)
        if not texts:
            return model.encode(texts, **kwargs, **output)
        keys = self.keys(model, texts, **kwargs)
        found = self.get_many(list(dict.fromkeys(keys)))
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in found}
        self.hits += len(texts) - sum(key in missing for key in keys)
        self.misses += sum(key in missing for key in keys)
        if missing:
            encoded = model.encode(list(missing.values()), **kwargs, convert_to_numpy=True)  # (M, D) float32
            fresh = dict(zip(missing, np.asarray(encoded, dtype=np.float32), strict=True))
            self.put_many(fresh)
            found.update(fresh)
        embeddings = np.stack([found[key] for key in keys])  # (N, D)
        return _as_encode_output(embeddings, is_single, **output)

    def keys(self, model: Any, texts: list[str], **kwargs: Any) -> list[bytes]:
        """The cache keys of ``texts`` encoded by ``model`` with these ``encode`` arguments."""
        settings = {key: value for key, value in kwargs.items() if key not in _NEUTRAL and key not in _OUTPUT}
        prefix = f"{model_fingerprint(model)}\0{json.dumps(settings, sort_keys=True, default=repr)}\0".encode()
        return [hashlib.sha256(prefix + text.encode("utf-8", "surrogatepass")).digest() for text in texts]


def _as_encode_output(
    embeddings: np.ndarray,
    is_single: bool,
    precision: str = "float32",
    convert_to_numpy: bool = True,
    convert_to_tensor: bool = False,
) -> Any:
    """Shape float32 (N, D) embeddings the way ``encode`` returns them for these flags."""
    import torch

    result: Any = embeddings if precision == "float32" else quantize_embeddings(embeddings, precision)
    if convert_to_tensor:
        result = torch.from_numpy(np.ascontiguousarray(result))
    elif not convert_to_numpy:
        result = list(torch.from_numpy(np.ascontiguousarray(result)))
    return result[0] if is_single else result
