"""Encode a Ray Dataset, or Parquet / JSONL / text files, on a pool of Ray actors.

:func:`encode_dataset` maps a :class:`~sentkit.distributed.BatchEncoder` over the rows with Ray
Data's ``map_batches`` on a fixed-size actor pool: each actor loads the model once and encodes
batch after batch. What happens when things fail:

- a batch whose encoding raises is tried again in the same actor (``max_retries`` times; the
  batch encoder does this), then the run fails with that error;
- an actor process that dies (killed, out of memory, segfault) is restarted by Ray, which re-runs
  the tasks it had in flight on a live actor (Ray Data's default actor fault tolerance: unbounded
  restarts and task retries, so a batch that kills its actor every time is retried until it
  fits: lower ``rows_per_batch`` if that happens);
- a re-run task replaces its output, it does not add to it, so the output holds every input row
  exactly once (shown by tests that raise in a batch and kill an actor mid-run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sentkit._optional import require
from sentkit.distributed.batch_encoder import BatchEncoder
from sentkit.distributed.sources import as_path_list, read_source
from sentkit.errors import ConfigurationError, InputError

__all__ = ["encode_dataset"]


def encode_dataset(
    data: Any,
    model: str | os.PathLike[str] | BatchEncoder,
    *,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    text_column: str = "text",
    id_column: str = "id",
    embedding_column: str = "embedding",
    input_format: str | None = None,
    num_actors: int = 1,
    num_cpus_per_actor: float = 1.0,
    num_gpus_per_actor: float = 0.0,
    rows_per_batch: int = 1024,
    max_retries: int = 2,
    load_kwargs: Mapping[str, Any] | None = None,
    **encode_kwargs: Any,
) -> Any:
    """Embed every row of ``data`` on ``num_actors`` Ray actors; write Parquet or return a Dataset.

    Args:
        data: a ``ray.data.Dataset`` with ``id_column`` and ``text_column``, or a path, or a list of
            paths, to Parquet / JSONL files (rows with both columns) or text files (one text a
            line; id ``"<path>:<line>"``), or folders of them. The format comes from the suffixes
            (``.parquet``, ``.jsonl``/``.json``, ``.txt``) unless ``input_format`` says.
        model: a model name or folder every actor can load, or a :class:`BatchEncoder` (then its
            columns, options and retries are used, and no ``encode_kwargs`` or ``load_kwargs``).
        output: a folder to write Parquet files with ``id_column`` and ``embedding_column``
            (``fixed_size_list<float32>[D]``) into; ``None`` returns the lazy Dataset instead.
        overwrite: replace what ``output`` holds; without it a non-empty ``output`` is an error
            (appending would add a second copy of rows written before).
        num_actors: actors in the pool, each holding one model.
        num_cpus_per_actor / num_gpus_per_actor: Ray resources reserved per actor (a GPU actor
            encodes on its GPU). Leave CPUs for Ray Data's read and write tasks: actors that take
            every CPU of the cluster leave the pipeline waiting forever, so that is refused.
        rows_per_batch: rows handed to an actor per call (the unit of retry).
        max_retries: tries again for a batch whose encoding raised, in the same actor.
        load_kwargs: ``SentenceTransformer(...)`` keyword arguments (``device``, ``backend``...).
        **encode_kwargs: ``encode`` options (``batch_size``, ``normalize_embeddings``,
            ``prompt_name``, ``prompt``, ``precision`` float32/binary/ubinary, ``truncate_dim``...).

    Returns:
        ``None`` after writing ``output``; else a lazy ``ray.data.Dataset`` with ``id_column`` and
        ``embedding_column``, computed when consumed. Row order is not kept: join on the ids.

    Raises:
        MissingDependencyError: Ray Data is not installed (``pip install 'sentkit[distributed]'``).
        InputError: bad arguments; a non-empty ``output`` without ``overwrite``; a dataset
            without the text or id column, where its schema is known before reading (Parquet, in
            memory). Errors met while the rows are encoded (a missing column in JSONL, a text that
            is not a str) reach the caller wrapped by Ray (``ray.exceptions.RayTaskError``), their
            message naming the sentkit error.
        ConfigurationError: the actors would take every CPU of the running Ray cluster.
    """
    ray_data = require("ray.data", "distributed", "sentkit.distributed.encode_dataset")
    encoder = _make_encoder(model, text_column, id_column, embedding_column, max_retries, load_kwargs, encode_kwargs)
    _check_pool(num_actors, num_cpus_per_actor, num_gpus_per_actor, rows_per_batch)
    target = None if output is None else _check_output(os.fspath(output), overwrite)
    if isinstance(data, ray_data.Dataset):
        dataset = data
    else:
        paths = as_path_list(data)
        dataset = read_source(ray_data, paths, input_format, encoder.id_column, encoder.text_column)
    _check_columns(dataset, encoder)
    _check_cluster_cpus(num_actors, num_cpus_per_actor)
    encoded = dataset.map_batches(
        _EncoderActor,
        fn_constructor_args=(encoder,),
        compute=ray_data.ActorPoolStrategy(size=num_actors),
        batch_size=rows_per_batch,
        batch_format="pyarrow",
        num_cpus=num_cpus_per_actor,
        num_gpus=num_gpus_per_actor or None,
        udf_modifying_row_count=False,
    )
    if target is None:
        return encoded
    mode = ray_data.SaveMode.OVERWRITE if overwrite else ray_data.SaveMode.APPEND
    encoded.write_parquet(target, mode=mode)
    return None


class _EncoderActor:
    """The actor class Ray Data instantiates once per pool slot: it holds one batch encoder."""

    def __init__(self, encoder: BatchEncoder) -> None:
        self.encoder = encoder
        encoder.load()  # load the model when the actor starts, not inside the first batch

    def __call__(self, batch: Any) -> Any:
        return self.encoder(batch)


def _make_encoder(
    model: Any,
    text_column: str,
    id_column: str,
    embedding_column: str,
    max_retries: int,
    load_kwargs: Mapping[str, Any] | None,
    encode_kwargs: dict[str, Any],
) -> BatchEncoder:
    if not isinstance(model, BatchEncoder):
        return BatchEncoder(
            model,
            text_column=text_column,
            id_column=id_column,
            embedding_column=embedding_column,
            load_kwargs=load_kwargs,
            max_retries=max_retries,
            **encode_kwargs,
        )
    if encode_kwargs or load_kwargs:
        raise InputError(
            "encode_dataset got a BatchEncoder and encode or load options; set them on the BatchEncoder instead."
        )
    given = (text_column, id_column, embedding_column)
    own = (model.text_column, model.id_column, model.embedding_column)
    if given != ("text", "id", "embedding") and given != own:
        raise InputError(f"encode_dataset got columns {given} but the BatchEncoder uses {own}; pass one of them.")
    return model


def _check_pool(num_actors: int, num_cpus: float, num_gpus: float, rows_per_batch: int) -> None:
    if isinstance(num_actors, bool) or not isinstance(num_actors, int) or num_actors < 1:
        raise InputError(f"num_actors must be an int >= 1, got {num_actors!r}.")
    if isinstance(rows_per_batch, bool) or not isinstance(rows_per_batch, int) or rows_per_batch < 1:
        raise InputError(f"rows_per_batch must be an int >= 1, got {rows_per_batch!r}.")
    for name, value in (("num_cpus_per_actor", num_cpus), ("num_gpus_per_actor", num_gpus)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InputError(f"{name} must be a number >= 0, got {value!r}.")


def _check_output(output: str, overwrite: bool) -> str:
    """The output folder to write to (local paths made absolute); refuse a file or, unless
    ``overwrite``, a folder that holds anything (local or a URI such as ``s3://...``)."""
    from pyarrow import fs

    if "://" in output:
        filesystem, path = fs.FileSystem.from_uri(output)
    else:
        output = path = os.path.abspath(output)
        filesystem = fs.LocalFileSystem()
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.File:
        raise InputError(f"output={output!r} is a file; pass a folder for the Parquet files.")
    if info.type == fs.FileType.Directory and not overwrite and filesystem.get_file_info(fs.FileSelector(path)):
        raise InputError(
            f"output={output!r} is not empty; writing would add a second copy of rows. "
            "Pass overwrite=True to replace it, or another folder."
        )
    return output


def _check_columns(dataset: Any, encoder: BatchEncoder) -> None:
    """Check the text and id columns where the schema is known without reading rows (Parquet, in memory)."""
    schema = dataset.schema(fetch_if_missing=False)
    if schema is None:
        return  # JSONL, or a dataset with pending transforms: each batch is checked as it is encoded
    for column in (encoder.text_column, encoder.id_column):
        if column not in schema.names:
            raise InputError(
                f"The dataset has no column {column!r}; its columns are {sorted(schema.names)}. Pass "
                "text_column= and id_column= naming the columns that hold the texts and the row ids."
            )


def _check_cluster_cpus(num_actors: int, num_cpus_per_actor: float) -> None:
    """Refuse a pool that takes every CPU of the running cluster (Ray Data would wait forever)."""
    import ray

    if not ray.is_initialized():
        return
    total = float(ray.cluster_resources().get("CPU", 0.0))
    wanted = num_actors * num_cpus_per_actor
    if total and wanted >= total:
        raise ConfigurationError(
            f"{num_actors} actors x {num_cpus_per_actor} CPUs take all {total:g} CPUs of the Ray cluster, "
            "leaving none for reading and writing, so the run would never finish. Use fewer actors or "
            f"num_cpus_per_actor < {total / num_actors:g} (a fraction is fine)."
        )
