"""KeyBERT's ``keybert.backend`` module: ``from sentkit.backend import BaseEmbedder`` and the backends."""

from sentkit.backends import (
    BaseEmbedder,
    CallableBackend,
    Embedder,
    FlairBackend,
    GensimBackend,
    HFTransformerBackend,
    Model2VecBackend,
    SentenceTransformerBackend,
    SpacyBackend,
    USEBackend,
    select_backend,
)

__all__ = [
    "BaseEmbedder",
    "CallableBackend",
    "Embedder",
    "FlairBackend",
    "GensimBackend",
    "HFTransformerBackend",
    "Model2VecBackend",
    "SentenceTransformerBackend",
    "SpacyBackend",
    "USEBackend",
    "select_backend",
]
