"""Backend for spaCy pipelines (``spacy.language.Language``): static-vector and transformer pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sentkit.backends.base import BaseEmbedder, loaded_class
from sentkit.errors import ConfigurationError, InputTypeError

__all__ = ["SpacyBackend"]

# What spaCy cannot parse (as KeyBERT does, it is replaced by this stand-in text).
EMPTY_STAND_IN = "An empty document"


class SpacyBackend(BaseEmbedder):
    """Embed with a spaCy pipeline: ``doc.vector`` (the mean of the token vectors), or for a pipeline
    with a ``transformer`` component the pooled output of spacy-transformers (``doc._.trf_data``).

    Raises:
        InputTypeError: ``embedding_model`` is not a spaCy ``Language`` (``spacy.load(...)``).
    """

    def __init__(self, embedding_model: Any) -> None:
        super().__init__()
        language = loaded_class("spacy.language", "Language")
        if language is None or not isinstance(embedding_model, language):
            raise InputTypeError(
                f"SpacyBackend needs a spaCy pipeline, got {type(embedding_model).__name__}. "
                "Example: nlp = spacy.load('en_core_web_md')."
            )
        self.embedding_model = embedding_model

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        """Embed n texts into an (n, d) array, one ``nlp(text)`` call per text.

        Raises:
            ConfigurationError: a transformer pipeline whose output has no pooled tensors.
        """
        uses_transformer = "transformer" in self.embedding_model.component_names
        vector = self._transformer_vector if uses_transformer else self._static_vector
        rows = [vector(text) for text in tqdm(list(documents), disable=not verbose, leave=True)]
        return np.array(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def _static_vector(self, text: str) -> np.ndarray:
        try:
            return np.asarray(self.embedding_model(text).vector)
        except ValueError:
            return np.asarray(self.embedding_model(EMPTY_STAND_IN).vector)

    def _transformer_vector(self, text: str) -> np.ndarray:
        try:
            return self._pooled(self.embedding_model(text))
        except (ValueError, IndexError):
            return self._pooled(self.embedding_model(EMPTY_STAND_IN))

    @staticmethod
    def _pooled(doc: Any) -> np.ndarray:
        tensors = getattr(doc._.trf_data, "tensors", None)
        if tensors is None:
            raise ConfigurationError(
                "This spaCy transformer pipeline gives no pooled tensors (doc._.trf_data.tensors), which "
                "spacy-transformers < 1.3 provides; wrap the pipeline in your own BaseEmbedder instead."
            )
        return np.asarray(tensors[-1][0])  # (d,): the pooled output of the first span
