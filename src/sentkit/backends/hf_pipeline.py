"""Backend for a Hugging Face ``transformers`` feature-extraction pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sentkit.backends.base import BaseEmbedder, loaded_class, to_numpy
from sentkit.errors import InputTypeError

__all__ = ["HFTransformerBackend"]


class HFTransformerBackend(BaseEmbedder):
    """Embed with ``pipeline("feature-extraction", model=...)``: the mean of a text's token vectors,
    scaled to unit length (as KeyBERT's backend does).

    Raises:
        InputTypeError: ``embedding_model`` is not a ``transformers`` pipeline.
    """

    def __init__(self, embedding_model: Any) -> None:
        super().__init__()
        pipeline = loaded_class("transformers.pipelines", "Pipeline")
        if pipeline is None or not isinstance(embedding_model, pipeline):
            raise InputTypeError(
                f"HFTransformerBackend needs a transformers pipeline, got {type(embedding_model).__name__}. "
                "Example: pipeline('feature-extraction', model='distilbert-base-cased')."
            )
        self.embedding_model = embedding_model

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        """Embed n texts into an (n, d) array of unit-length mean token vectors."""
        documents = list(documents)
        outputs = self.embedding_model(documents, truncation=True)
        rows = []
        for features in tqdm(outputs, total=len(documents), disable=not verbose, leave=True):
            tokens = to_numpy(features)  # (1, T, d)
            mean = tokens.sum(axis=1)[0] / tokens.shape[1]  # (d,)
            norm = float(np.sqrt(np.dot(mean, mean)))
            rows.append(mean / norm if norm > 0 else mean)
        return np.asarray(rows) if rows else np.zeros((0, 0), dtype=np.float32)
