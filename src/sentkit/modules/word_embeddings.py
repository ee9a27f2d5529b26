"""WordEmbeddings: a word tokenizer and an embedding table, texts -> token embeddings."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import torch
from torch import nn

from sentkit.errors import ConfigurationError, InputError, ModelFormatError
from sentkit.io.files import read_json_object
from sentkit.io.weights import load_state_dict
from sentkit.modules.base import Features, InputModule, LoadOptions, Module
from sentkit.modules.registry import register
from sentkit.modules.word_tokenizers import (
    REFERENCE_TOKENIZER_PATHS,
    WhitespaceTokenizer,
    WordTokenizer,
    word_tokenizer_class,
)

logger = logging.getLogger(__name__)

PADDING_TOKEN = "PADDING_TOKEN"


@register("word_embeddings", reference=("WordEmbeddings",))
class WordEmbeddings(InputModule):
    """Look up one vector per word: texts -> ``token_embeddings`` (B, T, D), ``attention_mask`` (B, T).

    Args:
        tokenizer: a :class:`WordTokenizer` whose vocabulary indexes the rows of ``embedding_weights``.
        embedding_weights: (V, D) array or tensor; row 0 is the padding vector.
        update_embeddings: train the table (frozen by default).
        max_seq_length: words kept per text.

    Raises:
        ConfigurationError: weights that are not a 2-D table.
    """

    config_keys: ClassVar[tuple[str, ...]] = ("tokenizer_class", "update_embeddings", "max_seq_length")
    config_file_name: ClassVar[str] = "wordembedding_config.json"
    has_weights: ClassVar[bool] = True

    def __init__(
        self,
        tokenizer: WordTokenizer,
        embedding_weights: np.ndarray | torch.Tensor | list[list[float]],
        update_embeddings: bool = False,
        max_seq_length: int = 1000000,
    ) -> None:
        super().__init__()
        if not isinstance(tokenizer, WordTokenizer):
            raise ConfigurationError(f"tokenizer must be a WordTokenizer, got {type(tokenizer).__name__}.")
        weights = torch.as_tensor(
            np.asarray(embedding_weights) if isinstance(embedding_weights, list) else embedding_weights
        )
        if weights.dim() != 2:
            raise ConfigurationError(
                f"embedding_weights must be a (vocab, dim) table, got shape {tuple(weights.shape)}."
            )
        self.tokenizer = tokenizer
        self.emb_layer = nn.Embedding.from_pretrained(weights.float(), freeze=not update_embeddings)
        self.embeddings_dimension = int(weights.shape[1])
        self.update_embeddings = update_embeddings
        self.max_seq_length = max_seq_length

    @property
    def tokenizer_class(self) -> str:
        name = type(self.tokenizer).__name__
        return REFERENCE_TOKENIZER_PATHS.get(name, f"{type(self.tokenizer).__module__}.{name}")

    def tokenize(self, texts: list[str], **kwargs: Any) -> Features:
        """Word ids padded with 0 (B, T), their mask (B, T) and ``sentence_lengths`` (B,)."""
        ids = [self.tokenizer.tokenize(text)[: self.max_seq_length] for text in texts]
        lengths = [len(row) for row in ids]
        width = max(1, *lengths) if lengths else 1
        return {
            "input_ids": torch.tensor([row + [0] * (width - len(row)) for row in ids], dtype=torch.long),
            "attention_mask": torch.tensor([[1] * n + [0] * (width - n) for n in lengths], dtype=torch.long),
            "sentence_lengths": torch.tensor(lengths, dtype=torch.long),
        }

    def forward(self, features: Features) -> Features:
        features["token_embeddings"] = self.emb_layer(features["input_ids"])  # (B, T, D)
        return features

    def get_embedding_dimension(self) -> int:
        return self.embeddings_dimension

    def save(self, folder: str | Path, safe_serialization: bool = True) -> None:
        super().save(folder, safe_serialization)
        self.tokenizer.save(folder)

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        folder = Path(folder)
        config = read_json_object(folder / cls.config_file_name)
        tokenizer = word_tokenizer_class(str(config.get("tokenizer_class", "WhitespaceTokenizer"))).load(folder)
        state = load_state_dict(folder)
        if "emb_layer.weight" not in state:
            raise ModelFormatError(f"The weights in {folder} have no 'emb_layer.weight' table.")
        return cls(
            tokenizer,
            state["emb_layer.weight"],
            update_embeddings=bool(config.get("update_embeddings", False)),
            max_seq_length=int(config.get("max_seq_length", 1000000)),
        )

    @classmethod
    def from_text_file(
        cls,
        embeddings_file_path: str | Path,
        update_embeddings: bool = False,
        item_separator: str = " ",
        tokenizer: WordTokenizer | None = None,
        max_vocab_size: int | None = None,
    ) -> WordEmbeddings:
        """Read GloVe / word2vec style text vectors (``word v1 v2 ...`` per line, ``.gz`` allowed).

        A leading ``count dim`` header line (word2vec) is skipped. Row 0 of the table is a zero
        padding vector, as in the reference.

        Raises:
            InputError: the file does not exist (nothing is downloaded).
            ModelFormatError: a row whose number of values differs from the first row's (names the line).
        """
        path = Path(embeddings_file_path)
        if not path.is_file():
            raise InputError(f"Embeddings file not found: {path}. sentkit never downloads one; pass a local path.")
        vocab: list[str] = []
        rows: list[np.ndarray] = []
        dimension: int | None = None
        with _open_text(path) as handle:
            for line_number, line in enumerate(handle, start=1):
                parts = line.rstrip().split(item_separator)
                if not vocab and len(parts) == 2:
                    continue  # word2vec header: vocabulary size and dimension
                if dimension is None:
                    dimension = len(parts) - 1
                    vocab.append(PADDING_TOKEN)
                    rows.append(np.zeros(dimension))
                if len(parts) - 1 != dimension:
                    raise ModelFormatError(
                        f"{path}, line {line_number}: {len(parts) - 1} values where the first row has {dimension}."
                    )
                try:
                    rows.append(np.array([float(value) for value in parts[1:]]))
                except ValueError as exc:
                    raise ModelFormatError(f"{path}, line {line_number}: {exc}") from exc
                vocab.append(parts[0])
                if max_vocab_size is not None and 0 < max_vocab_size < len(vocab):
                    break
        if dimension is None:
            raise ModelFormatError(f"{path} holds no vectors.")
        tokenizer = tokenizer or WhitespaceTokenizer()
        tokenizer.set_vocab(vocab)
        return cls(tokenizer, np.asarray(rows), update_embeddings=update_embeddings)


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")
