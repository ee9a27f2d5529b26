"""Adapters that turn other embedders into one :class:`Embedder` protocol: ``embed(texts) -> (n, d) array``.

One adapter per file; each imports its library only when it is built (importing this package imports
numpy and tqdm only). :func:`select_backend` picks the adapter for a model object.
"""

from sentkit.backends.base import BaseEmbedder, Embedder
from sentkit.backends.callable_model import CallableBackend, USEBackend
from sentkit.backends.flair_documents import FlairBackend
from sentkit.backends.gensim_vectors import GensimBackend
from sentkit.backends.hf_pipeline import HFTransformerBackend
from sentkit.backends.model2vec_static import Model2VecBackend
from sentkit.backends.selection import select_backend
from sentkit.backends.sentence_transformer import SentenceTransformerBackend
from sentkit.backends.spacy_language import SpacyBackend

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
