"""``sentkit.models``: the building blocks under the names sentence-transformers users know."""

from sentkit.modules import (
    CNN,
    LSTM,
    Asym,
    BoW,
    Dense,
    Dropout,
    InputModule,
    LayerNorm,
    Module,
    Normalize,
    PhraseTokenizer,
    Pooling,
    Router,
    StaticEmbedding,
    Transformer,
    WeightedLayerPooling,
    WhitespaceTokenizer,
    WKPooling,
    WordEmbeddings,
    WordTokenizer,
    WordWeights,
)

# ``models.tokenizer.WhitespaceTokenizer`` as in sentence-transformers' older layout.
from sentkit.modules import word_tokenizers as tokenizer

__all__ = [
    "CNN",
    "LSTM",
    "Asym",
    "BoW",
    "Dense",
    "Dropout",
    "InputModule",
    "LayerNorm",
    "Module",
    "Normalize",
    "PhraseTokenizer",
    "Pooling",
    "Router",
    "StaticEmbedding",
    "Transformer",
    "WKPooling",
    "WeightedLayerPooling",
    "WhitespaceTokenizer",
    "WordEmbeddings",
    "WordTokenizer",
    "WordWeights",
    "tokenizer",
]
