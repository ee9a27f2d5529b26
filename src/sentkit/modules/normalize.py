"""Normalize: scale embeddings to unit L2 length."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F

from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register


@register("normalize", reference=("Normalize",))
class Normalize(Module):
    """``features[module_output_name] = x / ||x||_2`` over the last dimension (shape unchanged)."""

    config_keys: ClassVar[tuple[str, ...]] = ("module_input_name", "module_output_name")
    needs_files: ClassVar[bool] = False

    def __init__(self, module_input_name: str = "sentence_embedding", module_output_name: str | None = None) -> None:
        super().__init__()
        self.module_input_name = module_input_name
        self.module_output_name = module_output_name or module_input_name

    def forward(self, features: Features) -> Features:
        x = features.get(self.module_input_name)
        if x is not None:
            features[self.module_output_name] = F.normalize(x, p=2, dim=-1)
        return features
