"""Pipelines that exercise each module, built the same way in sentkit and in sentence-transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tests.tiny_models import corpus_lines

WORD_DIM = 12


def vocabulary() -> list[str]:
    from tests.reference import TEXTS

    lines = [*corpus_lines(), *TEXTS, "A cat and a dog in the garden."]
    words = sorted({word.strip(".,!?;:'\"").lower() for line in lines for word in line.split()})
    return ["PADDING_TOKEN", *[w for w in words if w]]


def word_vectors(size: int) -> np.ndarray:
    vectors = np.random.default_rng(3).normal(size=(size, WORD_DIM)).astype(np.float32)
    vectors[0] = 0
    return vectors


def idf(vocab: list[str]) -> dict[str, float]:
    rng = np.random.default_rng(4)
    return {word: float(rng.uniform(0.5, 3.0)) for word in vocab[1::2]}


def pipeline(lib: Any, kind: str, checkpoint: Path | None = None) -> list[Any]:
    """The modules of pipeline ``kind`` built with ``lib`` (``sentkit.models`` or the reference's)."""
    torch.manual_seed(5)
    vocab = vocabulary()

    def words() -> Any:
        tokenizer = lib.WhitespaceTokenizer(vocab, do_lower_case=True)
        return lib.WordEmbeddings(tokenizer, word_vectors(len(vocab)))

    if kind == "word_weights":
        return [words(), lib.WordWeights(vocab, idf(vocab), 0.7), lib.Pooling(WORD_DIM), lib.Dense(WORD_DIM, 6)]
    if kind == "cnn":
        return [words(), lib.CNN(WORD_DIM, out_channels=5, kernel_sizes=[1, 3]), lib.Pooling(10, pooling_mode="max")]
    if kind == "lstm":
        return [words(), lib.LSTM(WORD_DIM, hidden_dim=7, num_layers=2), lib.Pooling(14)]
    if kind == "bow":
        return [lib.BoW(vocab[1:200], idf(vocab), unknown_word_weight=0.5), lib.Normalize()]
    if kind == "layer_norm":
        return [words(), lib.Pooling(WORD_DIM), lib.LayerNorm(WORD_DIM), lib.Dropout(0.3)]
    if kind == "asym":
        dense = {route: [lib.Dense(WORD_DIM, 4)] for route in ("query", "doc")}
        return [words(), lib.Pooling(WORD_DIM), lib.Asym(dense)]
    assert checkpoint is not None
    if kind == "weighted_layer_pooling":
        transformer = lib.Transformer(str(checkpoint), config_kwargs={"output_hidden_states": True})
        return [transformer, lib.WeightedLayerPooling(32, num_hidden_layers=2, layer_start=1), lib.Pooling(32)]
    if kind == "router_first":
        query = [lib.Transformer(str(checkpoint)), lib.Pooling(32, pooling_mode="cls")]
        document = [lib.Transformer(str(checkpoint)), lib.Pooling(32)]
        return [lib.Router.for_query_document(query, document)]
    raise ValueError(kind)
