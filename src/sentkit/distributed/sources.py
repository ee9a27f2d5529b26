"""Read Parquet, JSONL or text files into a Ray Dataset of (id, text) rows.

Parquet and JSONL rows must carry their own id column. A text file gives one row per non-empty
line, with the id ``"<path>:<line number>"`` (1-based, empty lines counted but not emitted), so the
ids are the same however Ray splits the work and whichever attempt of a retried task produced
them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentkit.errors import InputError, InputTypeError

__all__ = ["FORMATS", "as_path_list", "infer_format", "read_source", "split_lines"]

FORMATS = ("parquet", "jsonl", "text")
_SUFFIXES = {
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".txt": "text",
    ".text": "text",
}

Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def as_path_list(paths: Paths) -> list[str]:
    """One path or a sequence of paths as a list of str."""
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    if isinstance(paths, Sequence) and paths and all(isinstance(path, (str, os.PathLike)) for path in paths):
        return [os.fspath(path) for path in paths]
    raise InputTypeError(
        "data must be a ray.data.Dataset, a path or a non-empty list of paths (Parquet, JSONL or text files "
        f"or folders of them), got {type(paths).__name__}."
    )


def infer_format(paths: list[str]) -> str:
    """The input format named by the files' suffixes (a folder: by the files in it).

    Raises:
        InputError: no suffix is known, or the paths mix formats (pass ``input_format=``).
    """
    found: set[str] = set()
    for path in paths:
        files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [Path(path)]
        found.update(_SUFFIXES[file.suffix] for file in files if file.suffix in _SUFFIXES)
    if len(found) != 1:
        what = f"mixed formats {sorted(found)}" if found else "no file with a known suffix"
        raise InputError(
            f"Cannot tell the input format of {paths}: {what}. Known suffixes: {', '.join(sorted(_SUFFIXES))}; "
            f"pass input_format= (one of {', '.join(FORMATS)})."
        )
    return found.pop()


def read_source(ray_data: Any, paths: list[str], input_format: str | None, id_column: str, text_column: str) -> Any:
    """A lazy Ray Dataset of the rows in ``paths``.

    Parquet and JSONL keep all their columns (the batch encoder reads ``id_column`` and
    ``text_column``); text files give exactly those two columns.

    Raises:
        InputError: an unknown ``input_format``.
    """
    input_format = input_format or infer_format(paths)
    if input_format == "parquet":
        return ray_data.read_parquet(paths)
    if input_format == "jsonl":
        return ray_data.read_json(paths, lines=True)
    if input_format == "text":
        files = ray_data.read_binary_files(paths, include_paths=True)
        return files.map_batches(
            split_lines,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"id_column": id_column, "text_column": text_column},
        )
    raise InputError(f"input_format={input_format!r} is not one of {', '.join(FORMATS)}.")


def split_lines(files: Any, id_column: str, text_column: str) -> Any:
    """A pyarrow Table of files (``path``, ``bytes``) -> one row per non-empty line (id, text).

    Lines end at ``\\n`` (a trailing ``\\r`` is dropped); text is UTF-8.

    Raises:
        InputError: a file that is not valid UTF-8 (names it).
    """
    import pyarrow as pa

    ids: list[str] = []
    texts: list[str] = []
    for path, content in zip(files.column("path").to_pylist(), files.column("bytes").to_pylist(), strict=True):
        try:
            decoded = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not valid UTF-8 text ({exc}); convert it to UTF-8 first.") from exc
        for number, line in enumerate(decoded.split("\n"), start=1):
            line = line.removesuffix("\r")
            if line:
                ids.append(f"{path}:{number}")
                texts.append(line)
    return pa.table({id_column: pa.array(ids, pa.string()), text_column: pa.array(texts, pa.string())})
