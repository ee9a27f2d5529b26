"""Backend for model2vec ``StaticModel`` objects, optionally distilled from a sentence-transformers model."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentkit._optional import require
from sentkit.backends.base import BaseEmbedder, loaded_class, require_library
from sentkit.errors import InputTypeError

__all__ = ["Model2VecBackend"]


class Model2VecBackend(BaseEmbedder):
    """Embed with a model2vec ``StaticModel`` (or the name of one, loaded with ``from_pretrained``).

    With ``distill=True``, ``embedding_model`` names a sentence-transformers model that is distilled
    into a static model on the first :meth:`embed` call, with the words of those first texts
    (counted by ``distill_vectorizer``, a ``CountVectorizer`` by default, most frequent first) as its
    vocabulary unless ``distill_kwargs`` holds a ``vocabulary``.

    Raises:
        InputTypeError: the model is not a ``StaticModel`` or a name (or not a name when distilling).
        MissingDependencyError: model2vec (or its ``distill`` part) is not installed.
    """

    def __init__(
        self,
        embedding_model: Any,
        distill: bool = False,
        distill_kwargs: dict[str, Any] | None = None,
        distill_vectorizer: Any = None,
    ) -> None:
        super().__init__()
        self.distill = distill
        self.distill_kwargs = dict(distill_kwargs or {})
        self.distill_vectorizer = distill_vectorizer
        self._has_distilled = False
        if distill:
            require_library("model2vec.distill", "'model2vec[distill]'", "Model2VecBackend(distill=True)")
            if not isinstance(embedding_model, str):
                raise InputTypeError("Model2VecBackend(distill=True) needs the name of a sentence-transformers model.")
            if self.distill_vectorizer is None:
                text = require("sklearn.feature_extraction.text", "keywords", "Model2VecBackend(distill=True)")
                self.distill_vectorizer = text.CountVectorizer()
            self.embedding_model = embedding_model
            return
        if isinstance(embedding_model, str):
            model2vec = require_library("model2vec", "model2vec", "Model2VecBackend")
            embedding_model = model2vec.StaticModel.from_pretrained(embedding_model)
        static_model = loaded_class("model2vec", "StaticModel")
        if static_model is None or not isinstance(embedding_model, static_model):
            raise InputTypeError(
                f"Model2VecBackend needs a model2vec StaticModel or its name, got {type(embedding_model).__name__}. "
                "Example: StaticModel.from_pretrained('minishlab/potion-base-8M')."
            )
        self.embedding_model = embedding_model

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        """Embed n texts into an (n, d) array with ``StaticModel.encode`` (distilling first if asked)."""
        documents = list(documents)
        if self.distill and not self._has_distilled:
            self._distill(documents)
        return np.asarray(self.embedding_model.encode(documents, show_progress_bar=verbose))

    def _distill(self, documents: list[str]) -> None:
        distill = require_library("model2vec.distill", "'model2vec[distill]'", "Model2VecBackend(distill=True)").distill
        if not self.distill_kwargs.get("vocabulary"):
            counts = self.distill_vectorizer.fit_transform(documents)
            totals = np.asarray(counts.sum(axis=0)).ravel()  # (V,)
            words = self.distill_vectorizer.get_feature_names_out()
            order = sorted(range(len(words)), key=lambda index: totals[index], reverse=True)
            self.distill_kwargs["vocabulary"] = [str(words[index]) for index in order]
        self.embedding_model = distill(self.embedding_model, **self.distill_kwargs)
        self._has_distilled = True
