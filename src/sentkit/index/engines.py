"""Search engines behind a vector index: exact scan (numpy), or HNSW graphs from usearch or faiss.

An engine finds candidate rows for prepared float queries (Q, D); the index scores them. Engines
key rows by their position in the index's store, so removing rows rebuilds an approximate graph.
What each approximate engine holds, per precision (the ``index`` extra provides both libraries):

    precision     usearch                                     faiss
    float32       f32 rows; inner product (L2 for euclidean)  IndexHNSWFlat; inner product (L2)
    int8, uint8   i8 rows with one scale for all dimensions   IndexHNSWSQ, 8 bits per dimension, trained on the ranges
    (u)binary     the packed sign bits; Hamming               IndexBinaryHNSW; Hamming

usearch and faiss serialize their graph (with their own copy of the rows) to bytes, which the
index file stores; the exact engine holds nothing of its own.

The exact engine scans the stored rows (float32, or the reconstruction of the codes) in blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from sentkit._optional import require
from sentkit.errors import InputError
from sentkit.index.codec import Codec
from sentkit.index.scoring import chunk_rows, exact_top_k
from sentkit.index.store import VectorStore

ENGINES = ("exact", "usearch", "faiss")


@dataclass(frozen=True)
class GraphOptions:
    """HNSW settings of the approximate engines.

    connectivity: links per node (M); more links, better recall, more memory.
    expansion_add: candidates kept while inserting (efConstruction); more is slower to build, better graphs.
    expansion_search: candidates kept while searching (efSearch); raised to the number asked for when lower.
    """

    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 64

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InputError(f"{name} must be a positive integer, got {value!r}.")


class Engine(Protocol):
    """Finds candidate rows; ``search`` answers (Q, k) int64 row numbers, best first, -1 where none."""

    name: str

    def add(self, codes: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> np.ndarray: ...

    def to_bytes(self) -> bytes | None: ...

    def __len__(self) -> int: ...


class ExactEngine:
    """A full scan of the store: every row scored against every query (no extra memory, no graph)."""

    name = "exact"

    def __init__(self, store: VectorStore) -> None:
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def add(self, codes: np.ndarray) -> None:
        """Nothing to do: the scan reads the store."""

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        chunks = self.store.decoded_chunks(chunk_rows(len(queries)))
        return exact_top_k(queries, chunks, min(k, len(self.store)), self.store.codec.metric)

    def to_bytes(self) -> bytes | None:
        return None


class UsearchEngine:
    """A usearch HNSW index over the stored codes."""

    name = "usearch"

    def __init__(self, codec: Codec, options: GraphOptions, blob: bytes | None = None) -> None:
        module = require("usearch.index", "index", "VectorIndex(engine='usearch')")
        self.codec = codec
        if blob is not None:
            self.index = module.Index.restore(bytearray(blob))
            if self.index is None:
                raise ValueError("usearch could not read the saved graph")
        else:
            if codec.binary:
                ndim, metric, dtype = codec.width * 8, "hamming", "b1"
            else:
                ndim, dtype = codec.dimension, "f32" if not codec.quantized else "i8"
                metric = "l2sq" if codec.metric == "euclidean" else "ip"
            self.index = module.Index(
                ndim=ndim,
                metric=metric,
                dtype=dtype,
                connectivity=options.connectivity,
                expansion_add=options.expansion_add,
                expansion_search=options.expansion_search,
            )
        self.index.expansion_search = options.expansion_search

    def __len__(self) -> int:
        return len(self.index)

    def _vectors(self, codes: np.ndarray) -> np.ndarray:
        """Codes as usearch holds them: f32 rows, packed bits, or int8 rows (see :meth:`_symmetric`)."""
        if self.codec.binary:
            return self.codec.packed_bits(codes)
        if self.codec.quantized:
            return self._symmetric(self.codec.decode(codes, None))
        return codes

    def _symmetric(self, vectors: np.ndarray) -> np.ndarray:
        """Float rows (n, D) as int8 with one scale for all dimensions (the largest range bound -> 127).

        The per-dimension buckets of the stored codes do not multiply like the values they stand for;
        one shared scale keeps inner products and distances proportional, so usearch ranks as floats would.
        """
        ranges = self.codec.ranges
        bound = float(np.abs(ranges).max()) if ranges is not None else 1.0
        scaled = np.rint(vectors * (127 / max(bound, 1e-12)))
        return np.clip(scaled, -127, 127).astype(np.int8)

    def add(self, codes: np.ndarray) -> None:
        keys = np.arange(len(self.index), len(self.index) + len(codes), dtype=np.uint64)
        self.index.add(keys, np.ascontiguousarray(self._vectors(codes)))

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        if self.codec.binary:
            vectors = self.codec.packed_bits(self.codec.encode(queries))
        else:
            vectors = self._symmetric(queries) if self.codec.quantized else queries
        vectors = np.ascontiguousarray(vectors)
        matches = self.index.search(vectors, count=k)
        rows = np.full((len(vectors), k), -1, dtype=np.int64)  # (Q, k)
        if len(vectors) == 1:  # one query: usearch answers its found matches only
            rows[0, : len(matches)] = matches.keys[:k]
            return rows
        found = np.arange(k) < np.asarray(matches.counts)[:, None]  # (Q, k) real matches
        rows[found] = matches.keys[found]
        return rows

    def to_bytes(self) -> bytes | None:
        return bytes(self.index.save())


class FaissEngine:
    """A faiss HNSW index over the stored codes."""

    name = "faiss"

    def __init__(self, codec: Codec, options: GraphOptions, blob: bytes | None = None) -> None:
        self.faiss = faiss = require("faiss", "index", "VectorIndex(engine='faiss')")
        self.codec = codec
        if blob is not None:
            buffer = np.frombuffer(blob, dtype=np.uint8)
            self.index = faiss.deserialize_index_binary(buffer) if codec.binary else faiss.deserialize_index(buffer)
        elif codec.binary:
            self.index = faiss.IndexBinaryHNSW(codec.width * 8, options.connectivity)
        else:
            metric = faiss.METRIC_L2 if codec.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
            if codec.quantized:
                quantizer = faiss.ScalarQuantizer.QT_8bit
                self.index = faiss.IndexHNSWSQ(codec.dimension, quantizer, options.connectivity, metric)
                if codec.ranges is None:
                    raise InputError("The int8/uint8 ranges must be set before a faiss engine is built.")
                self.index.train(np.ascontiguousarray(codec.ranges))  # per-dimension min and max = the ranges
            else:
                self.index = faiss.IndexHNSWFlat(codec.dimension, options.connectivity, metric)
        if blob is None:
            self.index.hnsw.efConstruction = options.expansion_add
        self.index.hnsw.efSearch = options.expansion_search

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def _vectors(self, codes: np.ndarray) -> np.ndarray:
        """Codes as faiss takes them: packed bits, or float32 rows (int8/uint8 decoded to bucket centres)."""
        if self.codec.binary:
            return self.codec.packed_bits(codes)
        return self.codec.decode(codes, None)

    def add(self, codes: np.ndarray) -> None:
        self.index.add(np.ascontiguousarray(self._vectors(codes)))

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        if self.codec.binary:
            queries = self.codec.packed_bits(self.codec.encode(queries))  # Hamming on the sign bits
        _, rows = self.index.search(np.ascontiguousarray(queries), k)  # (Q, k), -1 where none
        return rows.astype(np.int64)

    def to_bytes(self) -> bytes | None:
        if self.codec.binary:
            return bytes(self.faiss.serialize_index_binary(self.index))
        return bytes(self.faiss.serialize_index(self.index))


def create_engine(name: str, store: VectorStore, options: GraphOptions, blob: bytes | None = None) -> Engine:
    """The engine ``name`` over ``store``: restored from ``blob`` when given, else built from the stored codes.

    Raises:
        InputError: an unknown engine name.
        MissingDependencyError: usearch or faiss is not installed.
        ValueError, RuntimeError: the library cannot read ``blob``.
    """
    engine: Engine
    if name == "exact":
        return ExactEngine(store)
    if name == "usearch":
        engine = UsearchEngine(store.codec, options, blob)
    elif name == "faiss":
        engine = FaissEngine(store.codec, options, blob)
    else:
        raise InputError(f"engine={name!r} is not supported; use one of {', '.join(ENGINES)}.")
    if blob is None and len(store):
        engine.add(store.codes.array)
    return engine
