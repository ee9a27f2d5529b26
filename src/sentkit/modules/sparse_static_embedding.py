"""SparseStaticEmbedding: texts -> one fixed weight (e.g. IDF) per vocabulary token present, no model run.

Inference-free SPLADE models encode one side (usually queries) with this module and the other with
an MLM transformer and :class:`~sentkit.modules.splade_pooling.SpladePooling`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from sentkit.errors import ModelFormatError
from sentkit.io.files import read_json_object, write_json
from sentkit.io.weights import load_weights_into, save_weights
from sentkit.modules.base import Features, InputModule, LoadOptions, Module
from sentkit.modules.registry import register


@register("sparse_static_embedding", reference=("SparseStaticEmbedding",))
class SparseStaticEmbedding(InputModule):
    """``sentence_embedding[b, v] = weight[v]`` if token v occurs in text b, else 0: (B, V).

    Texts are tokenized without special tokens and truncated to the tokenizer's
    ``model_max_length``. If an earlier module already produced ``sentence_embedding``, the result
    is multiplied into it.

    Args:
        tokenizer: a Hugging Face tokenizer.
        weight: (V,) weight per vocabulary token; ones when None.
        frozen: whether training may change the weights (saved; inference ignores it).
    """

    config_keys: ClassVar[tuple[str, ...]] = ("frozen",)
    has_weights: ClassVar[bool] = True
    save_in_root: ClassVar[bool] = True
    reference_type: ClassVar[str] = "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding"

    def __init__(self, tokenizer: Any, weight: torch.Tensor | None = None, frozen: bool = False) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        if weight is None:
            weight = torch.ones(len(tokenizer.get_vocab()))
        self.weight = torch.nn.Parameter(weight.to(torch.float32), requires_grad=not frozen)
        self.frozen = frozen

    @property
    def num_dimensions(self) -> int:
        return int(self.weight.shape[0])

    @property
    def max_seq_length(self) -> int:
        return int(self.tokenizer.model_max_length)

    def get_embedding_dimension(self) -> int:
        return self.num_dimensions

    def tokenize(self, texts: list[str], **kwargs: Any) -> Features:
        """Tokenize ``texts`` without special tokens into padded (B, T) tensors."""
        encoded = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt", add_special_tokens=False)
        return dict(encoded)

    def forward(self, features: Features) -> Features:
        input_ids = features["input_ids"]  # (B, T)
        mask = features["attention_mask"]  # (B, T)
        present = torch.zeros(input_ids.shape[0], self.num_dimensions, dtype=torch.int64, device=input_ids.device)
        present.scatter_(1, input_ids, mask.to(torch.int64))  # (B, V): 1 where a kept token occurs
        embeddings = present * self.weight  # (B, V)
        previous = features.get("sentence_embedding")
        features["sentence_embedding"] = embeddings if previous is None else embeddings * previous
        return features

    def save(self, folder: str | Path, safe_serialization: bool = True) -> None:
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        save_weights(self, folder, safe_serialization=safe_serialization)
        write_json(folder / self.config_file_name, self.get_config_dict())

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        """Rebuild from ``folder``: tokenizer files, ``config.json`` and weights (or a token -> weight JSON).

        Raises:
            ModelFormatError: missing config, tokenizer or weights, or weights of the wrong size.
        """
        from transformers import AutoTokenizer

        folder = Path(folder)
        config_path = folder / cls.config_file_name
        config = read_json_object(config_path) if config_path.is_file() else {}
        json_weights = config.pop("path", None)
        settings = cls.normalize_config(config, source=config_path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelFormatError(f"Cannot load the SparseStaticEmbedding tokenizer in {folder}: {exc}") from exc
        if isinstance(json_weights, str) and json_weights.endswith(".json"):
            weight = _weights_from_json(folder / json_weights, tokenizer)
            return cls(tokenizer, weight=weight, **settings)
        module = cls(tokenizer, **settings)
        load_weights_into(module, folder)
        return module

    def __repr__(self) -> str:
        return f"SparseStaticEmbedding({self.get_config_dict()}, dim={self.num_dimensions})"


def _weights_from_json(path: Path, tokenizer: Any) -> torch.Tensor:
    """A (V,) weight vector from a JSON object mapping tokens to weights (tokens not listed get 0)."""
    if not path.is_file():
        raise ModelFormatError(f"The SparseStaticEmbedding config names {path}, which does not exist.")
    table = read_json_object(path)
    weight = torch.zeros(len(tokenizer.get_vocab()), dtype=torch.float32)
    ids = tokenizer.convert_tokens_to_ids(list(table))
    for token_id, value in zip(ids, table.values(), strict=True):
        weight[token_id] = float(value)
    return weight
