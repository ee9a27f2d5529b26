"""The model folder layouts sentkit reads and writes, as data.

A loader tries :data:`LAYOUTS` in order and uses the first whose marker file is present.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sentkit.errors import ModelFormatError
from sentkit.io.files import read_json, read_json_object, write_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModuleEntry:
    """One line of ``modules.json``: module ``idx`` named ``name`` lives in ``path`` as ``type``."""

    idx: int
    name: str
    path: str
    type: str


@dataclass(frozen=True)
class SentenceTransformersFolder:
    """A sentence-transformers model: ``modules.json`` lists the modules, each in its sub-folder."""

    marker: str = "modules.json"
    settings_file: str = "config_sentence_transformers.json"

    def matches(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read_entries(self, folder: Path) -> list[ModuleEntry]:
        """The module entries, each checked to have a type and a path inside ``folder``.

        Raises:
            ModelFormatError: invalid JSON, or a malformed entry.
        """
        source = folder / self.marker
        raw = read_json(source)
        if not isinstance(raw, list) or not raw:
            raise ModelFormatError(f"{source} must be a non-empty JSON list of module entries.")
        entries = []
        for position, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                raise ModelFormatError(f"Entry {position} of {source} needs a 'type' string, found {item!r}.")
            relative = str(item.get("path", ""))
            parts = PurePosixPath(relative.replace("\\", "/")).parts
            if PurePosixPath(relative).is_absolute() or ".." in parts:
                raise ModelFormatError(f"Entry {position} of {source} has path {relative!r} outside the model folder.")
            entries.append(
                ModuleEntry(int(item.get("idx", position)), str(item.get("name", position)), relative, item["type"])
            )
        return entries

    def read_settings(self, folder: Path) -> dict[str, Any]:
        path = folder / self.settings_file
        return read_json_object(path) if path.is_file() else {}

    def write(self, folder: Path, entries: list[ModuleEntry], settings: dict[str, Any]) -> None:
        write_json(folder / self.marker, [entry.__dict__ for entry in entries])
        write_json(folder / self.settings_file, settings)


@dataclass(frozen=True)
class HuggingFaceFolder:
    """A plain Hugging Face checkpoint: used as Transformer + mean pooling."""

    marker: str = "config.json"

    def matches(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()


# Files and folders that only a sentence-transformers folder holds, next to its modules.json.
_MODULE_FOLDER = re.compile(r"^\d+_[A-Za-z]\w*$")  # 1_Pooling, 2_Normalize, 2_Dense ...
_SENTENCE_TRANSFORMERS_FILES = ("sentence_bert_config.json", "config_sentence_transformers.json")


def check_not_damaged(folder: Path, strict: bool = True) -> None:
    """Refuse a folder that has sentence-transformers parts but lost its ``modules.json``.

    Loaded as a plain Hugging Face checkpoint, such a folder would silently drop its modules
    (a Pooling mode, Normalize, Dense). With ``strict=False`` it loads that way after a warning
    that lists what is skipped.

    Raises:
        ModelFormatError: ``strict`` and the folder holds module folders (``1_Pooling``, ...) or
            sentence-transformers config files without ``modules.json``.
    """
    if SENTENCE_TRANSFORMERS.matches(folder) or not folder.is_dir():
        return
    parts = sorted(
        f"{path.name}/" if path.is_dir() else path.name
        for path in folder.iterdir()
        if (path.is_dir() and _MODULE_FOLDER.match(path.name)) or path.name in _SENTENCE_TRANSFORMERS_FILES
    )
    if not parts:
        return
    message = (
        f"{folder} has {', '.join(parts)} but no modules.json: it looks like a sentence-transformers model folder "
        "that lost modules.json."
    )
    if strict:
        raise ModelFormatError(
            f"{message} Loaded as a plain checkpoint it would drop those modules. Restore modules.json (copy the "
            "model again), or pass verify=False to load it as Transformer + mean pooling."
        )
    logger.warning("%s verify=False: loading it as a plain checkpoint; skipped: %s.", message, ", ".join(parts))


SENTENCE_TRANSFORMERS = SentenceTransformersFolder()
HUGGING_FACE = HuggingFaceFolder()
LAYOUTS = (SENTENCE_TRANSFORMERS, HUGGING_FACE)
