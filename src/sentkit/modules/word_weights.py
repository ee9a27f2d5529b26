"""WordWeights: scale each token embedding by a per-word weight (e.g. idf)."""

from __future__ import annotations

import logging
from typing import ClassVar

import torch
from torch import nn

from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register

logger = logging.getLogger(__name__)


def vocabulary_weights(vocab: list[str], word_weights: dict[str, float], unknown_word_weight: float) -> list[float]:
    """The weight of each vocabulary word: its own, else its lowercase form's, else ``unknown_word_weight``."""
    weights = []
    for word in vocab:
        weight = word_weights.get(word, word_weights.get(word.lower(), unknown_word_weight))
        weights.append(float(weight))
    return weights


@register("word_weights", reference=("WordWeights",))
class WordWeights(Module):
    """Multiply ``token_embeddings`` (B, T, D) by the weight of each token's word.

    Also writes ``token_weights_sum`` (B,), which mean pooling then divides by, giving a weighted mean.

    Args:
        vocab: the tokenizer's vocabulary, in id order.
        word_weights: word -> weight; words may be missing (then their lowercase form is tried).
        unknown_word_weight: weight of vocabulary words found in neither form.
    """

    config_keys: ClassVar[tuple[str, ...]] = ("vocab", "word_weights", "unknown_word_weight")
    has_weights: ClassVar[bool] = True

    def __init__(self, vocab: list[str], word_weights: dict[str, float], unknown_word_weight: float = 1) -> None:
        super().__init__()
        self.vocab = list(vocab)
        self.word_weights = dict(word_weights)
        self.unknown_word_weight = unknown_word_weight
        weights = vocabulary_weights(self.vocab, self.word_weights, unknown_word_weight)
        self.emb_layer = nn.Embedding(len(self.vocab), 1)
        with torch.no_grad():
            self.emb_layer.weight.copy_(torch.tensor(weights, dtype=torch.float32).unsqueeze(1))

    def forward(self, features: Features) -> Features:
        tokens = features["token_embeddings"]  # (B, T, D)
        mask = features["attention_mask"].float()  # (B, T)
        weights = self.emb_layer(features["input_ids"]).squeeze(-1) * mask  # (B, T)
        features["token_embeddings"] = tokens * weights.unsqueeze(-1)
        features["token_weights_sum"] = weights.sum(dim=1)  # (B,)
        return features
