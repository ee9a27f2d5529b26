"""Checksums of model folders: a manifest written on save, hub-cache files checked by their blob names.

``save`` writes :data:`MANIFEST_FILE` into the model folder: the size and sha256 digest of every
file it wrote but the model card (``README.md``, which people edit after saving) and
``.gitattributes``. sentence-transformers ignores the extra file, so the folder still loads
there. On load, :func:`verify_model_folder` checks a folder two ways:

- a folder with a manifest: every file it lists must exist with that size and digest;
- a Hugging Face cache snapshot: the hub stores each file once, as a blob named by its digest
  (sha256 for LFS files such as weights, git's sha1 of the blob for small files), and the snapshot
  links to it; each linked file must hash to its blob's name. Files sentkit never reads there
  (``pytorch_model.bin`` next to safetensors weights, other frameworks' weights) are skipped.

Anything else (a folder copied by hand, a carrier package) loads as before: there is nothing to
check it against. A mismatch raises :class:`~sentkit.errors.ModelFormatError` naming the file.

Hashing all-MiniLM-L6-v2 (90 MB) takes about 65 ms; :func:`verified` runs it in a thread while
the model loads, which on two cores hides it for a model of that size (measured: +0.4% to a
``SentenceTransformer`` cold start, +3.7% to an ``OnnxEncoder`` one). A model of several GB adds
the part of its hashing time that loading does not cover.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from sentkit.errors import ModelFormatError
from sentkit.io.files import write_atomically

MANIFEST_FILE = "sentkit_checksums.json"
MANIFEST_FORMAT = 1
UNCHECKED_FILES = frozenset({"README.md", ".gitattributes"})
"""Files a model folder may change after saving without changing the model."""
# Hub files sentkit never reads: other frameworks' weights, and .bin weights beside safetensors ones.
_NEVER_READ = ("*.onnx", "*.h5", "*.msgpack", "*.ot", "flax_model*", "tf_model*", "openvino_*")
_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamps(folder: Path) -> dict[str, tuple[int, int, int]]:
    """(size, mtime, inode) of each file under ``folder`` a manifest may cover, by relative POSIX path."""
    stamps = {}
    for path in folder.rglob("*"):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name != MANIFEST_FILE and path.name not in UNCHECKED_FILES:
            stat = path.stat()
            stamps[name] = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    return stamps


@contextlib.contextmanager
def checksummed(folder: Path) -> Iterator[None]:
    """Write the manifest of the files the block writes (creates or changes) in ``folder``.

    Files that were there before and that the block left alone (a training log, checkpoints) are not
    part of the model and stay out of it; so does a file rewritten in place within the filesystem's
    timestamp resolution with the same size, which is then simply not checked.
    """
    folder.mkdir(parents=True, exist_ok=True)
    before = _stamps(folder)
    yield
    written = sorted(name for name, stamp in _stamps(folder).items() if before.get(name) != stamp)
    files = {name: {"size": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)} for name in written}
    manifest = {"format": MANIFEST_FORMAT, "algorithm": "sha256", "files": files}

    def write(handle: IO[bytes]) -> None:
        handle.write(json.dumps(manifest, indent=2).encode("utf-8"))

    write_atomically(folder / MANIFEST_FILE, write)


def verify_model_folder(folder: Path) -> None:
    """Check ``folder`` against its manifest, or its hub-cache blob names (see the module docstring).

    Raises:
        ModelFormatError: a listed file is missing, has another size, or another digest; or the
            manifest itself is unreadable. The message names the file and what to do.
    """
    manifest_path = folder / MANIFEST_FILE
    if manifest_path.is_file():
        _verify_manifest(folder, manifest_path)
    else:
        _verify_hub_blobs(folder)


def _verify_manifest(folder: Path, manifest_path: Path) -> None:
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
        entries = [(str(name), int(entry["size"]), str(entry["sha256"])) for name, entry in files.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFormatError(
            f"The checksum manifest {manifest_path} is unreadable ({exc}). Delete it to load the folder "
            "unchecked, or save the model again."
        ) from exc
    for name, size, sha256 in entries:
        path = folder / name
        if Path(name).name in UNCHECKED_FILES:
            continue
        if not path.is_file():
            raise ModelFormatError(f"{path} is missing: {manifest_path.name} lists it as part of this model.")
        if path.stat().st_size != size or _digest(path, file_sha256) != sha256:
            raise ModelFormatError(
                f"{path} is damaged: its content differs from the checksum {manifest_path.name} recorded when "
                "the model was saved. Copy or download the model again; if you changed the file on purpose, "
                f"delete {manifest_path.name} or load with verify=False."
            )


def _never_read(path: Path) -> bool:
    if any(fnmatch.fnmatch(path.name, pattern) for pattern in _NEVER_READ) or path.name in UNCHECKED_FILES:
        return True
    return path.suffix == ".bin" and any(path.parent.glob("*.safetensors"))


def _digest(path: Path, hasher: Callable[[Path], str]) -> str:
    try:
        return hasher(path)
    except OSError as exc:
        raise ModelFormatError(f"Cannot read {path} to check it: {exc}") from exc


def _verify_hub_blobs(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if not path.is_symlink() or not path.is_file() or _never_read(path):
            continue
        blob = Path(os.readlink(path))
        name = blob.name
        if blob.parent.name != "blobs" or not set(name) <= _HEX or len(name) not in (40, 64):
            continue
        actual = _digest(path, file_sha256 if len(name) == 64 else _git_blob_sha1)
        if actual != name:
            raise ModelFormatError(
                f"{path} is damaged: the Hugging Face cache stores it as blob {name}, but its content hashes to "
                f"{actual}. Delete the cached model and download it again."
            )


@contextlib.contextmanager
def verified(folder: Path | None, enabled: bool = True) -> Iterator[None]:
    """Verify ``folder`` in a thread while the block loads the model from it.

    The check's :class:`~sentkit.errors.ModelFormatError` is raised after the block, also in place
    of an error the block raised (a damaged weights file often fails to load too, and the check
    names it better); otherwise the block's own error stands. An interrupt does not wait for the check.

    Raises:
        ModelFormatError: from :func:`verify_model_folder`.
    """
    if folder is None or not enabled:
        yield
        return
    found: list[ModelFormatError] = []

    def check() -> None:
        try:
            verify_model_folder(folder)
        except ModelFormatError as exc:  # raised in the caller's thread below
            found.append(exc)

    thread = threading.Thread(target=check, name="sentkit-verify", daemon=True)
    thread.start()
    try:
        yield
    except Exception as error:
        thread.join()
        if found:
            raise found[0] from error
        raise
    thread.join()
    if found:
        raise found[0]
