"""A picklable batch encoder: rows with a text and an id in, the same ids with embeddings out.

:class:`BatchEncoder` holds a model name or folder and ``encode`` options, never a loaded model:
pickling it costs a few hundred bytes, and each process that calls it loads the model once, on
its first call, and keeps it. That makes the one object usable wherever a data engine ships a
function to its workers: as a Ray Data actor (:func:`sentkit.distributed.encode_dataset`), in Dask
``map_partitions``, in Spark ``mapInPandas``.

A batch is a pandas DataFrame, a pyarrow Table, or a mapping of column name to array; the result
has the same kind and two columns, the ids as given and the embeddings: in a pyarrow Table a
``fixed_size_list<float32>[D]`` column (``int8``/``uint8`` of width ``ceil(D / 8)`` for binary
precisions), in a DataFrame one numpy row per cell, in a mapping one (N, D) array.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from sentkit.errors import InputError, InputTypeError

__all__ = ["ENCODE_OPTIONS", "BatchEncoder"]

logger = logging.getLogger(__name__)

# encode() options that a batch encoder passes on; the rest (output_value, convert_to_*, device,
# pool, show_progress_bar) are fixed by what a batch must return.
ENCODE_OPTIONS = (
    "batch_size",
    "max_batch_tokens",
    "normalize_embeddings",
    "precision",
    "prompt",
    "prompt_name",
    "task",
    "truncate_dim",
)
# int8/uint8 buckets come from the rows at hand, so they would differ from batch to batch.
_PRECISIONS = ("float32", "binary", "ubinary")


class BatchEncoder:
    """Callable that maps a batch of rows to their ids and embeddings; cheap to pickle.

    Args:
        model: a model name (``"all-MiniLM-L6-v2"``) or folder, loaded with
            :class:`sentkit.SentenceTransformer` in each process on first call. Every worker must
            be able to resolve it (a shared path, the hub cache, a carrier package).
        text_column: the column holding the texts (str).
        id_column: the column holding the row ids, copied to the output unchanged.
        embedding_column: the name of the output column of embeddings.
        load_kwargs: keyword arguments of ``SentenceTransformer(...)`` (``device``, ``backend``,
            ``trust_remote_code``, ``model_kwargs``...).
        max_retries: how many times a batch whose encoding raised is tried again in the same process
            before the error propagates. Bad input (:class:`~sentkit.errors.InputError`) is never
            retried.
        **encode_kwargs: ``encode`` options: ``batch_size``, ``normalize_embeddings``,
            ``prompt_name``, ``prompt``, ``precision`` (float32, binary, ubinary), ``truncate_dim``,
            ``max_batch_tokens``, ``task``.

    Raises:
        InputTypeError: ``model`` is not a str or path (a loaded model is not shipped; save it
            with ``model.save(folder)`` and pass the folder).
        InputError: an unknown encode option, int8/uint8 precision, a negative ``max_retries``.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        text_column: str = "text",
        id_column: str = "id",
        embedding_column: str = "embedding",
        load_kwargs: Mapping[str, Any] | None = None,
        max_retries: int = 2,
        **encode_kwargs: Any,
    ) -> None:
        if not isinstance(model, (str, os.PathLike)):
            raise InputTypeError(
                f"BatchEncoder takes a model name or folder, got {type(model).__name__}. A loaded model "
                "is not shipped to workers: save it with model.save(folder) and pass the folder."
            )
        unknown = sorted(set(encode_kwargs) - set(ENCODE_OPTIONS))
        if unknown:
            raise InputError(f"Unknown encode options {unknown}; allowed: {', '.join(ENCODE_OPTIONS)}.")
        if encode_kwargs.get("precision", "float32") not in _PRECISIONS:
            raise InputError(
                f"precision={encode_kwargs['precision']!r} is not supported per batch (int8/uint8 buckets "
                f"would differ between batches); use one of {', '.join(_PRECISIONS)} and quantize the "
                "float32 rows afterwards with shared ranges."
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InputError(f"max_retries must be an int >= 0, got {max_retries!r}.")
        self.model = os.fspath(model)
        self.text_column = text_column
        self.id_column = id_column
        self.embedding_column = embedding_column
        self.load_kwargs = dict(load_kwargs or {})
        self.max_retries = max_retries
        self.encode_kwargs = dict(encode_kwargs)
        self._model: Any = None
        self._lock = threading.Lock()  # threads of one process (Dask's default scheduler) share one load

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None  # each process loads its own copy
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.model!r}, text_column={self.text_column!r}, "
            f"id_column={self.id_column!r}, encode_kwargs={self.encode_kwargs!r})"
        )

    def load(self) -> Any:
        """The model of this process, loaded on first use: a :class:`sentkit.SentenceTransformer`."""
        with self._lock:
            if self._model is None:
                from sentkit.encoders.sentence_transformer import SentenceTransformer

                self._model = SentenceTransformer(self.model, **self.load_kwargs)
            return self._model

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` (N strings) with the options of this encoder: an (N, D) array.

        float32 by default; int8 / uint8 of width ceil(D / 8) for binary / ubinary precision.
        This is the one place a batch meets the model (subclasses may wrap it).
        """
        kwargs = {"show_progress_bar": False, **self.encode_kwargs}
        embeddings = self.load().encode(texts, convert_to_numpy=True, **kwargs)  # (N, D)
        return np.asarray(embeddings)

    def __call__(self, batch: Any) -> Any:
        """Encode one batch: a pandas DataFrame, pyarrow Table or mapping of column -> array.

        Returns the same kind of object with ``id_column`` (as given) and ``embedding_column``.

        Raises:
            InputError: the batch lacks the text or id column.
            InputTypeError: a text that is not a str (names its row id).
            Exception: whatever encoding raised ``max_retries + 1`` times in a row.
        """
        kind, columns = _columns_of(batch)
        for column in (self.text_column, self.id_column):
            if column not in columns:
                raise InputError(
                    f"The batch has no column {column!r}; its columns are {sorted(columns)}. Pass "
                    "text_column= and id_column= naming the columns that hold the texts and the row ids."
                )
        texts = _to_list(batch[self.text_column], kind)
        ids = batch[self.id_column]
        _check_texts(texts, _to_list(ids, kind))
        embeddings = self._encode_with_retries(texts)  # (N, D)
        return _build_output(kind, ids, self.id_column, self.embedding_column, embeddings)

    def _encode_with_retries(self, texts: list[str]) -> np.ndarray:
        attempt = 0
        while True:
            try:
                return self.encode_texts(texts)
            except InputError:
                raise  # the same input fails the same way: retrying cannot help
            except Exception as exc:
                if attempt >= self.max_retries:
                    raise
                attempt += 1
                logger.warning(
                    "Encoding a batch of %d texts failed (%s: %s); retry %d of %d.",
                    len(texts),
                    type(exc).__name__,
                    exc,
                    attempt,
                    self.max_retries,
                )


def _columns_of(batch: Any) -> tuple[str, list[str]]:
    """The kind of ``batch`` ("pandas", "arrow" or "mapping") and its column names."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(batch, pandas.DataFrame):
        return "pandas", [str(name) for name in batch.columns]
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None and isinstance(batch, pyarrow.Table):
        return "arrow", list(batch.column_names)
    if isinstance(batch, Mapping):
        return "mapping", [str(name) for name in batch]
    raise InputTypeError(
        f"A batch must be a pandas DataFrame, a pyarrow Table or a mapping of column -> array, "
        f"got {type(batch).__name__}."
    )


def _to_list(column: Any, kind: str) -> list[Any]:
    if kind == "arrow":
        return list(column.to_pylist())
    return list(column.tolist()) if hasattr(column, "tolist") else list(column)


def _check_texts(texts: list[Any], ids: list[Any]) -> None:
    for text, row_id in zip(texts, ids, strict=True):
        if not isinstance(text, str):
            raise InputTypeError(
                f"The text of row id {row_id!r} is {type(text).__name__}, not str; drop or fill missing texts first."
            )


def _build_output(kind: str, ids: Any, id_column: str, embedding_column: str, embeddings: np.ndarray) -> Any:
    """Ids and embeddings (N, W) as a batch of ``kind``."""
    if kind == "arrow":
        import pyarrow as pa

        width = embeddings.shape[1]
        flat = pa.array(np.ascontiguousarray(embeddings).reshape(-1))  # (N * W,)
        column = pa.FixedSizeListArray.from_arrays(flat, width)
        return pa.table({id_column: ids, embedding_column: column})
    if kind == "pandas":
        import pandas as pd

        return pd.DataFrame({id_column: ids.to_numpy(), embedding_column: list(embeddings)}, index=ids.index)
    return {id_column: np.asarray(ids), embedding_column: embeddings}
