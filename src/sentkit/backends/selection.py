"""Pick the backend for a model object: ``isinstance`` checks against already-imported libraries."""

from __future__ import annotations

from typing import Any

from sentkit.backends.base import BaseEmbedder, Embedder, loaded_class
from sentkit.backends.callable_model import CallableBackend
from sentkit.backends.flair_documents import FlairBackend, is_flair_embeddings
from sentkit.backends.gensim_vectors import GensimBackend
from sentkit.backends.hf_pipeline import HFTransformerBackend
from sentkit.backends.model2vec_static import Model2VecBackend
from sentkit.backends.sentence_transformer import SentenceTransformerBackend, is_sentence_transformer
from sentkit.backends.spacy_language import SpacyBackend
from sentkit.errors import InputTypeError

__all__ = ["select_backend"]

ACCEPTED = (
    "a model name, a sentkit or sentence-transformers SentenceTransformer, a BaseEmbedder, a model2vec "
    "StaticModel, flair embeddings, a spaCy Language, gensim KeyedVectors, a transformers pipeline, an "
    "object with embed(texts), or a callable from texts to embeddings (e.g. a TF-Hub Universal Sentence Encoder)"
)


def _instance_of(model: Any, module: str, name: str) -> bool:
    cls = loaded_class(module, name)
    return cls is not None and isinstance(model, cls)


def select_backend(model: Any) -> Embedder:
    """Wrap ``model`` in the backend that embeds with it; return a :class:`BaseEmbedder` as it is.

    The order matters where one object fits several kinds: the library classes come first, then any
    object with an ``embed`` method (the :class:`Embedder` protocol), then any callable. Library classes
    are recognised with ``isinstance``, looked up only in modules already imported (see
    :func:`~sentkit.backends.base.loaded_class`), so nothing heavy is imported here.

    Raises:
        InputTypeError: ``model`` is none of the accepted kinds (the message lists them).
    """
    if isinstance(model, BaseEmbedder):
        return model
    if isinstance(model, str) or is_sentence_transformer(model):
        return SentenceTransformerBackend(model)
    if _instance_of(model, "model2vec", "StaticModel"):
        return Model2VecBackend(model)
    if is_flair_embeddings(model):
        return FlairBackend(model)
    if _instance_of(model, "spacy.language", "Language"):
        return SpacyBackend(model)
    if _instance_of(model, "gensim.models.keyedvectors", "KeyedVectors"):
        return GensimBackend(model)
    if _instance_of(model, "transformers.pipelines", "Pipeline"):
        return HFTransformerBackend(model)
    if isinstance(model, Embedder):
        return model
    if callable(model):
        return CallableBackend(model)
    raise InputTypeError(f"KeyBERT cannot embed with a {type(model).__name__}; pass {ACCEPTED}.")
