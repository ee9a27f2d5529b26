"""Encode corpora beyond one machine on an engine you already run (``pip install 'sentkit[distributed]'``).

Ray Data: :func:`encode_dataset` maps a :class:`BatchEncoder` over a Ray Dataset, or over Parquet,
JSONL or text files, on a pool of actors (one model per actor, CPU or GPU), and writes the ids
with their embeddings to Parquet or returns the lazy Dataset::

    import ray
    from sentkit.distributed import encode_dataset

    ray.init()                                   # or ray.init(address="auto") on a cluster
    encode_dataset(
        "s3://bucket/corpus/",                   # Parquet / JSONL files with "id" and "text"
        "all-MiniLM-L6-v2",
        output="s3://bucket/embeddings/",        # Parquet: id, embedding (fixed_size_list<float32>[384])
        num_actors=8,
        num_gpus_per_actor=1,                    # or CPU actors: num_cpus_per_actor=4
        rows_per_batch=4096,
        batch_size=128,                          # encode() options from here on
        normalize_embeddings=True,
    )

A batch whose encoding raises is retried in its actor; an actor that dies is restarted by Ray and
its batches re-run; either way the output holds every input row exactly once. Text files give one
row per non-empty line with the id ``"<path>:<line number>"``.

Dask (the same object works in any engine that ships a function to its workers: it pickles as the
model name and options, and each worker process loads the model once, on its first batch)::

    import dask.dataframe as dd
    from sentkit.distributed import BatchEncoder

    encoder = BatchEncoder("all-MiniLM-L6-v2", text_column="text", id_column="id", normalize_embeddings=True)
    ddf = dd.read_parquet("corpus/")                                   # columns id, text
    embedded = ddf.map_partitions(encoder, meta={"id": ddf["id"].dtype, "embedding": object})
    embedded.compute()                            # pandas: id, embedding (one float32 array a row)

Each partition comes back as a DataFrame with the partition's index, the ids and one embedding
array per row; ``encoder(pandas_df)`` is the same call outside Dask. Spark's ``mapInPandas`` takes
the same object as ``lambda batches: map(encoder, batches)`` (not tested here: pyspark is not a
dependency).
"""

from __future__ import annotations

from sentkit.distributed.batch_encoder import BatchEncoder
from sentkit.distributed.ray_encode import encode_dataset

__all__ = ["BatchEncoder", "encode_dataset"]
