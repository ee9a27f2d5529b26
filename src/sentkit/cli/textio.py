"""Reading texts (plain lines, JSONL, CSV/TSV, stdin) lazily, and saved embeddings (.npy,
.safetensors, .jsonl), with errors that name the file and line."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from sentkit.errors import InputError

T = TypeVar("T")

STDIN = "-"
SAFETENSORS_KEY = "embeddings"


def detect_format(path: str | None, declared: str) -> str:
    """The input format: ``declared`` unless ``auto``, then from the extension (text for stdin)."""
    if declared != "auto":
        return declared
    suffix = Path(path).suffix.lower() if path and path != STDIN else ""
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}.get(suffix, "text")


def iter_texts(path: str | None, input_format: str = "auto", field: str = "text") -> Iterator[str]:
    """Yield the texts of ``path`` (``None`` or ``-``: stdin) one at a time, never all at once.

    Formats: ``text`` one text per line (every line, empty ones included, so row i is line i);
    ``jsonl`` one JSON object per line (its ``field``) or one JSON string per line, blank lines
    skipped; ``csv`` / ``tsv`` with a header row naming ``field``.

    Raises:
        OSError: the file cannot be opened.
        InputError: invalid UTF-8, invalid JSON, a missing field or column (names the line).
    """
    input_format = detect_format(path, input_format)
    source = path if path not in (None, STDIN) else None
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="") if source is None else None
    handle: IO[str] = stdin if stdin is not None else open(str(source), encoding="utf-8", newline="")  # noqa: SIM115
    name = source or "stdin"
    try:
        if input_format == "text":
            yield from _read_lines(handle, name)
        elif input_format == "jsonl":
            yield from _read_jsonl(handle, name, field)
        else:
            yield from _read_csv(handle, name, field, "\t" if input_format == "tsv" else ",")
    finally:
        if stdin is not None:
            stdin.detach()  # leave stdin itself open
        else:
            handle.close()


def read_texts(path: str | None, input_format: str = "auto", field: str = "text") -> list[str]:
    """All texts of ``path`` as a list (see :func:`iter_texts`)."""
    return list(iter_texts(path, input_format, field))


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decode_guard(name: str, line_number: int, exc: UnicodeDecodeError) -> InputError:
    return InputError(f"{name} is not valid UTF-8 near line {line_number}: {exc.reason}. Convert it to UTF-8.")


def _read_lines(handle: IO[str], name: str) -> Iterator[str]:
    number = 0
    try:
        for number, line in enumerate(handle, start=1):  # noqa: B007 - number is read in the except
            yield line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise _decode_guard(name, number + 1, exc) from None


def _read_jsonl(handle: IO[str], name: str, field: str) -> Iterator[str]:
    number = 0
    try:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{name} line {number} is not valid JSON: {exc.msg}.") from None
            yield _field_of(record, field, f"{name} line {number}")
    except UnicodeDecodeError as exc:
        raise _decode_guard(name, number + 1, exc) from None


def _field_of(record: Any, field: str, where: str) -> str:
    if isinstance(record, str):
        return record
    if not isinstance(record, dict):
        raise InputError(f"{where} holds a {type(record).__name__}; expected an object with a {field!r} key.")
    if field not in record:
        raise InputError(f"{where} has no {field!r} key (keys: {sorted(record)}); choose one with --field.")
    value = record[field]
    if not isinstance(value, str):
        raise InputError(f"{where}: {field!r} is a {type(value).__name__}, not a string.")
    return value


def _read_csv(handle: IO[str], name: str, field: str, delimiter: str) -> Iterator[str]:
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return
        if field not in header:
            raise InputError(f"{name} has no column {field!r} (columns: {header}); choose one with --field.")
        column = header.index(field)
        for row in reader:
            if not row:
                continue
            if column >= len(row):
                raise InputError(f"{name} line {reader.line_num} has no value in column {field!r}.")
            yield row[column]
    except UnicodeDecodeError as exc:
        raise _decode_guard(name, reader.line_num + 1, exc) from None
    except csv.Error as exc:
        raise InputError(f"{name} line {reader.line_num} is not valid CSV: {exc}.") from None


def load_embeddings(path: str) -> tuple[Any, list[str] | None]:
    """Embeddings saved by ``sentkit encode`` as ``(array (N, D), texts or None)``.

    An embeddings folder (``--output-format store``) gives its rows and stored texts; ``.npy`` a
    numpy file; ``.safetensors`` the tensor named ``embeddings`` (or the only one); ``.jsonl``
    each line's ``embedding``.

    Raises:
        OSError: the file cannot be read.
        InputError: an unknown extension, or content that is not a 2-D array.
    """
    import numpy as np

    suffix = Path(path).suffix.lower()
    if Path(path).is_dir():
        from sentkit.io.embeddings_reader import open_embeddings

        reader = open_embeddings(path)
        return np.asarray(reader), (list(reader.texts) if reader.texts is not None else None)
    if not Path(path).is_file():
        raise FileNotFoundError(2, "No such file", path)
    if suffix == ".npy":
        try:
            array = np.load(path)
        except ValueError as exc:
            raise InputError(f"{path} is not a valid .npy file: {exc}") from None
    elif suffix == ".safetensors":
        array = _load_safetensors(path)
    elif suffix in (".jsonl", ".ndjson"):
        array = np.asarray(_jsonl_vectors(path), dtype=np.float32)
    else:
        raise InputError(f"Cannot read embeddings from {path}: use a .npy, .safetensors or .jsonl file.")
    if array.ndim != 2:
        raise InputError(f"{path} holds an array of shape {tuple(array.shape)}; expected (N, D) embeddings.")
    return array, None


def _jsonl_vectors(path: str) -> list[list[float]]:
    """The ``embedding`` list of each line of a JSONL file (as ``sentkit encode`` writes it)."""
    rows: list[list[float]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {number} is not valid JSON: {exc.msg}.") from None
            vector = record.get("embedding") if isinstance(record, dict) else record
            if not isinstance(vector, list) or (rows and len(vector) != len(rows[0])):
                raise InputError(f"{path} line {number} has no embedding list of the same size as line 1.")
            rows.append(vector)
    return rows


def _load_safetensors(path: str) -> Any:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except (SafetensorError, ValueError) as exc:
        raise InputError(f"{path} is not a valid safetensors file: {exc}") from None
    if SAFETENSORS_KEY in tensors:
        return tensors[SAFETENSORS_KEY]
    if len(tensors) == 1:
        return next(iter(tensors.values()))
    raise InputError(f"{path} holds tensors {sorted(tensors)}; expected one named {SAFETENSORS_KEY!r}.")
