"""Semantic search on FAISS and usearch indexes, on quantized corpora, with float rescoring.

The ``index`` extra (``pip install 'sentkit[index]'``) provides faiss-cpu and usearch; each
function imports its library when called. The parameters and return values are those of
``sentence_transformers.util.semantic_search_faiss`` / ``semantic_search_usearch``.

Rescoring happens when ``rescore`` is true, the queries are float and the corpus is quantized:
``top_k * rescore_multiplier`` candidates are fetched from the index, their quantized embeddings
are read back (int8/uint8 ones mapped back to floats with the quantization ``ranges``, binary
ones unpacked to 0/1 bits), scored by dot product with the float queries, and the best ``top_k``
kept.

Differences from the reference, all where it would fail: a single query (D,) is taken as (1, D);
torch tensors and lists are accepted and made numpy arrays.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from sentkit._optional import require
from sentkit.errors import InputError
from sentkit.inference.precision import quantize_embeddings

logger = logging.getLogger(__name__)

SearchResults = list[list[dict[str, int | float]]]
FAISS_PRECISIONS = ("float32", "uint8", "ubinary")
USEARCH_PRECISIONS = ("float32", "int8", "ubinary", "binary")
_HNSW_NEIGHBOURS = 16  # links per node of the approximate (exact=False) indexes


def semantic_search_faiss(
    query_embeddings: Any,
    corpus_embeddings: Any = None,
    corpus_index: Any = None,
    corpus_precision: str = "float32",
    top_k: int = 10,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
    rescore: bool = True,
    rescore_multiplier: int = 2,
    exact: bool = True,
    output_index: bool = False,
) -> tuple[Any, ...]:
    """Search a FAISS index (built from ``corpus_embeddings`` unless ``corpus_index`` is given).

    ``query_embeddings`` (Q, D) float (for rescoring) or already quantized; ``corpus_embeddings``
    (C, D) at ``corpus_precision`` ("float32", "uint8", or "ubinary" packed to (C, D / 8)).
    float32 and uint8 use an inner-product index (``IndexFlatIP``, or HNSW when ``exact`` is
    False), ubinary a Hamming one (``IndexBinaryFlat`` / ``IndexBinaryHNSW``). Float queries are
    quantized to the corpus precision with ``ranges`` or ``calibration_embeddings`` (else the
    queries' own ranges); use the ones the corpus was quantized with.

    Returns:
        ``(results, search_seconds)``, plus the index when ``output_index``; ``results`` holds one
        list per query of at most ``top_k`` ``{"corpus_id": int, "score": float}``, best first
        (fewer when the index holds fewer).

    Raises:
        InputError: both or neither of ``corpus_embeddings`` and ``corpus_index``, an unsupported
            precision, or uint8 ranges that would have to come from a single query.
        MissingDependencyError: faiss is not installed.
    """
    faiss = require("faiss", "index", "semantic_search_faiss")
    corpus = _check_corpus(corpus_embeddings, corpus_index, corpus_precision, FAISS_PRECISIONS, "faiss")
    if corpus_index is None:
        corpus_index = _build_faiss_index(faiss, corpus, corpus_precision, exact)
    queries = _as_numpy(query_embeddings)
    plan = _QueryPlan(queries, corpus_precision, corpus_precision != "float32", top_k, rescore, rescore_multiplier)
    queries = plan.quantized_queries(ranges, calibration_embeddings, "semantic_search_faiss")

    started = time.perf_counter()
    scores, indices = corpus_index.search(queries, plan.k)  # (Q, k) each; index -1 pads short lists
    valid = indices != -1
    if plan.rescore_queries is not None:
        candidates = _faiss_candidates(corpus_index, indices, corpus_precision)  # (Q, k, D or D / 8)
        scores, indices, valid = plan.rescore(candidates, indices, valid)
    elapsed = time.perf_counter() - started
    return _outputs(scores, indices, valid, elapsed, corpus_index if output_index else None)


def semantic_search_usearch(
    query_embeddings: Any,
    corpus_embeddings: Any = None,
    corpus_index: Any = None,
    corpus_precision: str = "float32",
    top_k: int = 10,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
    rescore: bool = True,
    rescore_multiplier: int = 2,
    exact: bool = True,
    output_index: bool = False,
) -> tuple[Any, ...]:
    """Search a usearch index (built from ``corpus_embeddings`` unless ``corpus_index`` is given).

    ``corpus_precision`` is "float32" (cosine index; scores are usearch's cosine *distances*,
    lower is closer, as in the reference), "int8" (inner product) or "ubinary"/"binary" (Hamming
    on packed bits). Rescoring, ``ranges`` and the return value are as in
    :func:`semantic_search_faiss`; rescoring applies when the index does not hold float32.

    Raises:
        InputError: both or neither of ``corpus_embeddings`` and ``corpus_index``, an unsupported
            precision, or int8 ranges that would have to come from a single query.
        MissingDependencyError: usearch is not installed.
    """
    usearch_index = require("usearch.index", "index", "semantic_search_usearch")
    corpus = _check_corpus(corpus_embeddings, corpus_index, corpus_precision, USEARCH_PRECISIONS, "usearch")
    if corpus_index is None:
        corpus_index = _build_usearch_index(usearch_index.Index, corpus, corpus_precision)
    queries = _as_numpy(query_embeddings)
    quantized_index = corpus_index.dtype != usearch_index.ScalarKind.F32
    plan = _QueryPlan(queries, corpus_precision, quantized_index, top_k, rescore, rescore_multiplier)
    queries = plan.quantized_queries(ranges, calibration_embeddings, "semantic_search_usearch")

    started = time.perf_counter()
    if corpus_precision == "binary":
        queries = queries.view(np.uint8) ^ 0x80  # the b1 index holds raw bytes, without the -128 offset
    matches = corpus_index.search(queries, count=plan.k, exact=exact)
    scores, indices = np.atleast_2d(matches.distances), np.atleast_2d(matches.keys)  # (Q, k)
    counts = np.reshape(np.asarray(getattr(matches, "counts", indices.shape[1])), (-1, 1))  # real matches per query
    valid = np.arange(indices.shape[1]) < counts  # (Q, k)
    if plan.rescore_queries is not None and valid.any():
        placeholders = np.where(valid, indices, indices[valid][0])  # any real key in the padding slots
        candidates = np.array([corpus_index.get(keys) for keys in placeholders])  # (Q, k, D or D / 8)
        scores, indices, valid = plan.rescore(candidates, indices, valid)
    elapsed = time.perf_counter() - started
    return _outputs(scores, indices, valid, elapsed, corpus_index if output_index else None)


class _QueryPlan:
    """How the queries meet a (possibly quantized) corpus: quantization, oversampling, rescoring."""

    def __init__(
        self,
        queries: np.ndarray,
        precision: str,
        corpus_quantized: bool,
        top_k: int,
        rescore: bool,
        rescore_multiplier: int,
    ) -> None:
        if top_k <= 0 or rescore_multiplier <= 0:
            raise InputError(f"top_k and rescore_multiplier must be positive, got {top_k} and {rescore_multiplier}.")
        self.queries = queries[None, :] if queries.ndim == 1 else queries  # (Q, D)
        self.precision = precision
        self.top_k = top_k
        self.k = top_k
        self.ranges: np.ndarray | None = None
        self.rescore_queries: np.ndarray | None = None  # float (Q, D) when rescoring
        self.float_queries = self.queries.dtype not in (np.uint8, np.int8)
        if self.float_queries and rescore and corpus_quantized:
            self.rescore_queries = self.queries
            self.k = top_k * rescore_multiplier
        elif self.float_queries and rescore:
            logger.warning(
                "Rescoring is enabled but the corpus is not quantized. Either pass `rescore=False` or quantize "
                "the corpus embeddings with `quantize_embeddings(embeddings, precision=...)` and pass "
                "`corpus_precision=...`."
            )
        elif rescore and not self.float_queries:
            logger.warning(
                "Rescoring is enabled but the query embeddings are quantized. Either pass `rescore=False` or "
                "don't quantize the query embeddings."
            )

    def quantized_queries(self, ranges: Any, calibration: Any, function: str) -> np.ndarray:
        """The queries at the corpus precision (unchanged when already quantized)."""
        if not self.float_queries:
            return self.queries
        if self.precision.endswith("int8"):
            self.ranges = _scalar_ranges(self.queries, self.precision, ranges, calibration, function)
        return quantize_embeddings(self.queries, self.precision, ranges=self.ranges)

    def rescore(
        self, candidates: np.ndarray, indices: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dot products of the float queries with their candidates (Q, k, .); the best ``top_k`` per query."""
        queries = self.rescore_queries
        if queries is None:
            raise InputError("Rescoring needs float query embeddings.")
        if self.precision.endswith("binary"):
            # packbits padded the dimension to whole bytes; drop those bits again
            candidates = np.unpackbits(candidates.astype(np.uint8), axis=-1)[..., : queries.shape[-1]]
        candidates = candidates.astype(int)
        if self.precision.endswith("int8") and self.ranges is not None:
            candidates = _dequantize(candidates, self.precision, self.ranges)
        scores = np.einsum("ij,ikj->ik", queries, candidates).astype(np.float64, copy=False)  # (Q, k)
        scores[~valid] = -np.inf  # padding never outranks a real candidate
        rows = np.arange(len(queries))[:, None]
        best = np.argsort(-scores)[:, : self.top_k]  # (Q, top_k)
        return scores[rows, best], indices[rows, best], valid[rows, best]


def _check_corpus(corpus_embeddings: Any, corpus_index: Any, precision: str, allowed: tuple[str, ...], lib: str) -> Any:
    if corpus_embeddings is not None and corpus_index is not None:
        raise InputError("Pass corpus_embeddings or corpus_index, not both.")
    if corpus_embeddings is None and corpus_index is None:
        raise InputError("Pass corpus_embeddings or corpus_index.")
    if precision not in allowed:
        raise InputError(f"corpus_precision={precision!r} is not supported by {lib}; use one of {', '.join(allowed)}.")
    return None if corpus_embeddings is None else _as_numpy(corpus_embeddings)


def _as_numpy(embeddings: Any) -> np.ndarray:
    """A numpy view of an array, a torch tensor or a list of either."""
    if hasattr(embeddings, "detach"):
        embeddings = embeddings.detach().cpu().numpy()
    elif isinstance(embeddings, list) and embeddings and hasattr(embeddings[0], "detach"):
        embeddings = np.stack([item.detach().cpu().numpy() for item in embeddings])
    return np.asarray(embeddings)


def _scalar_ranges(queries: np.ndarray, precision: str, ranges: Any, calibration: Any, function: str) -> np.ndarray:
    """(2, D) quantization ranges: given, else from the calibration embeddings, else from the queries."""
    if ranges is not None:
        return np.asarray(ranges)
    source = queries if calibration is None else _as_numpy(calibration)
    if calibration is None:
        if len(queries) == 1:
            raise InputError(
                f"{function} cannot compute {precision} quantization ranges from a single query. Pass the "
                "`ranges` or `calibration_embeddings` that the corpus was quantized with."
            )
        if len(queries) < 100:
            logger.warning(
                "Computing %s quantization buckets from %d query embeddings; pass the corpus's `ranges` or "
                "`calibration_embeddings` for buckets that match the corpus.",
                precision,
                len(queries),
            )
    return np.vstack((np.min(source, axis=0), np.max(source, axis=0)))


def _dequantize(embeddings: np.ndarray, precision: str, ranges: np.ndarray) -> np.ndarray:
    """int8/uint8 bucket numbers back to floats: the lower edge of each bucket, in float64."""
    ranges = np.asarray(ranges, dtype=np.float32)
    steps = (ranges[1] - ranges[0]) / 255
    steps = np.where(steps == 0, 1, steps)
    buckets = embeddings.astype(np.float64) + (128 if precision == "int8" else 0)
    return buckets * steps + ranges[0]


def _build_faiss_index(faiss: Any, corpus: np.ndarray, precision: str, exact: bool) -> Any:
    dim = corpus.shape[1]
    if precision == "ubinary":
        index = faiss.IndexBinaryFlat(dim * 8) if exact else faiss.IndexBinaryHNSW(dim * 8, _HNSW_NEIGHBOURS)
    elif exact:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, _HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    index.add(corpus)
    return index


def _faiss_candidates(index: Any, indices: np.ndarray, precision: str) -> np.ndarray:
    """(Q, k, width) stored embeddings of the candidates; zeros where faiss padded with -1."""
    width = index.d // 8 if precision == "ubinary" else index.d
    zero = np.zeros(width, dtype=np.uint8 if precision == "ubinary" else np.float32)
    return np.array([[index.reconstruct(int(i)) if i != -1 else zero for i in row] for row in indices])


def _build_usearch_index(index_class: Any, corpus: np.ndarray, precision: str) -> Any:
    dim = corpus.shape[1]
    if precision == "float32":
        index = index_class(ndim=dim, metric="cos", dtype="f32")
    elif precision == "int8":
        index = index_class(ndim=dim, metric="ip", dtype="i8")
    else:
        index = index_class(ndim=dim * 8, metric="hamming", dtype="b1")
        if precision == "binary":
            corpus = corpus.view(np.uint8) ^ 0x80  # the b1 index reads raw bytes: undo the -128 offset
    index.add(np.arange(len(corpus)), corpus)
    return index


def _outputs(scores: np.ndarray, indices: np.ndarray, valid: np.ndarray, elapsed: float, index: Any) -> tuple[Any, ...]:
    results: SearchResults = [
        [
            {"corpus_id": int(i), "score": float(s)}
            for s, i, ok in zip(row_scores, row_ids, row_valid, strict=True)
            if ok
        ]
        for row_scores, row_ids, row_valid in zip(scores, indices, valid, strict=True)
    ]
    return (results, elapsed) if index is None else (results, elapsed, index)
