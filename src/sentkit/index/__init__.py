"""Persistent vector indexes: embeddings with ids and metadata, exact or approximate top-k search,
quantized storage with rescoring, atomic saves and checked loads.

    from sentkit.index import VectorIndex

    index = VectorIndex(384, engine="usearch", precision="int8", keep_float=True)
    index.add(embeddings, ids=["a", "b", ...], metadata=[{"text": "..."}, ...])
    hits = index.search(query_embeddings, top_k=5)   # [[{"corpus_id", "score", "metadata"}, ...], ...]
    index.save("docs.skidx")
    index = VectorIndex.load("docs.skidx")

The parts: :mod:`~sentkit.index.codec` (precisions and reconstruction), :mod:`~sentkit.index.store`
(rows in memory), :mod:`~sentkit.index.records` (ids, metadata), :mod:`~sentkit.index.scoring`
(metrics, exact top-k), :mod:`~sentkit.index.engines` (exact, usearch, faiss),
:mod:`~sentkit.index.storage` (the file format, atomic writes) and
:mod:`~sentkit.index.persistence` (what the file holds).
"""

from sentkit.index.codec import METRICS, PRECISIONS
from sentkit.index.engines import ENGINES, GraphOptions
from sentkit.index.vector_index import SearchHit, VectorIndex

__all__ = ["ENGINES", "METRICS", "PRECISIONS", "GraphOptions", "SearchHit", "VectorIndex"]
