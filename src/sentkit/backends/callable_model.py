"""Backend for any callable from a list of texts to embeddings, such as a TF-Hub Universal Sentence Encoder."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sentkit.backends.base import BaseEmbedder, as_embedding_matrix
from sentkit.errors import InputTypeError

__all__ = ["CallableBackend", "USEBackend"]


class CallableBackend(BaseEmbedder):
    """Embed with ``embedding_model(texts)``, which returns an (n, d) array, tensor or nested list.

    This covers TF-Hub's Universal Sentence Encoder (``tensorflow_hub.load(...)``, returning
    TensorFlow tensors), torch callables and plain functions. Texts go in batches of ``batch_size``.

    Raises:
        InputTypeError: ``embedding_model`` is not callable.
    """

    def __init__(self, embedding_model: Any, batch_size: int = 256) -> None:
        super().__init__()
        if not callable(embedding_model):
            raise InputTypeError(
                f"{type(self).__name__} needs a callable from a list of texts to embeddings, "
                f"got {type(embedding_model).__name__}."
            )
        self.embedding_model = embedding_model
        self.batch_size = batch_size

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        """Embed n texts into an (n, d) array.

        Raises:
            InputError: the callable returned something that is not one row per text.
            NumericalError: the callable returned NaN or inf.
        """
        documents = list(documents)
        batches = []
        for start in tqdm(range(0, len(documents), self.batch_size), disable=not verbose, leave=True):
            batch = documents[start : start + self.batch_size]
            batches.append(as_embedding_matrix(self.embedding_model(batch), len(batch), "The model's embeddings"))
        return np.concatenate(batches) if batches else np.zeros((0, 0), dtype=np.float32)


# KeyBERT's name for the TF-Hub Universal Sentence Encoder backend.
USEBackend = CallableBackend
