"""Dropout on the sentence embedding (active in training only)."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register


@register("dropout", reference=("Dropout",))
class Dropout(Module):
    """``sentence_embedding`` (B, D) -> dropout with probability ``dropout`` -> (B, D)."""

    config_keys: ClassVar[tuple[str, ...]] = ("dropout",)

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.dropout = dropout
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, features: Features) -> Features:
        features["sentence_embedding"] = self.dropout_layer(features["sentence_embedding"])
        return features
