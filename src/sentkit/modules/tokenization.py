"""The tokenizer side of a Transformer: files, lowercasing, truncation of very long texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentkit._text import first_unencodable, text_head
from sentkit.errors import ModelFormatError, UnencodableTextError
from sentkit.io.files import read_json

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
    """Wraps a Hugging Face fast tokenizer with the calling convention sentkit's pipelines use."""

    def __init__(self, hf_tokenizer: Any) -> None:
        self.hf_tokenizer = hf_tokenizer

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
        value = getattr(self.hf_tokenizer, "model_max_length", None)
        return int(value) if isinstance(value, int) and value > 0 else 1 << 30

    def __call__(self, texts: list[TextInput], max_length: int) -> dict[str, Any]:
        """Tokenize ``texts`` into padded (B, T) tensors, each truncated to ``max_length`` tokens.

        Raises:
            UnencodableTextError: a text that cannot be encoded (e.g. a lone surrogate), with its index.
        """
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

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` without special tokens or truncation."""
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
