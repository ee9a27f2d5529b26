"""Small operations on embedding tensors, under the names of sentence-transformers' ``util``.

Inputs are torch tensors or numpy arrays; each function says what it returns. Sparse
embeddings are torch COO tensors (a :class:`sentkit.SparseEncoder`'s output).
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from sentkit._optional import require
from sentkit.encoders.sparse_tools import check_max_active_dims, keep_top_dims
from sentkit.errors import InputError
from sentkit.similarity import to_tensor

Embeddings = TypeVar("Embeddings", np.ndarray, Tensor)


def truncate_embeddings(embeddings: Embeddings, truncate_dim: int | None) -> Embeddings:
    """The first ``truncate_dim`` columns of ``embeddings`` (..., D), a view; ``None`` keeps all.

    Matryoshka models are trained so that such a prefix is itself an embedding.
    """
    return embeddings[..., :truncate_dim]


def select_max_active_dims(embeddings: np.ndarray | Tensor, max_active_dims: int | None) -> np.ndarray | Tensor:
    """A dense copy of ``embeddings`` (..., D) keeping only the ``max_active_dims`` largest |values| per row.

    ``None`` returns ``embeddings`` unchanged; otherwise the result is a torch tensor (numpy
    input is converted) and the input is never modified.

    Raises:
        InputError: ``max_active_dims`` is not a positive int.
    """
    if max_active_dims is None:
        return embeddings
    check_max_active_dims(max_active_dims)
    tensor = torch.from_numpy(embeddings) if isinstance(embeddings, np.ndarray) else embeddings
    return keep_top_dims(tensor.to_dense() if tensor.is_sparse else tensor, max_active_dims)


def batch_to_device(batch: dict[str, Any], target_device: torch.device | str) -> dict[str, Any]:
    """Move every tensor value of ``batch`` to ``target_device``, in place; returns ``batch``."""
    for key, value in batch.items():
        if isinstance(value, Tensor):
            batch[key] = value.to(target_device)
    return batch


def to_scipy_coo(x: Tensor) -> Any:
    """A ``scipy.sparse.coo_matrix`` with the shape, indices and values of the 2-D sparse tensor ``x``.

    Raises:
        InputError: ``x`` is not a 2-D tensor.
        MissingDependencyError: scipy is not installed (``pip install 'sentkit[sparse]'``).
    """
    coo_matrix = require("scipy.sparse", "sparse", "to_scipy_coo").coo_matrix
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise InputError(f"to_scipy_coo takes a 2-D torch tensor, got {_describe(x)}.")
    x = (x if x.is_sparse else x.to_sparse()).coalesce()
    indices = x.indices().cpu().numpy()
    values = to_tensor(x.values()).cpu().numpy()
    return coo_matrix((values, (indices[0], indices[1])), shape=tuple(x.shape))


def compute_count_vector(embeddings: Tensor) -> Tensor:
    """(V,) int32: how many embeddings store a weight in each dimension (dense input: a non-zero one).

    ``embeddings`` is (N, V) or (V,), sparse or dense.

    Raises:
        InputError: an input of more than two dimensions.
    """
    if embeddings.dim() not in (1, 2):
        raise InputError(f"compute_count_vector takes a (N, V) or (V,) tensor, got shape {tuple(embeddings.shape)}.")
    sparse = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
    counts = torch.zeros(embeddings.shape[-1], dtype=torch.int32, device=embeddings.device)
    columns = sparse.indices()[-1]  # the vocabulary index of every stored value
    return counts.index_add_(0, columns, torch.ones_like(columns, dtype=torch.int32))


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__
