"""The tokenizer side of a Transformer: files, lowercasing, truncation of very long texts."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sentkit._text import first_unencodable, text_head
from sentkit.errors import ModelFormatError, UnencodableTextError
from sentkit.io.files import read_json

logger = logging.getLogger(__name__)

# A tokenizer snapshot (Tokenizer.save_snapshot): the backend and the settings a call needs.
SNAPSHOT_FORMAT = 1
SNAPSHOT_TOKENIZER = "tokenizer.json"
SNAPSHOT_SETTINGS = "sentkit_tokenizer.json"

TextInput = str | tuple[str, str] | list[str]
"""One input: a text, or a (text, text) pair."""

TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "sentencepiece.model",
)


class Tokenizer:
    """Wraps a Hugging Face fast tokenizer with the calling convention sentkit's pipelines use.

    A tokenizer made by :meth:`from_snapshot` tokenizes texts with ``tokenizers`` alone (the saved
    backend of the Hugging Face tokenizer, so the same ids) and loads the Hugging Face tokenizer
    only when something needs it (text pairs, ``hf_tokenizer``, saving).
    """

    def __init__(self, hf_tokenizer: Any) -> None:
        self._hf_tokenizer = hf_tokenizer
        self._snapshot: Any = None  # a TextTokenizer over the saved backend, when made from a snapshot
        self._settings: dict[str, Any] = {}
        self._load_hf: Any = None

    @property
    def hf_tokenizer(self) -> Any:
        """The Hugging Face tokenizer (loaded now if this one was made from a snapshot)."""
        if self._hf_tokenizer is None:
            self._hf_tokenizer = self._load_hf()
        return self._hf_tokenizer

    @classmethod
    def from_snapshot(cls, folder: Path, load_hf: Any) -> Tokenizer | None:
        """The tokenizer saved by :meth:`save_snapshot` in ``folder`` (None when there is none).

        ``load_hf()`` loads the Hugging Face tokenizer on first use of :attr:`hf_tokenizer`.
        """
        from sentkit.inference.onnx.tokens import TextTokenizer

        try:
            settings = read_json(folder / SNAPSHOT_SETTINGS)
            if not isinstance(settings, dict) or settings.get("format") != SNAPSHOT_FORMAT:
                return None
            manifest = {**settings, "max_seq_length": settings["model_max_length"]}
            snapshot = TextTokenizer(folder / SNAPSHOT_TOKENIZER, manifest)
        except (OSError, KeyError, ModelFormatError):
            return None
        tokenizer = cls(None)
        tokenizer._snapshot, tokenizer._settings, tokenizer._load_hf = snapshot, settings, load_hf
        return tokenizer

    def save_snapshot(self, folder: Path) -> None:
        """Save what :meth:`from_snapshot` needs: the backend (``tokenizer.json``) and the call settings."""
        folder.mkdir(parents=True, exist_ok=True)
        self.save_backend(folder / SNAPSHOT_TOKENIZER)
        settings = {"format": SNAPSHOT_FORMAT, **self.call_settings()}
        (folder / SNAPSHOT_SETTINGS).write_text(json.dumps(settings, indent=2), encoding="utf-8")

    def save_backend(self, path: Path) -> None:
        """Write the ``tokenizers`` backend to ``path``, without padding and truncation (set per call)."""
        state = json.loads(self.hf_tokenizer.backend_tokenizer.to_str())
        state["truncation"] = None
        state["padding"] = None
        path.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")

    def call_settings(self) -> dict[str, Any]:
        """Padding, truncation and output settings of the Hugging Face tokenizer (what a call uses)."""
        hf_tokenizer = self.hf_tokenizer
        return {
            "pad_token_id": hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else 0,
            "pad_token": hf_tokenizer.pad_token or "",
            "pad_token_type_id": getattr(hf_tokenizer, "pad_token_type_id", 0),
            "padding_side": getattr(hf_tokenizer, "padding_side", "right"),
            "truncation_side": getattr(hf_tokenizer, "truncation_side", "right"),
            "model_max_length": self.model_max_length,
            "model_input_names": list(getattr(hf_tokenizer, "model_input_names", ())),
        }

    @classmethod
    def load(cls, folder: Path, kwargs: dict[str, Any], lowercase: bool = False) -> Tokenizer:
        """Load the tokenizer saved in ``folder``.

        Raises:
            ModelFormatError: no tokenizer file, invalid JSON, or a tokenizer that fails to load.
        """
        from transformers import AutoTokenizer

        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ModelFormatError(
                f"No tokenizer files in {folder}: expected one of {', '.join(TOKENIZER_FILES)}. "
                "Copy the tokenizer files of the original model into this folder."
            )
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (folder / name).is_file():
                read_json(folder / name)
        try:
            hf_tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelFormatError(f"Cannot load the tokenizer in {folder}: {exc}") from exc
        if lowercase:
            _add_lowercasing(hf_tokenizer)
        return cls(hf_tokenizer)

    @property
    def model_max_length(self) -> int:
        if self._snapshot is not None:
            return int(self._settings["model_max_length"])
        value = getattr(self.hf_tokenizer, "model_max_length", None)
        return int(value) if isinstance(value, int) and value > 0 else 1 << 30

    def __call__(self, texts: list[TextInput], max_length: int) -> dict[str, Any]:
        """Tokenize ``texts`` into padded (B, T) tensors, each truncated to ``max_length`` tokens.

        Raises:
            UnencodableTextError: a text that cannot be encoded (e.g. a lone surrogate), with its index.
        """
        if self._snapshot is not None and all(isinstance(text, str) for text in texts):
            return self._snapshot_call(texts, max_length)  # type: ignore[arg-type]
        batch: list[Any]
        if texts and isinstance(texts[0], str):
            batch = [self._head(text, max_length) for text in texts]  # type: ignore[arg-type]
            call: tuple[Any, ...] = (batch,)
        else:
            pairs = [tuple(text) for text in texts]
            call = ([pair[0] for pair in pairs], [pair[1] for pair in pairs])
            batch = pairs
        try:
            encoded = self.hf_tokenizer(
                *call, padding=True, truncation="longest_first", max_length=max_length, return_tensors="pt"
            )
        except (TypeError, ValueError) as exc:
            index = first_unencodable(batch)
            if index is None:
                raise
            raise UnencodableTextError(index) from exc
        return dict(encoded)

    def _snapshot_call(self, texts: list[str], max_length: int) -> dict[str, Any]:
        import torch

        self._snapshot.max_length = max_length
        arrays = self._snapshot(texts).batch(np.arange(len(texts)))
        return {name: torch.from_numpy(arrays[name]) for name in self._settings["model_input_names"]}

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` without special tokens or truncation."""
        if self._snapshot is not None:
            return self._snapshot.count_tokens(text)
        return len(self.hf_tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def _head(self, text: str, max_length: int) -> str:
        return text_head(text, max_length, self.count_tokens, lambda part: self._ids(part, max_length))

    def _ids(self, text: str, max_length: int) -> list[int]:
        return list(self.hf_tokenizer(text, truncation=True, max_length=max_length)["input_ids"])

    def save(self, folder: Path, max_length: int) -> None:
        self.hf_tokenizer.model_max_length = max_length
        self.hf_tokenizer.save_pretrained(folder)


def _add_lowercasing(hf_tokenizer: Any) -> None:
    """Put a Lowercase normalizer in front of the tokenizer's own (as sentence-transformers does)."""
    from tokenizers import normalizers

    backend = hf_tokenizer.backend_tokenizer
    current = backend.normalizer
    if isinstance(current, normalizers.Lowercase):
        return
    steps: list[Any] = [normalizers.Lowercase()]
    if isinstance(current, normalizers.Sequence):
        steps.extend(list(current))  # type: ignore[call-overload]
    elif current is not None:
        steps.append(current)
    backend.normalizer = normalizers.Sequence(steps)


# Tokenizer snapshots cached per model folder (what lets a native BERT load without transformers).


def snapshot_path(folder: Path, lowercase: bool) -> Path | None:
    """Where the tokenizer snapshot of the model in ``folder`` is cached (None: the folder cannot be read).

    The path hashes the folder's content, so a changed folder never uses a stale snapshot.
    """
    from sentkit.inference.onnx.cache import cache_root, folder_key

    try:
        source = folder_key(folder)
    except OSError:
        return None
    payload = json.dumps({"source": source, "lowercase": lowercase, "format": SNAPSHOT_FORMAT}, sort_keys=True)
    return cache_root() / "tokenizers" / hashlib.sha256(payload.encode()).hexdigest()[:32]


def cached_tokenizer(snapshot: Path, folder: Path, lowercase: bool) -> Tokenizer | None:
    """The tokenizer of ``folder`` from its snapshot, without ``transformers`` (None when none is cached)."""
    return Tokenizer.from_snapshot(snapshot, functools.partial(_load_hf_tokenizer, folder, lowercase))  # picklable


def store_snapshot(tokenizer: Tokenizer, snapshot: Path) -> None:
    """Write ``tokenizer``'s snapshot to ``snapshot`` atomically; an unwritable cache only costs speed."""
    if snapshot.exists():
        return
    staged = snapshot.with_name(f"{snapshot.name}.{os.getpid()}.tmp")
    try:
        tokenizer.save_snapshot(staged)
        os.replace(staged, snapshot)
    except OSError as exc:
        logger.debug("Cannot save the tokenizer snapshot in %s: %s", snapshot, exc)
        shutil.rmtree(staged, ignore_errors=True)


def _load_hf_tokenizer(folder: Path, lowercase: bool) -> Any:
    return Tokenizer.load(folder, {"trust_remote_code": False}, lowercase=lowercase).hf_tokenizer
