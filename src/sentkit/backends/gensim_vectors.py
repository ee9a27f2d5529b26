"""Backend for gensim word vectors (``KeyedVectors``, as ``gensim.downloader.load`` returns them)."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sentkit.backends.base import BaseEmbedder, loaded_class
from sentkit.errors import InputTypeError

__all__ = ["GensimBackend"]


class GensimBackend(BaseEmbedder):
    """Embed a text as the mean of the vectors of its space-separated words (GloVe, word2vec, fastText).

    A word without a vector counts as a zero vector (a fastText model builds one from its character
    n-grams instead), so an empty text gives the zero vector.

    Raises:
        InputTypeError: ``embedding_model`` is not a gensim ``KeyedVectors``.
    """

    def __init__(self, embedding_model: Any) -> None:
        super().__init__()
        keyed_vectors = loaded_class("gensim.models.keyedvectors", "KeyedVectors")
        if keyed_vectors is None or not isinstance(embedding_model, keyed_vectors):
            raise InputTypeError(
                f"GensimBackend needs gensim KeyedVectors, got {type(embedding_model).__name__}. "
                "Example: gensim.downloader.load('fasttext-wiki-news-subwords-300'), or model.wv of a Word2Vec."
            )
        self.embedding_model = embedding_model

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        """Embed n texts into an (n, d) float32 array of mean word vectors."""
        dimension = int(self.embedding_model.vector_size)
        rows = np.zeros((len(documents), dimension), dtype=np.float32)
        for row, text in enumerate(tqdm(list(documents), disable=not verbose, leave=True)):
            words = text.split(" ")
            vectors = np.zeros((len(words), dimension), dtype=np.float32)  # (W, d); unknown words stay zero
            for index, word in enumerate(words):
                try:
                    vectors[index] = self.embedding_model.get_vector(word)
                except KeyError:
                    continue
            rows[row] = vectors.mean(axis=0)
        return rows
