"""The ``sentkit-embeddings`` folder format: its names, shard file names and manifest check.

Shared by the writer (:mod:`sentkit.io.embeddings_store`, :mod:`sentkit.inference.streaming`) and
the reader (:mod:`sentkit.io.embeddings_reader`); the layout is described in
:mod:`sentkit.io.embeddings_store`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentkit.errors import InputError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MANIFEST", "ShardFiles", "read_manifest"]

FORMAT_NAME = "sentkit-embeddings"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ShardFiles:
    """The file names of shard ``index`` inside an embeddings folder."""

    index: int

    @property
    def embeddings(self) -> str:
        return f"embeddings-{self.index:05d}.npy"

    @property
    def texts(self) -> str:
        return f"texts-{self.index:05d}.txt"

    @property
    def offsets(self) -> str:
        return f"texts-{self.index:05d}.offsets.npy"

    def names(self) -> tuple[str, str, str]:
        return self.embeddings, self.texts, self.offsets


def read_manifest(
    folder: str | Path, format_name: str = FORMAT_NAME, format_version: int = FORMAT_VERSION, kind: str = "embeddings"
) -> dict[str, Any]:
    """Parse and check ``folder/manifest.json`` of a ``format_name`` folder (``kind`` names it in errors;
    the token-embeddings store of :mod:`sentkit.apps.multi_vector_search` shares this layout).

    Raises:
        InputError: no manifest, invalid JSON, another format, or a newer version than this sentkit reads.
    """
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder} is not {_article(kind)} {kind} folder: it has no {MANIFEST}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"Cannot read {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != format_name:
        raise InputError(f"{path} is not a {format_name} manifest.")
    version = manifest.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise InputError(f"{path} has format version {version!r}, which is not an integer.")
    if version > format_version:
        raise InputError(
            f"{path} has format version {version}; this sentkit reads up to {format_version}. Upgrade sentkit."
        )
    return manifest


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
