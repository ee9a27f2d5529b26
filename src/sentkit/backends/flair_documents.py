"""Backend for flair embeddings: document embeddings, or token embeddings pooled into documents."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sentkit.backends.base import BaseEmbedder, loaded_class, require_library
from sentkit.errors import InputTypeError

__all__ = ["FlairBackend", "is_flair_embeddings"]

# What flair cannot embed (an empty text) is replaced by this stand-in text, as KeyBERT does.
EMPTY_STAND_IN = "an empty document"
BATCH_SIZE = 32


def is_flair_embeddings(model: Any) -> bool:
    """Whether ``model`` is a flair ``DocumentEmbeddings`` or ``TokenEmbeddings``."""
    classes = [loaded_class("flair.embeddings", name) for name in ("DocumentEmbeddings", "TokenEmbeddings")]
    return any(cls is not None and isinstance(model, cls) for cls in classes)


class FlairBackend(BaseEmbedder):
    """Embed with flair: ``TransformerDocumentEmbeddings``, ``DocumentPoolEmbeddings``, or token embeddings
    (``WordEmbeddings``), which are pooled with ``DocumentPoolEmbeddings``. Fine-tuning of document
    embeddings is switched off, as in KeyBERT.

    Raises:
        InputTypeError: ``embedding_model`` is not a flair token or document embedding.
    """

    def __init__(self, embedding_model: Any) -> None:
        super().__init__()
        token_embeddings = loaded_class("flair.embeddings", "TokenEmbeddings")
        if token_embeddings is not None and isinstance(embedding_model, token_embeddings):
            flair_embeddings = require_library("flair.embeddings", "flair", "FlairBackend")
            embedding_model = flair_embeddings.DocumentPoolEmbeddings([embedding_model])
        elif is_flair_embeddings(embedding_model):
            if "fine_tune" in vars(embedding_model):
                embedding_model.fine_tune = False
        else:
            raise InputTypeError(
                f"FlairBackend needs flair token or document embeddings, got {type(embedding_model).__name__}. "
                "Example: TransformerDocumentEmbeddings('roberta-base')."
            )
        self.embedding_model = embedding_model

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        """Embed n texts into an (n, d) array, in batches of ``BATCH_SIZE`` sentences.

        A batch that flair cannot embed (``RuntimeError``) is embedded text by text, and a text that
        still fails is replaced by a stand-in text, as KeyBERT does.
        """
        sentence = require_library("flair.data", "flair", "FlairBackend").Sentence
        documents = list(documents)
        rows: list[np.ndarray] = []
        for start in tqdm(range(0, len(documents), BATCH_SIZE), disable=not verbose, leave=True):
            texts = [text or EMPTY_STAND_IN for text in documents[start : start + BATCH_SIZE]]
            try:
                sentences = [sentence(text) for text in texts]
                self.embedding_model.embed(sentences)
            except RuntimeError:
                sentences = [self._embed_one(sentence, text) for text in texts]
            rows.extend(item.embedding.detach().cpu().numpy() for item in sentences)
        return np.asarray(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def _embed_one(self, sentence: Any, text: str) -> Any:
        try:
            item = sentence(text)
            self.embedding_model.embed(item)
        except RuntimeError:
            item = sentence(EMPTY_STAND_IN)
            self.embedding_model.embed(item)
        return item
