"""The vector index file: a fixed preamble, a JSON header and the data sections, in one file.

Layout (integers little-endian)::

    offset   bytes  field
    0        8      magic b"\\x89SKIDX\\r\\n" (the \\r\\n catches copies that rewrite line endings)
    8        4      format version (uint32), currently 1
    12       4      reserved, 0
    16       8      header length H (uint64)
    24       8      payload length P (uint64)
    32       32     SHA-256 of the H + P bytes that follow
    64       H      header: a UTF-8 JSON object whose "sections" maps each section name to
                    {"offset", "length", "dtype", "shape"}: offset from the payload start, dtype "bytes"
                    for raw bytes or a numpy dtype string such as "<f4" with the array's shape
    64 + H   P      payload: the sections, each at a multiple of 64 bytes, zero bytes between them

Reading checks, in order: the file holds the preamble; the magic; the version; the size is exactly
64 + H + P (shorter: truncated; longer: trailing bytes); the header parses and its section table
lies within the payload; the SHA-256 over header and payload. Each failure raises
:class:`~sentkit.errors.IndexFormatError` naming the file and the problem.

Writing is atomic: the bytes go to a temporary file in the same folder (``.NAME.XXXXXXXX.tmp``),
hashed as they are written (the checksum is filled into the preamble last), then the file is
flushed, fsynced and renamed over ``NAME`` with ``os.replace``, and the folder is fsynced. A crash
at any moment leaves ``NAME`` as it was (the previous file, or none), at worst with a stray
temporary file beside it, which can be deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from sentkit.errors import IndexFormatError
from sentkit.io.files import write_atomically

MAGIC = b"\x89SKIDX\r\n"
FORMAT_VERSION = 1
PREAMBLE = struct.Struct("<8sIIQQ32s")  # magic, version, reserved, header length, payload length, sha256
ALIGNMENT = 64
WRITE_BLOCK = 16 * 1024 * 1024  # bytes hashed and written at a time

Section = np.ndarray | bytes


def write_index_file(path: str | os.PathLike[str], header: dict[str, Any], sections: dict[str, Section]) -> None:
    """Write ``header`` (JSON-able, without "sections") and ``sections`` to ``path``, atomically.

    Raises:
        OSError: the folder does not exist or cannot be written (``path`` is left untouched).
    """
    table: dict[str, dict[str, Any]] = {}
    parts: list[tuple[int, memoryview]] = []  # (zero bytes before, data)
    end = 0
    for name, data in sections.items():
        start = -(-end // ALIGNMENT) * ALIGNMENT
        if isinstance(data, np.ndarray):
            array = np.ascontiguousarray(data)
            buffer = array.reshape(-1).view(np.uint8).data
            table[name] = {"dtype": array.dtype.str, "shape": list(array.shape)}
        else:
            buffer = memoryview(bytes(data))
            table[name] = {"dtype": "bytes", "shape": [len(buffer)]}
        table[name].update(offset=start, length=len(buffer))
        parts.append((start - end, buffer))
        end = start + len(buffer)
    header_bytes = json.dumps({**header, "sections": table}, ensure_ascii=False).encode("utf-8")

    def write(handle: IO[bytes]) -> None:
        """One pass: each block is hashed and written while in cache; the checksum goes in last."""
        handle.write(PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0, len(header_bytes), end, bytes(32)))
        digest = hashlib.sha256()
        for block in _blocks(header_bytes, parts):
            digest.update(block)
            handle.write(block)
        handle.seek(0)
        handle.write(PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0, len(header_bytes), end, digest.digest()))

    write_atomically(Path(path), write)


def _blocks(header_bytes: bytes, parts: list[tuple[int, memoryview]]) -> Iterator[memoryview]:
    """The bytes after the preamble, in order, in blocks of at most :data:`WRITE_BLOCK` bytes."""
    yield memoryview(header_bytes)
    for padding, buffer in parts:
        yield memoryview(bytes(padding))
        for start in range(0, len(buffer), WRITE_BLOCK):
            yield buffer[start : start + WRITE_BLOCK]


def read_index_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Section]]:
    """The header and sections (numpy arrays, or bytes for "bytes" sections) of the file at ``path``.

    Raises:
        IndexFormatError: a truncated file, one with trailing bytes, not an index file, a newer
            format version, a damaged header, or a checksum mismatch.
        OSError: the file cannot be opened (missing, a folder, no permission).
    """
    path = Path(path)
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        header_length, payload_length, expected = _read_preamble(path, handle, size)
        header_bytes = _read_exact(path, handle, header_length)
        digest = hashlib.sha256(header_bytes)
        header = _parse_header(path, bytes(header_bytes))
        table = _section_table(path, header.get("sections"), payload_length)
        sections: dict[str, Section] = {}
        position = 0
        for name, entry in sorted(table.items(), key=lambda item: int(item[1]["offset"])):
            digest.update(_read_exact(path, handle, entry["offset"] - position))  # alignment padding
            data = _read_exact(path, handle, entry["length"])
            digest.update(data)
            if entry["dtype"] == "bytes":
                sections[name] = bytes(data)
            else:
                sections[name] = np.frombuffer(data, dtype=np.dtype(entry["dtype"])).reshape(entry["shape"])
            position = entry["offset"] + entry["length"]
        digest.update(_read_exact(path, handle, payload_length - position))
    if digest.digest() != expected:
        raise IndexFormatError(
            f"{path} is corrupt: its SHA-256 checksum does not match its content (damaged on disk or in a copy). "
            "Restore it from a backup or rebuild the index."
        )
    return header, sections


def _read_preamble(path: Path, handle: IO[bytes], size: int) -> tuple[int, int, bytes]:
    preamble = handle.read(PREAMBLE.size)
    if not MAGIC.startswith(preamble[: len(MAGIC)]):  # a short file passes when it is a prefix of the magic
        raise IndexFormatError(
            f"{path} is not a sentkit vector index: it starts with {preamble[:8]!r}, not {MAGIC!r}. "
            "Pass a file written by VectorIndex.save."
        )
    if len(preamble) < PREAMBLE.size:
        raise IndexFormatError(
            f"{path} is truncated: it holds {size} bytes, fewer than the {PREAMBLE.size}-byte preamble of an "
            "index file. Restore it from a backup or save the index again."
        )
    _, version, _, header_length, payload_length, expected = PREAMBLE.unpack(preamble)
    if version == 0 or version > FORMAT_VERSION:
        raise IndexFormatError(
            f"{path} has index format version {version}; this sentkit reads versions 1 to {FORMAT_VERSION}. "
            "Upgrade sentkit to read it."
        )
    total = PREAMBLE.size + header_length + payload_length
    if size < total:
        raise IndexFormatError(
            f"{path} is truncated: it holds {size} of the {total} bytes its preamble announces (an interrupted "
            "copy or download?). Restore it from a backup or save the index again."
        )
    if size > total:
        raise IndexFormatError(
            f"{path} is corrupt: it has {size - total} unexpected bytes after the {total} bytes of the index. "
            "Restore it from a backup or save the index again."
        )
    return int(header_length), int(payload_length), bytes(expected)


def _read_exact(path: Path, handle: IO[bytes], count: int) -> bytearray:
    data = bytearray(count)
    view, done = memoryview(data), 0
    while done < count:
        got = handle.readinto(view[done:])  # type: ignore[attr-defined]
        if not got:
            raise IndexFormatError(f"{path} is truncated: it ended while being read (was it being rewritten?).")
        done += got
    return data


def _parse_header(path: Path, data: bytes) -> dict[str, Any]:
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{path} is corrupt: its header is not valid JSON ({exc}).") from exc
    if not isinstance(header, dict):
        raise IndexFormatError(f"{path} is corrupt: its header is not a JSON object.")
    return header


def _section_table(path: Path, table: Any, payload_length: int) -> dict[str, dict[str, Any]]:
    """The header's section table, checked to describe non-overlapping sections inside the payload."""
    if not isinstance(table, dict):
        raise IndexFormatError(f"{path} is corrupt: its header has no section table.")
    end = 0
    for name, entry in sorted(table.items(), key=lambda item: _offset(item[1])):
        problem = _section_problem(entry, end, payload_length)
        if problem:
            raise IndexFormatError(f"{path} is corrupt: section {name!r} {problem}.")
        end = entry["offset"] + entry["length"]
    return table


def _offset(entry: Any) -> int:
    value = entry.get("offset") if isinstance(entry, dict) else None
    return value if isinstance(value, int) else -1


def _section_problem(entry: Any, end: int, payload_length: int) -> str | None:
    """Why a section entry is unusable, or None."""
    if not isinstance(entry, dict):
        return "is not described by an object"
    offset, length, dtype, shape = (entry.get(key) for key in ("offset", "length", "dtype", "shape"))
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        return "has no valid offset and length"
    if offset < end or offset + length > payload_length:
        return f"(bytes {offset} to {offset + length}) overlaps another or ends past the {payload_length}-byte payload"
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        return "has no valid shape"
    if dtype == "bytes":
        return None if shape == [length] else "has a shape that does not match its length"
    try:
        numpy_dtype = np.dtype(dtype) if isinstance(dtype, str) else None
    except (TypeError, ValueError):
        numpy_dtype = None
    if numpy_dtype is None:
        return f"has an unknown dtype {dtype!r}"
    if numpy_dtype.kind not in "fiu":
        return f"has dtype {dtype!r}; only numeric arrays are stored"
    if int(np.prod(shape, dtype=np.int64)) * numpy_dtype.itemsize != length:
        return "has a shape and dtype that do not match its length"
    return None
