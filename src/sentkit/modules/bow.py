"""BoW: texts -> bag-of-words vectors over a vocabulary, optionally tf-idf weighted."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from sentkit.modules.base import Features, InputModule
from sentkit.modules.registry import register
from sentkit.modules.word_tokenizers import WhitespaceTokenizer
from sentkit.modules.word_weights import vocabulary_weights


@register("bow", reference=("BoW",))
class BoW(InputModule):
    """texts -> ``sentence_embedding`` (B, len(vocab)): the weighted count of each vocabulary word.

    Args:
        vocab: the words (duplicates are dropped, first occurrence kept).
        word_weights: word -> weight (e.g. idf); words missing here get ``unknown_word_weight``.
        unknown_word_weight: weight of words without an entry.
        cumulative_term_frequency: add the weight once per occurrence (tf-idf) instead of once per word.
    """

    config_keys: ClassVar[tuple[str, ...]] = (
        "vocab",
        "word_weights",
        "unknown_word_weight",
        "cumulative_term_frequency",
    )

    def __init__(
        self,
        vocab: list[str],
        word_weights: dict[str, float] | None = None,
        unknown_word_weight: float = 1,
        cumulative_term_frequency: bool = True,
    ) -> None:
        super().__init__()
        self.vocab = list(dict.fromkeys(vocab))
        self.word_weights = dict(word_weights or {})
        self.unknown_word_weight = unknown_word_weight
        self.cumulative_term_frequency = cumulative_term_frequency
        self.weights = vocabulary_weights(self.vocab, self.word_weights, unknown_word_weight)
        self.tokenizer = WhitespaceTokenizer(self.vocab, stop_words=(), do_lower_case=False)

    def tokenize(self, texts: list[str], **kwargs: Any) -> Features:
        vectors = torch.zeros((len(texts), len(self.vocab)), dtype=torch.float32)  # (B, V)
        for row, text in enumerate(texts):
            for token in self.tokenizer.tokenize(text):
                if self.cumulative_term_frequency:
                    vectors[row, token] += self.weights[token]
                else:
                    vectors[row, token] = self.weights[token]
        return {"sentence_embedding": vectors}

    def forward(self, features: Features) -> Features:
        return features

    def get_embedding_dimension(self) -> int:
        return len(self.vocab)
