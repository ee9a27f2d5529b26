"""LSTM: a (bidirectional) LSTM over the token embeddings."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from sentkit.errors import ConfigurationError
from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register


@register("lstm", reference=("LSTM",))
class LSTM(Module):
    """``token_embeddings`` (B, T, D) -> (B, T', hidden_dim * (2 if bidirectional else 1)).

    Padding is skipped (packed sequences); T' is the longest text's length. Lengths come from
    ``sentence_lengths`` (WordEmbeddings) or, after a Transformer, from the attention mask.

    Args:
        embedding_dimension: size D of the input (older name: ``word_embedding_dimension``).
        hidden_dim, num_layers, dropout, bidirectional: as in ``torch.nn.LSTM``.
    """

    config_keys: ClassVar[tuple[str, ...]] = (
        "embedding_dimension",
        "hidden_dim",
        "num_layers",
        "dropout",
        "bidirectional",
    )
    legacy_config_keys: ClassVar[dict[str, str]] = {"word_embedding_dimension": "embedding_dimension"}
    config_file_name: ClassVar[str] = "lstm_config.json"
    has_weights: ClassVar[bool] = True

    def __init__(
        self,
        embedding_dimension: int | None = None,
        hidden_dim: int | None = None,
        num_layers: int = 1,
        dropout: float = 0,
        bidirectional: bool = True,
        *,
        word_embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        embedding_dimension = embedding_dimension or word_embedding_dimension
        if embedding_dimension is None or hidden_dim is None:
            raise ConfigurationError("LSTM needs embedding_dimension and hidden_dim.")
        self.embedding_dimension = embedding_dimension
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.encoder = nn.LSTM(
            embedding_dimension,
            hidden_dim,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            batch_first=True,
        )

    def forward(self, features: Features) -> Features:
        tokens = features["token_embeddings"]  # (B, T, D)
        lengths = features.get("sentence_lengths")
        if lengths is None:
            lengths = features["attention_mask"].sum(dim=1)
        lengths = torch.clamp(lengths, min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.encoder(packed)
        features["token_embeddings"] = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)[0]  # (B, T', H)
        return features

    def get_embedding_dimension(self) -> int:
        return self.hidden_dim * (2 if self.bidirectional else 1)

    def expected_input_dimension(self) -> int:
        return self.embedding_dimension
