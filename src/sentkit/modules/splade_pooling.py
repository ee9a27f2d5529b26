"""SpladePooling: MLM logits per token -> one sparse vocabulary-sized vector per text (SPLADE)."""

from __future__ import annotations

from typing import ClassVar

import torch

from sentkit.errors import ConfigurationError
from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register

POOLING_STRATEGIES = ("max", "sum")
ACTIVATIONS = ("relu", "log1p_relu")


@register("splade_pooling", reference=("SpladePooling",))
class SpladePooling(Module):
    """Pool MLM logits ``token_embeddings`` (B, T, V) into ``sentence_embedding`` (B, V).

    Each token's logits become ``log(1 + relu(logit))`` (``activation_function="relu"``, SPLADE)
    or that value passed through ``log1p`` once more (``"log1p_relu"``, OpenSearch models);
    padding positions count as 0. The tokens are then combined by ``max`` (SPLADE v2 and later)
    or ``sum`` (the first SPLADE). All weights are >= 0 and most are exactly 0.

    Args:
        pooling_strategy: ``"max"`` or ``"sum"``.
        activation_function: ``"relu"`` or ``"log1p_relu"``.
        embedding_dimension: V, when known (older name: ``word_embedding_dimension``); set on the
            first forward pass otherwise.
        chunk_size: tokens processed at once along T, to bound memory on long inputs (not saved).

    Raises:
        ConfigurationError: an unknown strategy or activation.
    """

    config_keys: ClassVar[tuple[str, ...]] = ("pooling_strategy", "activation_function", "embedding_dimension")
    legacy_config_keys: ClassVar[dict[str, str]] = {"word_embedding_dimension": "embedding_dimension"}
    reference_type: ClassVar[str] = "sentence_transformers.sparse_encoder.models.SpladePooling"

    def __init__(
        self,
        pooling_strategy: str = "max",
        activation_function: str = "relu",
        embedding_dimension: int | None = None,
        chunk_size: int | None = None,
        *,
        word_embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        if pooling_strategy not in POOLING_STRATEGIES:
            raise ConfigurationError(
                f"pooling_strategy={pooling_strategy!r} is not supported; use one of {POOLING_STRATEGIES}."
            )
        if activation_function not in ACTIVATIONS:
            raise ConfigurationError(
                f"activation_function={activation_function!r} is not supported; use one of {ACTIVATIONS}."
            )
        self.pooling_strategy = pooling_strategy
        self.activation_function = activation_function
        dimension = embedding_dimension if embedding_dimension is not None else word_embedding_dimension
        self.embedding_dimension = None if dimension is None else int(dimension)
        self.chunk_size = chunk_size

    def get_embedding_dimension(self) -> int | None:
        return self.embedding_dimension

    def forward(self, features: Features) -> Features:
        logits = features["token_embeddings"]  # (B, T, V)
        mask = features["attention_mask"].unsqueeze(-1).to(logits.dtype)  # (B, T, 1)
        length = logits.shape[1]
        step = self.chunk_size if self.chunk_size and self.chunk_size > 0 else max(length, 1)
        pooled: torch.Tensor | None = None
        for start in range(0, length, step):
            weights = self._weights(logits[:, start : start + step] * mask[:, start : start + step])  # (B, t, V)
            if self.pooling_strategy == "max":
                chunk = weights.max(dim=1).values  # (B, V)
                pooled = chunk if pooled is None else torch.maximum(pooled, chunk)
            else:
                chunk = weights.sum(dim=1)
                pooled = chunk if pooled is None else pooled + chunk
        if pooled is None:  # no tokens at all
            pooled = logits.new_zeros((logits.shape[0], logits.shape[2]))
        if self.embedding_dimension is None:
            self.embedding_dimension = int(pooled.shape[1])
        features["sentence_embedding"] = pooled  # (B, V)
        return features

    def _weights(self, masked: torch.Tensor) -> torch.Tensor:
        """``log1p(relu(x))`` (twice log1p for log1p_relu) of the masked logits, in place when no gradient is needed."""
        if torch.is_grad_enabled() and masked.requires_grad:
            weights = torch.log1p(torch.relu(masked))
            return torch.log1p(weights) if self.activation_function == "log1p_relu" else weights
        weights = masked.relu_().log1p_()  # masked is a fresh product, so this spares two (B, t, V) copies
        return weights.log1p_() if self.activation_function == "log1p_relu" else weights
