"""Reading and writing the files of a model folder: JSON with errors that name the file, atomic writes."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sentkit.errors import ModelFormatError


def read_json(path: str | Path) -> Any:
    """Parse the JSON file at ``path``.

    Raises:
        ModelFormatError: the file cannot be read or is not valid JSON (names file, line, column).
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
            "Restore the file from the original model or re-save the model."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"Cannot read {path}: {exc}") from exc


def read_json_object(path: str | Path) -> dict[str, Any]:
    """Like :func:`read_json`, for files whose top level must be a JSON object."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path} must hold a JSON object, found {type(data).__name__}.")
    return data


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON."""
    with Path(path).open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=4, ensure_ascii=False)
        handle.write("\n")


NEW_FILE_MODE = 0o644


def write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a temporary file in its folder: write, flush, fsync, rename, fsync the folder.

    The new file takes the mode of the file it replaces (0o644 when there is none).
    """
    folder = path.parent
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = NEW_FILE_MODE
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_folder(folder)


def fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
