"""WeightedLayerPooling: token embeddings as a learned weighted mean of the encoder's layers."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from sentkit.errors import ConfigurationError
from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register


@register("weighted_layer_pooling", reference=("WeightedLayerPooling",))
class WeightedLayerPooling(Module):
    """``all_layer_embeddings`` (L + 1 tensors of (B, T, D)) -> ``token_embeddings`` (B, T, D).

    Layers ``layer_start`` .. L are averaged with the learned ``layer_weights``. A model that holds
    this module makes its Transformer return every layer's output.

    Args:
        embedding_dimension: D (older name: ``word_embedding_dimension``).
        num_hidden_layers: L, the encoder's layer count.
        layer_start: first layer averaged (0 is the embedding layer).
        layer_weights: initial weights, one per averaged layer (default all 1).

    Raises:
        ConfigurationError: no layer left to average, or weights of the wrong length.
    """

    config_keys: ClassVar[tuple[str, ...]] = ("embedding_dimension", "layer_start", "num_hidden_layers")
    legacy_config_keys: ClassVar[dict[str, str]] = {"word_embedding_dimension": "embedding_dimension"}
    has_weights: ClassVar[bool] = True
    needs_all_layers: ClassVar[bool] = True

    def __init__(
        self,
        embedding_dimension: int | None = None,
        num_hidden_layers: int = 12,
        layer_start: int = 4,
        layer_weights: torch.Tensor | list[float] | None = None,
        *,
        word_embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        embedding_dimension = embedding_dimension or word_embedding_dimension
        if embedding_dimension is None:
            raise ConfigurationError("WeightedLayerPooling needs embedding_dimension.")
        layers = num_hidden_layers + 1 - layer_start
        if layers <= 0:
            raise ConfigurationError(
                f"layer_start={layer_start} leaves no layer of the {num_hidden_layers} to average."
            )
        weights = torch.ones(layers) if layer_weights is None else torch.as_tensor(layer_weights, dtype=torch.float)
        if weights.shape != (layers,):
            raise ConfigurationError(
                f"layer_weights needs {layers} values (layers {layer_start}..{num_hidden_layers})."
            )
        self.embedding_dimension = embedding_dimension
        self.num_hidden_layers = num_hidden_layers
        self.layer_start = layer_start
        self.layer_weights = nn.Parameter(weights)

    def forward(self, features: Features) -> Features:
        layers = features.get("all_layer_embeddings")
        if layers is None:
            raise ConfigurationError(
                "WeightedLayerPooling needs every layer's output; put it after a Transformer in a "
                "SentenceTransformer (which switches them on) or load the model with output_hidden_states=True."
            )
        stacked = torch.stack(layers[self.layer_start :])  # (L', B, T, D)
        weights = self.layer_weights.view(-1, 1, 1, 1)  # (L', 1, 1, 1)
        features["token_embeddings"] = (weights * stacked).sum(dim=0) / self.layer_weights.sum()  # (B, T, D)
        return features

    def get_embedding_dimension(self) -> int:
        return self.embedding_dimension

    def expected_input_dimension(self) -> int:
        return self.embedding_dimension
