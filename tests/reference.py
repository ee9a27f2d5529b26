"""Helpers that build models with the reference library (sentence-transformers) for comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

TEXTS = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "Hurricanes draw their energy from warm ocean water, and meteorologists track them with satellites.",
    "a",
    "",
    "Taking antibiotics for a cold will not help, because colds are caused by viruses " * 6,
]


def reference_model(
    checkpoint: Path,
    folder: Path,
    pooling_mode: str | tuple[str, ...] = "mean",
    include_prompt: bool = True,
    dense: bool = False,
    normalize: bool = False,
    **model_kwargs: Any,
) -> Path:
    """Build a sentence-transformers model on ``checkpoint``, save it to ``folder``, return ``folder``."""
    from sentence_transformers import SentenceTransformer, models

    torch.manual_seed(1)
    transformer = models.Transformer(str(checkpoint), max_seq_length=64)
    dim = transformer.get_embedding_dimension()
    modules: list[Any] = [
        transformer,
        models.Pooling(dim, pooling_mode=pooling_mode, include_prompt=include_prompt),
    ]
    if dense:
        pooled = modules[1].get_embedding_dimension()
        modules.append(models.Dense(pooled, 16))
    if normalize:
        modules.append(models.Normalize())
    model = SentenceTransformer(modules=modules, device="cpu", **model_kwargs)
    model.save(str(folder))
    return folder


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest absolute difference between two arrays, tensors or lists of tensors."""
    if isinstance(a, list):
        assert len(a) == len(b)
        return max((max_abs_diff(x, y) for x, y in zip(a, b, strict=False)), default=0.0)
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def lowest_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest cosine similarity between the rows of ``a`` and ``b``."""
    return float(np.min(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
