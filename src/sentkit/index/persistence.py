"""How a :class:`~sentkit.index.VectorIndex` maps to its file: the header fields and the sections.

Header (besides the section table of :mod:`sentkit.index.storage`)::

    {"format": "sentkit-vector-index", "sentkit_version": "...", "dimension": D, "metric": "cosine",
     "precision": "int8", "engine": "usearch", "keep_float": true, "count": N,
     "graph": {"connectivity": 16, "expansion_add": 128, "expansion_search": 64}, "info": {...}}

Sections::

    records   bytes   JSON {"ids": [...], "metadata": [...], "next_id": int}
    codes     (N, width) float32 / int8 / uint8     the stored rows (width = ceil(D / 8) for binary)
    scales    (N,) float32                          binary / ubinary only: each row's scale
    floats    (N, D) float32                        quantized with keep_float only
    ranges    (2, D) float32                        int8 / uint8 only: the quantization ranges
    engine    bytes                                 usearch / faiss only: the serialized graph

The engine section is a cache of the rows it indexes: when the library cannot read it (another
version) or it disagrees with the rows, the graph is rebuilt from ``codes`` with a warning.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sentkit._version import __version__
from sentkit.errors import IndexFormatError, MissingDependencyError
from sentkit.index.engines import ENGINES, Engine, create_engine
from sentkit.index.records import Records
from sentkit.index.storage import Section, read_index_file, write_index_file

if TYPE_CHECKING:
    from sentkit.index.vector_index import VectorIndex

logger = logging.getLogger(__name__)

FORMAT_NAME = "sentkit-vector-index"


def save_index(index: VectorIndex, path: str | os.PathLike[str]) -> None:
    """Write ``index`` to ``path`` atomically (see :meth:`VectorIndex.save`)."""
    store, codec = index._store, index._codec
    header = {
        "format": FORMAT_NAME,
        "sentkit_version": __version__,
        "dimension": codec.dimension,
        "metric": codec.metric,
        "precision": codec.precision,
        "engine": index.engine,
        "keep_float": index.keep_float,
        "count": len(index),
        "graph": asdict(index._options),
        "info": index.info,
    }
    sections: dict[str, Section] = {"records": index._records.to_json(), "codes": store.codes.array}
    if store.scales is not None:
        sections["scales"] = store.scales.array
    if store.floats is not None:
        sections["floats"] = store.floats.array
    if codec.ranges is not None:
        sections["ranges"] = codec.ranges
    if index.engine != "exact" and len(index):
        blob = index._ready_engine().to_bytes()
        if blob is not None:
            sections["engine"] = blob
    write_index_file(path, header, sections)


def load_index(cls: type[VectorIndex], path: str | os.PathLike[str], engine: str | None) -> VectorIndex:
    """Read the index at ``path`` (see :meth:`VectorIndex.load`)."""
    if engine is not None and engine not in ENGINES:
        from sentkit.errors import InputError

        raise InputError(f"engine={engine!r} is not supported; use one of {', '.join(ENGINES)}.")
    header, sections = read_index_file(path)
    try:
        return _build(cls, header, sections, engine)
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"{exc} Or load {path} with engine='exact' to search it without.") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IndexFormatError(f"{path} does not hold a usable vector index: {exc}") from exc


def _build(cls: type[VectorIndex], header: dict[str, Any], sections: dict[str, Any], engine: str | None) -> VectorIndex:
    if header.get("format") != FORMAT_NAME:
        raise ValueError(f"its format is {header.get('format')!r}, not {FORMAT_NAME!r}")
    saved_engine, count = header["engine"], header["count"]
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"count {count!r} is not a row count")
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
    records = sections["records"]
    if not isinstance(records, bytes):
        raise ValueError("the 'records' section is not bytes")
    index._records = Records.from_json(records)
    if len(index._records) != count:
        raise ValueError(f"it holds {len(index._records)} ids for {count} rows")
    if index.engine != "exact" and count:  # an empty index builds its graph on the first add and search
        blob = sections.get("engine") if index.engine == saved_engine else None
        index._engine = _restored_engine(index, blob, str(header.get("engine")))
    return index


def _restored_engine(index: VectorIndex, blob: Any, saved_engine: str) -> Engine:
    """The saved graph when it can be read and covers every row, else one rebuilt from the rows."""
    if isinstance(blob, bytes) and len(index):
        try:
            engine = create_engine(index.engine, index._store, index._options, blob)
            if len(engine) == len(index):
                return engine
            problem = f"it holds {len(engine)} rows, not {len(index)}"
        except (RuntimeError, ValueError) as exc:
            problem = str(exc)
        logger.warning("The saved %s graph cannot be used (%s); rebuilding it from the rows.", saved_engine, problem)
    return create_engine(index.engine, index._store, index._options)
