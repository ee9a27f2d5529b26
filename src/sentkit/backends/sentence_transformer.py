"""Backend for sentkit's and sentence-transformers' ``SentenceTransformer`` models."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentkit.backends.base import BaseEmbedder, loaded_class
from sentkit.errors import InputTypeError

__all__ = ["SentenceTransformerBackend", "is_sentence_transformer"]


def is_sentence_transformer(model: Any) -> bool:
    """Whether ``model`` is a sentkit or a sentence-transformers ``SentenceTransformer``."""
    classes = [
        loaded_class("sentkit.encoders.sentence_transformer", "SentenceTransformer"),
        loaded_class("sentence_transformers", "SentenceTransformer"),
    ]
    return any(cls is not None and isinstance(model, cls) for cls in classes)


class SentenceTransformerBackend(BaseEmbedder):
    """Embed with a ``SentenceTransformer``: sentkit's, sentence-transformers', or a model name.

    A name (``"all-MiniLM-L6-v2"``) loads sentkit's ``SentenceTransformer``. ``encode_kwargs`` go to
    every ``encode`` call (for example ``batch_size=64``).

    Raises:
        InputTypeError: ``embedding_model`` is neither a name nor a ``SentenceTransformer``.
    """

    def __init__(self, embedding_model: Any, **encode_kwargs: Any) -> None:
        super().__init__()
        if isinstance(embedding_model, str):
            from sentkit.encoders.sentence_transformer import SentenceTransformer

            embedding_model = SentenceTransformer(embedding_model)
        elif not is_sentence_transformer(embedding_model):
            raise InputTypeError(
                f"SentenceTransformerBackend needs a model name or a SentenceTransformer, got "
                f"{type(embedding_model).__name__}. Example: SentenceTransformer('all-MiniLM-L6-v2')."
            )
        self.embedding_model = embedding_model
        self.encode_kwargs = encode_kwargs

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        """Embed n texts into an (n, d) float32 array with ``encode``."""
        kwargs = {**self.encode_kwargs, "show_progress_bar": verbose}
        return np.asarray(self.embedding_model.encode(list(documents), **kwargs))
