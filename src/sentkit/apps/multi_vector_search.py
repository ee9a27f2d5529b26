"""Late-interaction search: token embeddings of a corpus streamed to disk, and top-k MaxSim search over them.

Storage format ``sentkit-token-embeddings``, version 1 (shards as in
:mod:`sentkit.io.embeddings_store`, whose atomic writes and text files it reuses)::

    folder/
        manifest.json            {"format": "sentkit-token-embeddings", "version": 1, "documents": N,
                                  "tokens": T, "dimension": D, "dtype": "float32", "has_texts": bool,
                                  "shards": [{"index", "documents", "tokens"}, ...], "model": {...},
                                  "settings": {...}, "complete": bool}
        embeddings-00000.npy     (t_0, D) the token vectors of shard 0's documents, one after another
        lengths-00000.npy        (n_0,) int64 tokens per document (sum = t_0)
        texts-00000.txt, texts-00000.offsets.npy   the documents' texts (optional)

Memory: :func:`encode_token_embeddings_to_disk` holds one shard of documents at a time;
:func:`multi_vector_search` reads ``corpus_chunk_size`` documents at a time (memory-mapped) and
keeps a running top-k per query; inside a chunk :func:`sentkit.maxsim.maxsim` keeps every
similarity block within ``chunk_elements`` elements.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sentkit.errors import InputError, InputTypeError
from sentkit.io.embeddings_format import ShardFiles, read_manifest
from sentkit.io.embeddings_store import clear_folder, write_atomic, write_manifest, write_shard
from sentkit.io.model_identity import model_identity
from sentkit.maxsim import maxsim

__all__ = ["TokenEmbeddingsReader", "encode_token_embeddings_to_disk", "multi_vector_search"]

FORMAT_NAME = "sentkit-token-embeddings"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _lengths_file(index: int) -> str:
    return f"lengths-{index:05d}.npy"


def encode_token_embeddings_to_disk(
    model: Any,
    documents: Iterable[str],
    folder: str | Path,
    shard_size: int = 1000,
    batch_size: int = 32,
    store_texts: bool = True,
    **encode_kwargs: Any,
) -> TokenEmbeddingsReader:
    """Encode ``documents`` with ``model.encode_document`` into ``folder``, one shard at a time.

    ``documents`` is read lazily (a generator or a file's lines works), so memory holds one shard
    of ``shard_size`` documents. ``encode_kwargs`` go to ``encode_document`` (``prompt_name``,
    ``normalize_embeddings`` ...). A previous store in ``folder`` is replaced. Document ``i`` of the
    result equals ``model.encode_document(documents)[i]`` (to float rounding).

    Returns:
        A :class:`TokenEmbeddingsReader` of the folder.

    Raises:
        InputTypeError: ``documents`` is a single str, or an item is not a str (names its index).
        InputError: a bad ``shard_size``, or a folder holding other files.
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
        raise InputError(f"shard_size must be a positive int, got {shard_size!r}.")
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Iterable):
        raise InputTypeError(f"documents must be an iterable of str, got {type(documents).__name__}.")
    folder = Path(folder)
    _clear(folder)
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "documents": 0,
        "tokens": 0,
        "dimension": model.get_embedding_dimension(),
        "dtype": "float32",
        "has_texts": store_texts,
        "shards": [],
        "model": model_identity(model),
        "settings": json.loads(json.dumps(encode_kwargs, default=repr)),
        "complete": False,
    }
    write_manifest(folder, manifest)
    items = iter(documents)
    for index in itertools.count():
        shard = list(itertools.islice(items, shard_size))
        if not shard:
            break
        for offset, text in enumerate(shard):
            if not isinstance(text, str):
                number = manifest["documents"] + offset
                raise InputTypeError(
                    f"Document at index {number} is {type(text).__name__}; every document must be a str."
                )
        embeddings = model.encode_document(shard, batch_size=batch_size, convert_to_numpy=True, **encode_kwargs)
        _write_token_shard(folder, index, embeddings, shard if store_texts else None, manifest)
        write_manifest(folder, manifest)  # the commit point of this shard
    manifest["complete"] = True
    write_manifest(folder, manifest)
    return TokenEmbeddingsReader(folder)


def _clear(folder: Path) -> None:
    """Empty ``folder`` of a previous token store (refusing folders with other files, as clear_folder does)."""
    if (folder / MANIFEST).is_file():
        for path in folder.glob("lengths-*.npy*"):
            path.unlink()
    clear_folder(folder)


def _write_token_shard(
    folder: Path, index: int, embeddings: list[np.ndarray], texts: list[str] | None, manifest: dict[str, Any]
) -> None:
    dimension = int(manifest["dimension"] or (embeddings[0].shape[1] if embeddings else 0))
    lengths = np.array([len(item) for item in embeddings], dtype=np.int64)  # (n,)
    flat = np.concatenate([np.asarray(item, dtype=np.float32).reshape(-1, dimension) for item in embeddings])  # (t, D)
    write_shard(folder, index, flat, texts)
    write_atomic(folder / _lengths_file(index), lambda handle: np.save(handle, lengths))
    manifest["shards"].append({"index": index, "documents": len(embeddings), "tokens": int(lengths.sum())})
    manifest.update(
        documents=manifest["documents"] + len(embeddings),
        tokens=manifest["tokens"] + int(lengths.sum()),
        dimension=dimension,
    )


class TokenEmbeddingsReader(Sequence[np.ndarray]):
    """Read a token-embeddings folder lazily: ``reader[i]`` is document ``i``'s (T_i, D) array.

    Shards are memory-mapped, so only what is indexed is read. ``texts`` is the documents' texts
    (a list read on first use) or None.

    Raises:
        InputError: not a token-embeddings folder, a newer format, or files that disagree with the manifest.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        manifest = read_manifest(self.folder, FORMAT_NAME, FORMAT_VERSION, kind="token-embeddings")
        self.manifest = manifest
        self.dimension = int(manifest["dimension"] or 0)
        self._shards = [int(shard["index"]) for shard in manifest["shards"]]
        counts = [int(shard["documents"]) for shard in manifest["shards"]]
        self._first_document = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])  # (S + 1,)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._texts: list[str] | None = None

    @property
    def complete(self) -> bool:
        """False when the run that wrote the folder stopped before its end."""
        return bool(self.manifest.get("complete"))

    def __len__(self) -> int:
        return int(self._first_document[-1])

    def _shard(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens (t, D) memory-mapped, token offsets (n + 1,)) of the shard at ``position``."""
        if position not in self._cache:
            index = self._shards[position]
            tokens = np.load(self.folder / ShardFiles(index).embeddings, mmap_mode="r")
            lengths = np.load(self.folder / _lengths_file(index))
            expected = int(self.manifest["shards"][position]["documents"])
            if len(lengths) != expected or tokens.shape[0] != int(lengths.sum()):
                raise InputError(f"Shard {index} of {self.folder} does not match its manifest; re-encode the corpus.")
            self._cache[position] = (tokens, np.concatenate([[0], np.cumsum(lengths)]))
        return self._cache[position]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(len(self)))]
        index = int(key)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"Document {key} is out of range for {len(self)} documents.")
        position = int(np.searchsorted(self._first_document, index, side="right")) - 1
        tokens, offsets = self._shard(position)
        row = index - int(self._first_document[position])
        return np.asarray(tokens[offsets[row] : offsets[row + 1]])  # (T_i, D)

    def iter_chunks(self, documents: int) -> Iterator[tuple[int, list[np.ndarray]]]:
        """``(first document index, [(T_i, D) arrays])`` for consecutive chunks of ``documents`` documents."""
        for start in range(0, len(self), documents):
            yield start, self[start : start + documents]

    @property
    def texts(self) -> list[str] | None:
        if not self.manifest.get("has_texts"):
            return None
        if self._texts is None:
            texts: list[str] = []
            for index in self._shards:
                files = ShardFiles(index)
                data = (self.folder / files.texts).read_bytes()
                offsets = np.load(self.folder / files.offsets)
                texts.extend(
                    data[start:end].decode("utf-8", "surrogatepass") for start, end in itertools.pairwise(offsets)
                )
            self._texts = texts
        return self._texts


def multi_vector_search(
    query_embeddings: Any,
    corpus_embeddings: Sequence[Any],
    top_k: int = 10,
    corpus_chunk_size: int = 1000,
    score_function: Callable[..., Tensor] = maxsim,
    chunk_elements: int | None = None,
    device: str | torch.device | None = None,
) -> list[list[dict[str, int | float]]]:
    """The ``top_k`` documents of ``corpus_embeddings`` for each query, by MaxSim.

    Args:
        query_embeddings: a list of (T_i, D) tensors or arrays (``encode_query``'s output) or one (T, D).
        corpus_embeddings: a list of (T_j, D) tensors or arrays, or a :class:`TokenEmbeddingsReader`.
        top_k: results per query.
        corpus_chunk_size: documents scored (and, from a reader, read) at once.
        score_function: ``maxsim`` or ``mean_maxsim`` (or any function with their signature).
        chunk_elements, device: passed to ``score_function`` (memory budget, scoring device).

    Returns:
        One list per query of ``{"corpus_id": int, "score": float}``, best first.

    Raises:
        InputError: non-positive ``top_k`` or ``corpus_chunk_size``, or mismatched embedding sizes.
    """
    for name, value in (("top_k", top_k), ("corpus_chunk_size", corpus_chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InputError(f"{name} must be a positive int, got {value!r}.")
    if isinstance(query_embeddings, (Tensor, np.ndarray)) and query_embeddings.ndim == 2:
        query_embeddings = [query_embeddings]
    queries = list(query_embeddings)
    best_scores = torch.empty((len(queries), 0))
    best_ids = torch.empty((len(queries), 0), dtype=torch.long)
    chunks = (
        corpus_embeddings.iter_chunks(corpus_chunk_size)
        if isinstance(corpus_embeddings, TokenEmbeddingsReader)
        else _chunks(corpus_embeddings, corpus_chunk_size)
    )
    for start, documents in chunks:
        kwargs: dict[str, Any] = {"chunk_elements": chunk_elements}
        if device is not None:
            kwargs["device"] = device
        scores = score_function(queries, documents, **kwargs).cpu()  # (Q, c)
        ids = torch.arange(start, start + len(documents)).expand(len(queries), -1)  # (Q, c)
        merged_scores = torch.cat([best_scores, scores], dim=1)
        merged_ids = torch.cat([best_ids, ids], dim=1)
        k = min(top_k, merged_scores.shape[1])
        best_scores, positions = torch.topk(merged_scores, k, dim=1)  # (Q, k), best first
        best_ids = merged_ids.gather(1, positions)
    return [
        [{"corpus_id": int(i), "score": float(s)} for i, s in zip(ids_row, scores_row, strict=True)]
        for ids_row, scores_row in zip(best_ids.tolist(), best_scores.tolist(), strict=True)
    ]


def _chunks(corpus: Sequence[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(corpus), size):
        yield start, list(corpus[start : start + size])
