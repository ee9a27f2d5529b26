"""Encode a corpus of any size to disk, in shards, with exact resume after a crash.

:func:`encode_to_disk` reads its input lazily (any iterable: a file streamed line by line with
:func:`iter_lines`, a generator, a dataset column), encodes ``shard_size`` texts at a time and
commits each shard to an embeddings folder (format in :mod:`sentkit.io.embeddings_store`). Memory
holds one shard at a time, so it stays flat however long the input is.

Crash safety: a shard's files are written to temporary names, fsynced and renamed, then the
manifest, which lists the committed shards, is replaced the same way. A run killed at any point
(``kill -9``, power loss) leaves the last manifest intact; a new call with ``resume=True`` (the
default) skips the rows the manifest lists, after checking that the input starts with the same
texts (a sha256 over them) and that the model and settings are the same, and carries on: no row is
lost, none is written twice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sentkit.errors import ConfigurationError, InputError, InputTypeError
from sentkit.io.embeddings_format import MANIFEST, ShardFiles, read_manifest
from sentkit.io.embeddings_reader import EmbeddingReader
from sentkit.io.embeddings_store import clear_folder, new_manifest, write_manifest, write_shard
from sentkit.io.model_identity import model_identity

__all__ = ["encode_to_disk", "iter_lines"]

logger = logging.getLogger(__name__)

# encode arguments that do not change the rows (left out of the settings a resume must match).
_NEUTRAL = {"batch_size", "show_progress_bar", "device", "chunk_size"}


def iter_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[str]:
    """The lines of a text file without their line endings, read lazily (one line in memory)."""
    with Path(path).open(encoding=encoding, newline="") as handle:
        for line in handle:
            yield line.rstrip("\r\n")


def encode_to_disk(
    model: Any,
    texts: Iterable[str],
    folder: str | Path,
    shard_size: int = 10_000,
    batch_size: int = 32,
    resume: bool = True,
    store_texts: bool = True,
    pool: Any = None,
    **encode_kwargs: Any,
) -> EmbeddingReader:
    """Encode every text of ``texts`` into ``folder``; return a memory-mapped reader of all rows.

    Rows are in input order; row i equals ``model.encode(texts)[i]`` (to float rounding: batches
    are formed per shard). ``encode_kwargs`` are ``encode``'s (prompt_name, prompt,
    normalize_embeddings, truncate_dim, precision float32 / binary / ubinary, task ...). ``pool``:
    encode each shard with a multi-process pool. ``store_texts``: keep the texts next to the rows
    (``reader.texts``). ``resume=False`` discards what ``folder`` holds and starts over.

    Raises:
        InputTypeError: ``texts`` is a single str, or an item is not a str (names its index).
        InputError: a bad ``shard_size``, int8/uint8 precision (their ranges would differ per
            shard: quantize the float32 rows afterwards with shared ``ranges``), an output other
            than sentence embeddings.
        ConfigurationError: resuming with another model or settings, or an input that does not
            start with the texts already stored.
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
        raise InputError(f"shard_size must be a positive int, got {shard_size!r}.")
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise InputTypeError(f"texts must be an iterable of str (e.g. iter_lines(path)), got {type(texts).__name__}.")
    kwargs = _encode_kwargs(model, batch_size, encode_kwargs)
    folder = Path(folder)
    settings = {key: value for key, value in kwargs.items() if key not in _NEUTRAL}
    settings = json.loads(json.dumps(settings, default=repr))
    identity = model_identity(
        model,
        normalized=bool(kwargs.get("normalize_embeddings")),
        precision=kwargs.get("precision", "float32"),
        truncate_dim=kwargs.get("truncate_dim"),
    )
    manifest = _start_or_resume(folder, identity, settings, store_texts, resume)
    items = iter(texts)
    digest = _skip_stored(items, manifest)
    for shard_texts in _shards(items, shard_size, int(manifest["rows"])):
        embeddings = _encode(model, shard_texts, pool, kwargs)  # (n, D)
        entry = write_shard(folder, _next_index(manifest), embeddings, shard_texts if store_texts else None)
        for text in shard_texts:
            _update(digest, text)
        manifest["shards"].append(entry)
        manifest.update(
            rows=int(manifest["rows"]) + len(shard_texts),
            dimension=int(embeddings.shape[1]),
            dtype=str(embeddings.dtype),
            input_sha256=digest.hexdigest(),
        )
        write_manifest(folder, manifest)  # the commit point of this shard
    if manifest["dimension"] is None:  # an empty input still records the output's width
        empty = _encode(model, [], None, kwargs)
        manifest.update(dimension=int(empty.shape[1]), dtype=str(empty.dtype), input_sha256=digest.hexdigest())
    manifest["complete"] = True
    write_manifest(folder, manifest)
    return EmbeddingReader(folder)


def _encode_kwargs(model: Any, batch_size: int, encode_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``encode`` arguments for every shard, checked once as ``encode`` checks them."""
    kwargs = {**encode_kwargs, "batch_size": batch_size}
    for fixed in ("convert_to_numpy", "convert_to_tensor"):
        kwargs.pop(fixed, None)
    if kwargs.get("output_value", "sentence_embedding") != "sentence_embedding":
        raise InputError("encode_to_disk stores sentence embeddings; output_value must be 'sentence_embedding'.")
    if kwargs.get("precision", "float32") in ("int8", "uint8"):
        raise InputError(
            "encode_to_disk cannot store int8/uint8 rows: their buckets would differ per shard. Store float32 and "
            "quantize afterwards with shared ranges: quantize_embeddings(reader[:], 'int8', ranges=...)."
        )
    kwargs.setdefault("show_progress_bar", False)
    model.encode([], **kwargs)  # argument checks only
    return kwargs


def _start_or_resume(
    folder: Path, identity: dict[str, Any], settings: dict[str, Any], store_texts: bool, resume: bool
) -> dict[str, Any]:
    if resume and (folder / MANIFEST).exists():
        manifest = read_manifest(folder)
        _check_same_run(folder, manifest, identity, settings, store_texts)
        _drop_uncommitted(folder, manifest)
        manifest["complete"] = False
        if manifest["rows"]:
            logger.info("Resuming %s after %d stored rows.", folder, manifest["rows"])
        return manifest
    clear_folder(folder)
    manifest = new_manifest(identity, settings, store_texts)
    manifest["input_sha256"] = hashlib.sha256().hexdigest()
    write_manifest(folder, manifest)
    return manifest


def _check_same_run(
    folder: Path, manifest: dict[str, Any], identity: dict[str, Any], settings: dict[str, Any], store_texts: bool
) -> None:
    stored = _flat(manifest.get("model") or {}, manifest.get("settings") or {}, bool(manifest.get("has_texts")))
    current = _flat(identity, settings, store_texts)
    differences = [
        f"{key}: stored {stored.get(key)!r:.80}, now {current.get(key)!r:.80}"
        for key in sorted(set(stored) | set(current))
        if stored.get(key) != current.get(key)
    ]
    if differences:
        raise ConfigurationError(
            f"{folder} was written with another model or settings ({'; '.join(differences)}). "
            "Pass the same model and arguments to resume, or resume=False (or another folder) to start over."
        )


def _flat(identity: dict[str, Any], settings: dict[str, Any], store_texts: bool) -> dict[str, Any]:
    flat = {f"model.{key}": value for key, value in identity.items()}
    flat.update({f"settings.{key}": value for key, value in settings.items()})
    flat["store_texts"] = store_texts
    return flat


def _drop_uncommitted(folder: Path, manifest: dict[str, Any]) -> None:
    """Delete files of shards that the manifest does not list (a crash before their commit)."""
    committed = {name for shard in manifest["shards"] for name in ShardFiles(int(shard["index"])).names()}
    for path in folder.iterdir():
        is_ours = path.name.startswith(("embeddings-", "texts-")) or path.name == MANIFEST + ".tmp"
        if is_ours and path.name not in committed:
            path.unlink()


def _skip_stored(items: Iterator[Any], manifest: dict[str, Any]) -> Any:
    """Consume the rows already stored from ``items``; return the running sha256 of the texts."""
    digest = hashlib.sha256()
    stored = int(manifest["rows"])
    for index in range(stored):
        try:
            text = next(items)
        except StopIteration:
            raise ConfigurationError(
                f"The input has {index} texts, but the folder already holds {stored} rows from a longer input. "
                "Pass the same input to resume, or resume=False to start over."
            ) from None
        _update(digest, _checked(text, index))
    if digest.hexdigest() != manifest.get("input_sha256"):
        raise ConfigurationError(
            f"The first {stored} texts of the input differ from those already encoded in this folder. "
            "Pass the same input to resume, or resume=False to start over."
        )
    return digest


def _shards(items: Iterator[Any], shard_size: int, first_index: int) -> Iterator[list[str]]:
    index = first_index
    while True:
        batch = list(itertools.islice(items, shard_size))
        if not batch:
            return
        yield [_checked(text, index + offset) for offset, text in enumerate(batch)]
        index += len(batch)


def _checked(text: Any, index: int) -> str:
    if not isinstance(text, str):
        raise InputTypeError(f"Input at index {index} is {type(text).__name__}; every input must be a str.")
    return text


def _update(digest: Any, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def _next_index(manifest: dict[str, Any]) -> int:
    return max((int(shard["index"]) for shard in manifest["shards"]), default=-1) + 1


def _encode(model: Any, texts: list[str], pool: Any, kwargs: dict[str, Any]) -> np.ndarray:
    if pool is not None and texts:
        from sentkit.inference.pool import encode_with_pool

        result = encode_with_pool(model, texts, pool, convert_to_numpy=True, **kwargs)
    else:
        result = model.encode(texts, convert_to_numpy=True, **kwargs)
    return np.asarray(result)
