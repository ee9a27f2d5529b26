"""VectorIndex: embeddings with ids and metadata, top-k search, quantized storage, save and load."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TypedDict

import numpy as np

from sentkit.errors import IndexFormatError, InputError, MissingDependencyError
from sentkit.index.codec import METRICS, PRECISIONS, Codec
from sentkit.index.engines import ENGINES, Engine, ExactEngine, GraphOptions, create_engine
from sentkit.index.persistence import read_index, restored_engine, write_index
from sentkit.index.records import Id, Records
from sentkit.index.scoring import candidate_scores
from sentkit.index.storage import Section
from sentkit.index.store import VectorStore

QUERY_BLOCK = 1024  # queries searched and scored together (bounds the candidate arrays)


class SearchHit(TypedDict):
    """One search result: the id given to :meth:`VectorIndex.add`, its score and its metadata (or None)."""

    corpus_id: int | str
    score: float
    metadata: dict[str, Any] | None


class VectorIndex:
    """A searchable, savable set of embeddings, each with a unique id and optional metadata.

    Args:
        dimension: D, the size of the embeddings.
        metric: "cosine" (rows and queries are L2-normalised when they come in), "dot" or
            "euclidean". Scores are always "higher is closer": cosine similarity, dot product, or
            the negative euclidean distance (as :func:`sentkit.util.euclidean_sim`).
        engine: "exact" scans every row (numpy); "usearch" and "faiss" search an HNSW graph
            (approximate; the ``index`` extra, ``pip install 'sentkit[index]'``), built on first
            search or save and kept up to date by later adds.
        precision: how rows are stored: "float32", "int8"/"uint8" (one byte per dimension) or
            "binary"/"ubinary" (one bit per dimension); see :mod:`sentkit.index.codec`.
        keep_float: for a quantized precision, also keep the float32 embeddings, for exact
            rescoring (4 more bytes per dimension, in memory and in the file).
        ranges, calibration_embeddings: int8/uint8 quantization ranges (2, D), or embeddings to
            take them from; default: the first embeddings added. Later rows are clipped to them.
        connectivity, expansion_add, expansion_search: HNSW settings (see :class:`GraphOptions`).
        info: JSON-able facts saved with the index (``sentkit search`` records the model name).

    Search on a quantized index runs in two steps. The engine finds candidates on the codes (the
    exact engine scans the reconstructed rows; usearch and faiss search their graph of codes).
    The candidates are then scored against the float queries: with the float embeddings when
    ``rescore`` is true and they are kept (exact scores), else with the codes' reconstruction
    (bucket centres, or scaled sign bits: estimated scores). ``rescore`` fetches
    ``top_k * rescore_multiplier`` candidates first, as ``semantic_search_usearch`` does, when that
    can change the result (not for an exact scan without float embeddings).

    Searches may run in several threads at once (a loaded index has its graph ready); ``add``,
    ``remove`` and ``save`` must not run while another thread uses the index.

    Raises (at construction):
        InputError: an unknown metric, engine or precision, a non-positive dimension or HNSW
            setting, ranges of the wrong shape, or ``info`` that is not a JSON-able dict.
        MissingDependencyError: usearch or faiss is asked for but not installed.
    """

    def __init__(
        self,
        dimension: int,
        metric: str = "cosine",
        engine: str = "exact",
        precision: str = "float32",
        *,
        keep_float: bool = False,
        ranges: Any = None,
        calibration_embeddings: Any = None,
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
        info: dict[str, Any] | None = None,
    ) -> None:
        _check_choice("metric", metric, METRICS)
        _check_choice("engine", engine, ENGINES)
        _check_choice("precision", precision, PRECISIONS)
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension <= 0:
            raise InputError(f"dimension must be a positive integer, got {dimension!r}.")
        self._codec = Codec(dimension, metric, precision)
        if ranges is not None and calibration_embeddings is not None:
            raise InputError("Pass ranges or calibration_embeddings, not both.")
        if ranges is not None:
            self._codec.set_ranges(ranges)
        elif calibration_embeddings is not None:
            if precision not in ("int8", "uint8"):
                raise InputError(f"calibration_embeddings only apply to int8/uint8 indexes; this one is {precision}.")
            self._codec.calibrate(self._codec.prepare(calibration_embeddings, "calibration_embeddings"))
        self._options = GraphOptions(connectivity, expansion_add, expansion_search)
        self.info = _checked_info(info)
        self._engine_name = engine
        self._store = VectorStore(self._codec, bool(keep_float))
        self._records = Records()
        self._engine: Engine | None = ExactEngine(self._store) if engine == "exact" else None
        if engine != "exact":
            from sentkit._optional import require

            require("usearch.index" if engine == "usearch" else "faiss", "index", f"VectorIndex(engine={engine!r})")

    # ------------------------------------------------------------------------------ facts
    @property
    def dimension(self) -> int:
        return self._codec.dimension

    @property
    def metric(self) -> str:
        return self._codec.metric

    @property
    def engine(self) -> str:
        return self._engine_name

    @property
    def precision(self) -> str:
        return self._codec.precision

    @property
    def keep_float(self) -> bool:
        return self._store.floats is not None

    @property
    def ranges(self) -> np.ndarray | None:
        """The int8/uint8 quantization ranges (2, D) once set, else None."""
        return None if self._codec.ranges is None else self._codec.ranges.copy()

    @property
    def ids(self) -> list[Id]:
        """The ids of the rows, in the order they were added."""
        return list(self._records.ids)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, item: object) -> bool:
        return isinstance(item, (int, str)) and item in self._records.positions

    def __repr__(self) -> str:
        return (
            f"VectorIndex(dimension={self.dimension}, metric={self.metric!r}, engine={self.engine!r}, "
            f"precision={self.precision!r}, keep_float={self.keep_float}, size={len(self)})"
        )

    # ------------------------------------------------------------------------------ changes
    def add(self, embeddings: Any, ids: Sequence[Any] | None = None, metadata: Sequence[Any] | None = None) -> list[Id]:
        """Add embeddings (N, D) or (D,) (numpy, torch or a list of either) with their ids and metadata.

        ``ids``: N unique ints or strings, new to the index; default: consecutive ints after the
        largest int id so far (0, 1, ... for a new index). ``metadata``: N dicts with str keys
        that JSON can hold (or None each); returned with the hits. Nothing is added on error.

        Returns:
            The ids of the new rows.

        Raises:
            InputError: the wrong dimension, non-float or non-finite embeddings, bad or repeated
                ids, metadata JSON cannot hold, or a first int8/uint8 add of fewer than 2 rows
                without ranges.
        """
        prepared = self._codec.prepare(embeddings, "embeddings")  # (N, D)
        new_ids, new_metadata = self._records.check(len(prepared), ids, metadata)
        if not len(prepared):
            return []
        codes = self._store.append(prepared)  # (N, width)
        self._records.append(new_ids, new_metadata)
        if self._engine is not None:
            self._engine.add(codes)
        return new_ids

    def remove(self, ids: Sequence[Any] | int | str) -> None:
        """Remove the rows of ``ids`` (one id or a list).

        Costs one pass over the stored rows; an approximate engine's graph is rebuilt from the
        remaining rows on the next search or save, so remove in batches.

        Raises:
            InputError: an id that is not in the index (nothing is removed).
        """
        wanted = [ids] if isinstance(ids, (int, str)) else list(ids)
        rows = self._records.rows_of(wanted)
        if not len(rows):
            return
        keep = np.ones(len(self), dtype=bool)
        keep[rows] = False
        self._store.keep(keep)
        self._records.keep(keep)
        if self._engine_name != "exact":
            self._engine = None

    # ------------------------------------------------------------------------------ search
    def search(
        self, queries: Any, top_k: int = 10, rescore: bool = True, rescore_multiplier: int = 4
    ) -> list[list[SearchHit]]:
        """The ``top_k`` closest rows for each query (Q, D) or (D,), best first.

        Returns:
            One list per query of ``{"corpus_id": id, "score": float, "metadata": dict | None}``,
            with fewer than ``top_k`` hits when the index holds fewer rows (or, rarely, when an
            approximate graph reaches fewer). ``metadata`` is the stored dict itself, not a copy.

        Raises:
            InputError: queries of the wrong dimension, non-float or non-finite, or a non-positive
                ``top_k`` or ``rescore_multiplier``.
        """
        for name, value in (("top_k", top_k), ("rescore_multiplier", rescore_multiplier)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InputError(f"{name} must be a positive integer, got {value!r}.")
        prepared = self._codec.prepare(queries, "queries")  # (Q, D)
        if not len(self):
            return [[] for _ in range(len(prepared))]
        exact_rescore = rescore and self.keep_float
        oversample = rescore and self._codec.quantized and (exact_rescore or self._engine_name != "exact")
        k = min(len(self), top_k * rescore_multiplier if oversample else top_k)
        engine = self._ready_engine()
        results: list[list[SearchHit]] = []
        for start in range(0, len(prepared), QUERY_BLOCK):
            block = prepared[start : start + QUERY_BLOCK]  # (q, D)
            results.extend(self._ranked(block, engine.search(block, k), top_k, exact_rescore))
        return results

    def _ranked(self, queries: np.ndarray, rows: np.ndarray, top_k: int, exact: bool) -> list[list[SearchHit]]:
        """Score the candidate ``rows`` (q, k) of ``queries`` (q, D); the best ``top_k`` per query as hits."""
        valid = rows >= 0  # (q, k)
        vectors = self._store.vectors(np.where(valid, rows, 0), exact)  # (q, k, D)
        scores = candidate_scores(queries, vectors, self.metric)  # (q, k)
        scores[~valid] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]  # (q, top_k)
        ids, metadata = self._records.ids, self._records.metadata
        hits: list[list[SearchHit]] = []
        for query_rows, query_scores, query_valid in zip(
            np.take_along_axis(rows, order, axis=1).tolist(),
            np.take_along_axis(scores, order, axis=1).tolist(),
            np.take_along_axis(valid, order, axis=1).tolist(),
            strict=True,
        ):
            hits.append(
                [
                    {"corpus_id": ids[row], "score": score, "metadata": metadata[row]}
                    for row, score, ok in zip(query_rows, query_scores, query_valid, strict=True)
                    if ok
                ]
            )
        return hits

    def _ready_engine(self) -> Engine:
        """The engine, (re)built from the stored rows when there is none yet."""
        if self._engine is None:
            self._engine = create_engine(self._engine_name, self._store, self._options)
        return self._engine

    # ------------------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` atomically (the format: :mod:`sentkit.index.persistence`).

        The file holds the settings, ids, metadata, codes, float embeddings (``keep_float``) and,
        for usearch and faiss, the serialized graph, so loading needs no rebuild. A crash during
        the save leaves any previous file at ``path`` intact.

        Raises:
            OSError: the folder does not exist or cannot be written.
        """
        store, codec = self._store, self._codec
        header = {
            "dimension": codec.dimension,
            "metric": codec.metric,
            "precision": codec.precision,
            "engine": self.engine,
            "keep_float": self.keep_float,
            "count": len(self),
            "graph": asdict(self._options),
            "info": self.info,
        }
        sections: dict[str, Section] = {"records": self._records.to_json(), "codes": store.codes.array}
        if store.scales is not None:
            sections["scales"] = store.scales.array
        if store.floats is not None:
            sections["floats"] = store.floats.array
        if codec.ranges is not None:
            sections["ranges"] = codec.ranges
        if self.engine != "exact" and len(self):
            blob = self._ready_engine().to_bytes()
            if blob is not None:
                sections["engine"] = blob
        write_index(path, header, sections)

    @classmethod
    def load(cls, path: str | os.PathLike[str], engine: str | None = None) -> VectorIndex:
        """Read an index saved by :meth:`save`; ``engine`` overrides the saved engine (the graph is then rebuilt).

        Raises:
            IndexFormatError: a truncated or corrupt file, not an index file, or a newer format.
            MissingDependencyError: the engine's library is not installed (load with
                ``engine="exact"`` to search without it).
            OSError: the file cannot be opened.
        """
        if engine is not None:
            _check_choice("engine", engine, ENGINES)
        header, sections = read_index(path)
        try:
            return cls._from_file(header, sections, engine)
        except MissingDependencyError as exc:
            raise MissingDependencyError(f"{exc} Or load {path} with engine='exact' to search it without.") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IndexFormatError(f"{path} does not hold a usable vector index: {exc}") from exc

    @classmethod
    def _from_file(cls, header: dict[str, Any], sections: dict[str, Any], engine: str | None) -> VectorIndex:
        saved_engine, count = header["engine"], header["count"]
        index = cls(
            header["dimension"],
            header["metric"],
            engine or saved_engine,
            header["precision"],
            keep_float=header["keep_float"],
            ranges=sections.get("ranges"),
            info=header["info"],
            **header["graph"],
        )
        index._store.restore(count, sections)
        index._records = Records.from_json(sections["records"])
        if len(index._records) != count:
            raise ValueError(f"it holds {len(index._records)} ids for {count} rows")
        if index.engine != "exact" and count:  # an empty index builds its graph on the first add and search
            blob = sections.get("engine") if index.engine == saved_engine else None
            index._engine = restored_engine(index.engine, index._store, index._options, blob, str(saved_engine))
        return index


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{name}={value!r} is not supported; use one of {', '.join(allowed)}.")


def _checked_info(info: Any) -> dict[str, Any]:
    if info is None:
        return {}
    if not isinstance(info, dict):
        raise InputError(f"info must be a dict, got {type(info).__name__}.")
    try:
        json.dumps(info, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"info cannot be saved as JSON: {exc}.") from exc
    return dict(info)
