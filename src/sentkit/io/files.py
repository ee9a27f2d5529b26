"""Reading and writing the JSON files of a model folder, with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
