"""LayerNorm over the sentence embedding."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register


@register("layer_norm", reference=("LayerNorm",))
class LayerNorm(Module):
    """``sentence_embedding`` (B, dimension) -> layer normalisation with learned scale and shift."""

    config_keys: ClassVar[tuple[str, ...]] = ("dimension",)
    has_weights: ClassVar[bool] = True

    def __init__(self, dimension: int) -> None:
        super().__init__()
        self.dimension = dimension
        self.norm = nn.LayerNorm(dimension)

    def forward(self, features: Features) -> Features:
        features["sentence_embedding"] = self.norm(features["sentence_embedding"])
        return features

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def expected_input_dimension(self) -> int:
        return self.dimension
