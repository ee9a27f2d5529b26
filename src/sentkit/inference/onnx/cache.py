"""Where exported ONNX models live: a cache folder per model content and export settings.

An export is stored under ``<cache>/onnx/<key>/`` where the key hashes the source model's files
(every file of its folder, by content) and the export settings, so a changed model never reuses a
stale export and the same model found under two names shares one. The cache root is
``$SENTKIT_CACHE`` or ``~/.cache/sentkit``. Hashing a 90 MB model takes a fraction of a second;
its result is remembered per file path, size and modification time (``hashes.json``), so a cold
start with a cached export does not read the weights at all. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sentkit.io.integrity import UNCHECKED_FILES, file_sha256

EXPORT_FORMAT = 1  # bump when the exported graph or the manifest changes
QUANTIZATIONS = (None, "int8", "int8-static")  # what an export can be: float32, or int8 dynamic / static
MANIFEST = "sentkit_onnx.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


def cache_root() -> Path:
    return Path(os.environ.get("SENTKIT_CACHE") or Path.home() / ".cache" / "sentkit")


def export_folder(source_key: str, quantization: str | None, load_settings: dict[str, Any] | None = None) -> Path:
    """The cache folder of the export of the model with ``source_key``.

    ``load_settings`` (keyword arguments the model was loaded with) join the key only when given,
    so a plain load by ``SentenceTransformer(backend="onnx")`` and ``OnnxEncoder.load`` share one.
    """
    settings: dict[str, Any] = {"source": source_key, "format": EXPORT_FORMAT, "quantization": quantization}
    if load_settings:
        settings["load"] = json.dumps(load_settings, sort_keys=True, default=str)
    payload = json.dumps(settings, sort_keys=True)
    return cache_root() / "onnx" / hashlib.sha256(payload.encode()).hexdigest()[:32]


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (MANIFEST, MODEL_FILE, TOKENIZER_FILE))


def folder_key(folder: Path) -> str:
    """A hash of every file in ``folder`` (relative path and content), remembered by file stat."""
    memo_path = cache_root() / "hashes.json"
    memo = _read_memo(memo_path)
    digest = hashlib.sha256()
    changed = False
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in UNCHECKED_FILES):
        if "__pycache__" in path.parts:
            continue
        stat = path.stat()
        stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        entry = memo.get(str(path.resolve()))
        if entry is None or entry[0] != stamp:
            entry = [stamp, file_sha256(path)]
            memo[str(path.resolve())] = entry
            changed = True
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + entry[1].encode() + b"\0")
    if changed:
        _write_memo(memo_path, memo)
    return digest.hexdigest()


def _read_memo(path: Path) -> dict[str, list[str]]:
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _write_memo(path: Path, memo: dict[str, list[str]]) -> None:
    """Write the memo atomically; a failure only costs a re-hash next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(memo), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass
