"""CNN: 1-D convolutions with several kernel sizes over the token embeddings."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from sentkit.errors import ConfigurationError
from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register


@register("cnn", reference=("CNN",))
class CNN(Module):
    """``token_embeddings`` (B, T, in) -> (B, T', out_channels * len(kernel_sizes)).

    One ``Conv1d`` per kernel size (padding ``(k - 1) // 2``, so odd kernels keep the length with
    stride 1); their outputs are concatenated on the channel axis.

    Args:
        in_embedding_dimension: size of the input token embeddings (older name: ``in_word_embedding_dimension``).
        out_channels: channels per kernel size.
        kernel_sizes: the kernel widths.
        stride_sizes: one stride per kernel (default 1).
    """

    config_keys: ClassVar[tuple[str, ...]] = ("in_embedding_dimension", "out_channels", "kernel_sizes", "stride_sizes")
    legacy_config_keys: ClassVar[dict[str, str]] = {"in_word_embedding_dimension": "in_embedding_dimension"}
    config_file_name: ClassVar[str] = "cnn_config.json"
    has_weights: ClassVar[bool] = True

    def __init__(
        self,
        in_embedding_dimension: int | None = None,
        out_channels: int = 256,
        kernel_sizes: list[int] | None = None,
        stride_sizes: list[int] | None = None,
        *,
        in_word_embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        in_embedding_dimension = in_embedding_dimension or in_word_embedding_dimension
        if in_embedding_dimension is None:
            raise ConfigurationError("CNN needs in_embedding_dimension (the size of the token embeddings).")
        kernel_sizes = list(kernel_sizes) if kernel_sizes is not None else [1, 3, 5]
        stride_sizes = list(stride_sizes) if stride_sizes is not None else [1] * len(kernel_sizes)
        if len(stride_sizes) != len(kernel_sizes):
            raise ConfigurationError(f"CNN got {len(kernel_sizes)} kernel sizes but {len(stride_sizes)} strides.")
        self.in_embedding_dimension = in_embedding_dimension
        self.out_channels = out_channels
        self.kernel_sizes = kernel_sizes
        self.stride_sizes = stride_sizes
        self.convs = nn.ModuleList(
            nn.Conv1d(in_embedding_dimension, out_channels, kernel_size=k, stride=s, padding=(k - 1) // 2)
            for k, s in zip(kernel_sizes, stride_sizes, strict=True)
        )

    def forward(self, features: Features) -> Features:
        channels_first = features["token_embeddings"].transpose(1, -1)  # (B, in, T)
        convolved = torch.cat([conv(channels_first) for conv in self.convs], dim=1)  # (B, out * K, T')
        features["token_embeddings"] = convolved.transpose(1, -1)  # (B, T', out * K)
        return features

    def get_embedding_dimension(self) -> int:
        return self.out_channels * len(self.kernel_sizes)

    def expected_input_dimension(self) -> int:
        return self.in_embedding_dimension
