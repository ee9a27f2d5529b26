"""The vector index file format: its header fields and sections, checked on read.

:class:`~sentkit.index.VectorIndex` gathers its parts for :func:`write_index` and rebuilds itself
from what :func:`read_index` returns; this module knows the format, not the class.

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
from typing import Any

from sentkit._version import __version__
from sentkit.errors import IndexFormatError
from sentkit.index.engines import Engine, GraphOptions, create_engine
from sentkit.index.storage import Section, read_index_file, write_index_file
from sentkit.index.store import VectorStore

logger = logging.getLogger(__name__)

FORMAT_NAME = "sentkit-vector-index"


def write_index(path: str | os.PathLike[str], header: dict[str, Any], sections: dict[str, Section]) -> None:
    """Write an index file atomically: ``header`` (the fields above, without ``format`` and
    ``sentkit_version``, which are added here) and its ``sections``."""
    write_index_file(path, {"format": FORMAT_NAME, "sentkit_version": __version__, **header}, sections)


def read_index(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and sections of the index file at ``path``, its format and row count checked.

    Raises:
        IndexFormatError: a truncated or corrupt file, or not a vector index file.
    """
    header, sections = read_index_file(path)
    count = header.get("count")
    if header.get("format") != FORMAT_NAME:
        problem = f"its format is {header.get('format')!r}, not {FORMAT_NAME!r}"
    elif isinstance(count, bool) or not isinstance(count, int) or count < 0:
        problem = f"count {count!r} is not a row count"
    elif not isinstance(sections.get("records"), bytes):
        problem = "the 'records' section is not bytes"
    else:
        return header, sections
    raise IndexFormatError(f"{path} does not hold a usable vector index: {problem}")


def restored_engine(name: str, store: VectorStore, options: GraphOptions, blob: Any, saved_engine: str) -> Engine:
    """The saved graph ``blob`` when it can be read and covers every stored row, else one rebuilt
    from the rows (with a warning)."""
    if isinstance(blob, bytes) and len(store):
        try:
            engine = create_engine(name, store, options, blob)
            if len(engine) == len(store):
                return engine
            problem = f"it holds {len(engine)} rows, not {len(store)}"
        except (RuntimeError, ValueError) as exc:
            problem = str(exc)
        logger.warning("The saved %s graph cannot be used (%s); rebuilding it from the rows.", saved_engine, problem)
    return create_engine(name, store, options)
