"""Similarity functions: cosine, dot, euclidean, manhattan, as matrices and pairwise.

Inputs are torch tensors, numpy arrays or lists of either, shaped (N, D) or (D,). Integer inputs
(quantized embeddings) are compared as float32; half precision is widened to float32. Outputs
are torch tensors: (N, M) for the matrix forms, (N,) for the pairwise ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sentkit.errors import InputError

SimilarityFn = Callable[[Any, Any], Tensor]


def to_tensor(embeddings: Tensor | np.ndarray | Sequence[Any]) -> Tensor:
    """A tensor view of ``embeddings``, widened to float32 if it is integer or below 32 bits."""
    if isinstance(embeddings, Tensor):
        tensor = embeddings
    elif isinstance(embeddings, np.ndarray):
        tensor = torch.from_numpy(embeddings)
    elif isinstance(embeddings, (list, tuple)) and embeddings and isinstance(embeddings[0], Tensor):
        tensor = torch.stack(list(embeddings))
    else:
        tensor = torch.as_tensor(np.asarray(embeddings))
    if not tensor.is_floating_point() or torch.finfo(tensor.dtype).bits < 32:
        tensor = tensor.to(torch.float32)
    return tensor


def _batch(embeddings: Any) -> Tensor:
    tensor = to_tensor(embeddings)
    return tensor.unsqueeze(0) if tensor.dim() == 1 else tensor


def normalize_embeddings(embeddings: Tensor) -> Tensor:
    """Scale each row (or the vector) to unit L2 length."""
    return F.normalize(embeddings, p=2, dim=-1)


def cos_sim(a: Any, b: Any) -> Tensor:
    """(N, M) cosine similarities between the rows of ``a`` (N, D) and ``b`` (M, D)."""
    a, b = _batch(a), _batch(b)
    return normalize_embeddings(a) @ normalize_embeddings(b).transpose(0, 1)


def dot_score(a: Any, b: Any) -> Tensor:
    """(N, M) dot products."""
    a, b = _batch(a), _batch(b)
    return a @ b.transpose(0, 1)


def euclidean_sim(a: Any, b: Any) -> Tensor:
    """(N, M) negative euclidean distances."""
    return -torch.cdist(_batch(a), _batch(b), p=2.0)


def manhattan_sim(a: Any, b: Any) -> Tensor:
    """(N, M) negative manhattan distances."""
    return -torch.cdist(_batch(a), _batch(b), p=1.0)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    a, b = to_tensor(a), to_tensor(b)
    if a.shape != b.shape:
        raise InputError(f"Pairwise similarity needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}.")
    return a, b


def pairwise_cos_sim(a: Any, b: Any) -> Tensor:
    """(N,) cosine similarity of ``a[i]`` and ``b[i]``."""
    a, b = _pair(a, b)
    return (normalize_embeddings(a) * normalize_embeddings(b)).sum(dim=-1)


def pairwise_dot_score(a: Any, b: Any) -> Tensor:
    """(N,) dot product of ``a[i]`` and ``b[i]``."""
    a, b = _pair(a, b)
    return (a * b).sum(dim=-1)


def pairwise_euclidean_sim(a: Any, b: Any) -> Tensor:
    """(N,) negative euclidean distance of ``a[i]`` and ``b[i]``."""
    a, b = _pair(a, b)
    return -torch.linalg.vector_norm(a - b, dim=-1)


def pairwise_manhattan_sim(a: Any, b: Any) -> Tensor:
    """(N,) negative manhattan distance of ``a[i]`` and ``b[i]``."""
    a, b = _pair(a, b)
    return -(a - b).abs().sum(dim=-1)


SIMILARITY_FUNCTIONS: dict[str, tuple[SimilarityFn, SimilarityFn]] = {
    "cosine": (cos_sim, pairwise_cos_sim),
    "dot": (dot_score, pairwise_dot_score),
    "euclidean": (euclidean_sim, pairwise_euclidean_sim),
    "manhattan": (manhattan_sim, pairwise_manhattan_sim),
}
# Names the reference also accepts.
SIMILARITY_ALIASES = {"cos_sim": "cosine", "dot_score": "dot", "dot_product": "dot"}


def similarity_name(name: Any) -> str:
    """The canonical similarity name for ``name`` (a string or an enum with a ``value``).

    Raises:
        InputError: an unknown name, listing the valid ones.
    """
    value = getattr(name, "value", name)
    value = SIMILARITY_ALIASES.get(value, value)
    if value not in SIMILARITY_FUNCTIONS:
        raise InputError(f"Unknown similarity function {name!r}; use one of {', '.join(SIMILARITY_FUNCTIONS)}.")
    return str(value)
