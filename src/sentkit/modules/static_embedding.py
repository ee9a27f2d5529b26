"""StaticEmbedding: the mean of per-token vectors (model2vec-style static embeddings)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from torch import nn

from sentkit.errors import ConfigurationError, ModelFormatError
from sentkit.io.resolve import resolve_model_folder
from sentkit.io.weights import PICKLE_NAME, SAFETENSORS_NAME, load_state_dict
from sentkit.modules.base import Features, InputModule, LoadOptions, Module
from sentkit.modules.registry import register

TOKENIZER_FILE = "tokenizer.json"


@register("static_embedding", reference=("StaticEmbedding",))
class StaticEmbedding(InputModule):
    """texts -> ``sentence_embedding`` (B, D): the mean of the texts' token vectors.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` or a Hugging Face fast tokenizer.
        embedding_weights: (V, D) table, one row per token id.
        embedding_dim: D, for a randomly initialised table when no weights are given.

    Raises:
        ConfigurationError: a slow tokenizer, or neither weights nor a dimension.
    """

    def __init__(
        self,
        tokenizer: Any,
        embedding_weights: np.ndarray | torch.Tensor | None = None,
        embedding_dim: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not isinstance(backend, Tokenizer):
            raise ConfigurationError(
                f"StaticEmbedding needs a fast tokenizer (tokenizers.Tokenizer), got {type(tokenizer).__name__}."
            )
        if embedding_weights is not None:
            weights = torch.as_tensor(embedding_weights)
            self.embedding = nn.EmbeddingBag.from_pretrained(weights, freeze=False)
        elif embedding_dim is not None:
            self.embedding = nn.EmbeddingBag(backend.get_vocab_size(), embedding_dim)
        else:
            raise ConfigurationError("StaticEmbedding needs embedding_weights or embedding_dim.")
        self.tokenizer = backend
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.embedding_dim = self.embedding.embedding_dim
        self.base_model = kwargs.get("base_model")

    @property
    def max_seq_length(self) -> float:
        return math.inf

    def tokenize(self, texts: list[str], **kwargs: Any) -> Features:
        """Token ids of all texts in one flat tensor, with each text's start ``offsets`` (B,)."""
        ids = [encoding.ids for encoding in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        starts = np.cumsum([0] + [len(row) for row in ids[:-1]])
        flat = [token for row in ids for token in row]
        return {"input_ids": torch.tensor(flat, dtype=torch.long), "offsets": torch.from_numpy(starts)}

    def forward(self, features: Features) -> Features:
        features["sentence_embedding"] = self.embedding(features["input_ids"], features["offsets"])  # (B, D)
        return features

    def get_embedding_dimension(self) -> int:
        return int(self.embedding_dim)

    def get_config_dict(self) -> dict[str, Any]:
        return {}

    def save(self, folder: str | Path, safe_serialization: bool = True) -> None:
        folder = Path(folder)
        state = {key: value.detach().contiguous() for key, value in self.state_dict().items()}
        if safe_serialization:
            save_file(state, str(folder / SAFETENSORS_NAME))
        else:
            torch.save(state, folder / PICKLE_NAME)
        self.tokenizer.save(str(folder / TOKENIZER_FILE))

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        """Read a folder saved by sentkit or sentence-transformers, or a model2vec model folder."""
        folder = Path(folder)
        if not (folder / TOKENIZER_FILE).is_file():
            raise ModelFormatError(f"{folder / TOKENIZER_FILE} is missing: StaticEmbedding needs its tokenizer.")
        try:
            tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as exc:  # tokenizers raises its own exception type for a bad file
            raise ModelFormatError(f"Cannot read {folder / TOKENIZER_FILE}: {exc}") from exc
        state = load_state_dict(folder)
        if "embedding.weight" in state:
            weights = state["embedding.weight"]
        elif "embeddings" in state:
            weights = fold_model2vec_weights(state["embeddings"], state.get("mapping"), state.get("weights"))
        else:
            raise ModelFormatError(
                f"The weights in {folder} hold neither 'embedding.weight' nor model2vec 'embeddings'."
            )
        return cls(tokenizer, embedding_weights=weights)

    @classmethod
    def from_model2vec(cls, model_id_or_path: str | Path) -> StaticEmbedding:
        """Build from a model2vec model folder (or a cached hub id), without the model2vec package."""
        module = cast(StaticEmbedding, cls.load(resolve_model_folder(model_id_or_path, expand_name=False)))
        module.base_model = str(model_id_or_path)
        return module


def fold_model2vec_weights(
    embeddings: torch.Tensor, mapping: torch.Tensor | None = None, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """One row per token id: ``embeddings[mapping[token]] * weights[token]``, as model2vec averages."""
    if mapping is not None:
        embeddings = embeddings[mapping.long()]
    if weights is not None:
        dtype = torch.promote_types(embeddings.dtype, torch.float32)
        embeddings = (embeddings.to(dtype) * weights[:, None]).to(dtype)
    return embeddings.contiguous()
