"""Tokenization for the torch-free ONNX encoder: the exported ``tokenizer.json`` through ``tokenizers``.

Gives the same ids as the Hugging Face tokenizer the torch pipeline uses (the exported file is
that tokenizer's own backend, lowercasing included), truncated to ``max_seq_length``, with very
long texts cut first as the torch side does (:func:`sentkit._text.text_head`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sentkit._optional import require
from sentkit._text import first_unencodable, text_head
from sentkit.errors import ModelFormatError, UnencodableTextError


class TokenArrays:
    """Tokenizes texts once, then pads any subset of them into (B, T) int64 arrays."""

    def __init__(self, encodings: list[Any], pad_id: int, pad_type_id: int, left_padding: bool) -> None:
        self.encodings = encodings
        self.lengths = np.array([len(encoding.ids) for encoding in encodings], dtype=np.int64)
        self.pad_id = pad_id
        self.pad_type_id = pad_type_id
        self.left_padding = left_padding

    def batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask``, ``token_type_ids`` of the texts at ``indices``, padded."""
        width = int(self.lengths[indices].max())
        ids = np.full((len(indices), width), self.pad_id, dtype=np.int64)  # (B, T)
        types = np.full((len(indices), width), self.pad_type_id, dtype=np.int64)  # (B, T)
        mask = np.zeros((len(indices), width), dtype=np.int64)  # (B, T)
        for row, index in enumerate(indices):
            encoding = self.encodings[index]
            length = len(encoding.ids)
            columns = slice(width - length, width) if self.left_padding else slice(0, length)
            ids[row, columns] = encoding.ids
            types[row, columns] = encoding.type_ids
            mask[row, columns] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


class TextTokenizer:
    """The exported tokenizer with the encode-time settings of the pipeline."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        tokenizers = require("tokenizers", "onnx", "backend='onnx'")
        try:
            self.backend = tokenizers.Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises its own exception type for bad files
            raise ModelFormatError(f"Cannot load the tokenizer {path}: {exc}") from exc
        self.pad_id = int(manifest.get("pad_token_id") or 0)
        self.pad_type_id = int(manifest.get("pad_token_type_id") or 0)
        self.left_padding = manifest.get("padding_side") == "left"
        self.truncation_side = str(manifest.get("truncation_side") or "right")
        self._max_length = 0
        self.max_length = int(manifest["max_seq_length"])

    @property
    def max_length(self) -> int:
        return self._max_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self._max_length = value
        self.backend.enable_truncation(max_length=value, direction=self.truncation_side)

    def __call__(self, texts: list[str]) -> TokenArrays:
        """Tokenize ``texts`` (no padding yet).

        Raises:
            UnencodableTextError: a text that cannot be encoded (a lone surrogate), with its index.
        """
        heads = [text_head(text, self.max_length, self.count_tokens, self._truncated_ids) for text in texts]
        try:
            encodings = self.backend.encode_batch(heads)
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            index = first_unencodable(heads)
            if index is None:
                raise
            raise UnencodableTextError(index) from exc
        return TokenArrays(encodings, self.pad_id, self.pad_type_id, self.left_padding)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` without special tokens or truncation."""
        self.backend.no_truncation()
        try:
            return len(self.backend.encode(text, add_special_tokens=False).ids)
        finally:
            self.max_length = self._max_length

    def _truncated_ids(self, text: str) -> list[int]:
        return list(self.backend.encode(text).ids)
