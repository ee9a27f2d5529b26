"""Similarity functions: cosine, dot, euclidean, manhattan, as matrices and pairwise.

Inputs are torch tensors, numpy arrays or lists of either, shaped (N, D) or (D,). Integer inputs
(quantized embeddings) are compared as float32; half precision is widened to float32. Outputs
are torch tensors: (N, M) for the matrix forms, (N,) for the pairwise ones.

Sparse COO tensors (a SparseEncoder's embeddings, or lists of them) work everywhere without being
made dense; when one side is sparse the other is made sparse too. The sparse ``manhattan_sim``
compares blocks of rows densely, so its memory stays bounded.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

import sentkit.maxsim as maxsim
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
    """Scale each row (or the vector) to unit L2 length; sparse input gives sparse output."""
    if embeddings.is_sparse:
        embeddings = embeddings.coalesce()
        values = embeddings.values()
        if embeddings.dim() == 1:
            normalized = F.normalize(values, p=2, dim=0)
            return torch.sparse_coo_tensor(embeddings.indices(), normalized, embeddings.shape, check_invariants=False)
        rows = embeddings.indices()[0]
        squares = torch.zeros(embeddings.shape[0], dtype=values.dtype, device=values.device)
        norms = torch.sqrt(squares.index_add_(0, rows, values.square())).index_select(0, rows)  # per stored value
        scaled = torch.where(norms > 0, values / norms.clamp(min=1e-12), values)
        return torch.sparse_coo_tensor(
            embeddings.indices(), scaled, embeddings.shape, check_invariants=False
        ).coalesce()
    return F.normalize(embeddings, p=2, dim=-1)


def cos_sim(a: Any, b: Any) -> Tensor:
    """(N, M) cosine similarities between the rows of ``a`` (N, D) and ``b`` (M, D)."""
    a, b = _batch(a), _batch(b)
    if a.is_sparse or b.is_sparse:
        a, b = _both_sparse(a, b)
        return _sparse_matmul(normalize_embeddings(a), normalize_embeddings(b))
    return normalize_embeddings(a) @ normalize_embeddings(b).transpose(0, 1)


def dot_score(a: Any, b: Any) -> Tensor:
    """(N, M) dot products."""
    a, b = _batch(a), _batch(b)
    if a.is_sparse or b.is_sparse:
        return _sparse_matmul(*_both_sparse(a, b))
    return a @ b.transpose(0, 1)


def euclidean_sim(a: Any, b: Any) -> Tensor:
    """(N, M) negative euclidean distances."""
    a, b = _batch(a), _batch(b)
    if a.is_sparse or b.is_sparse:
        a, b = _both_sparse(a, b)
        squared = _row_sums(a * a).unsqueeze(1) - 2 * _sparse_matmul(a, b) + _row_sums(b * b).unsqueeze(0)
        return -torch.sqrt(torch.clamp(squared, min=0.0))  # |a|^2 - 2 a.b + |b|^2, rounding can dip below 0
    return -torch.cdist(a, b, p=2.0)


def manhattan_sim(a: Any, b: Any) -> Tensor:
    """(N, M) negative manhattan distances."""
    a, b = _batch(a), _batch(b)
    if a.is_sparse or b.is_sparse:
        # float64 blocks: long sparse vectors sum many terms (the reference computes these in float64 too)
        return _blockwise_dense(a, b, lambda x, y: -torch.cdist(x.double(), y.double(), p=1.0).float())
    return -torch.cdist(a, b, p=1.0)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    a, b = to_tensor(a), to_tensor(b)
    if a.shape != b.shape:
        raise InputError(f"Pairwise similarity needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}.")
    return _both_sparse(a, b) if a.is_sparse or b.is_sparse else (a, b)


def pairwise_cos_sim(a: Any, b: Any) -> Tensor:
    """(N,) cosine similarity of ``a[i]`` and ``b[i]``."""
    a, b = _pair(a, b)
    if a.is_sparse:
        return _row_sums(normalize_embeddings(a) * normalize_embeddings(b))
    return (normalize_embeddings(a) * normalize_embeddings(b)).sum(dim=-1)


def pairwise_dot_score(a: Any, b: Any) -> Tensor:
    """(N,) dot product of ``a[i]`` and ``b[i]``."""
    a, b = _pair(a, b)
    if a.is_sparse:
        return _row_sums(a * b)
    return (a * b).sum(dim=-1)


def pairwise_euclidean_sim(a: Any, b: Any) -> Tensor:
    """(N,) negative euclidean distance of ``a[i]`` and ``b[i]``."""
    a, b = _pair(a, b)
    if a.is_sparse:
        return -torch.sqrt(_row_sums((a - b).square()))
    return -torch.linalg.vector_norm(a - b, dim=-1)


def pairwise_manhattan_sim(a: Any, b: Any) -> Tensor:
    """(N,) negative manhattan distance of ``a[i]`` and ``b[i]``."""
    a, b = _pair(a, b)
    if a.is_sparse:
        return -_row_sums(torch.abs(a - b))
    return -(a - b).abs().sum(dim=-1)


def pairwise_angle_sim(x: Any, y: Any) -> Tensor:
    """(N,) AnglE similarity ``|cos + sin|`` of ``x[i]`` and ``y[i]`` (each (N, D)), as in AnglELoss.

    After L2 normalisation, dimension ``i`` pairs with ``i + D/2`` as the real and imaginary part
    of a complex number; an odd D is padded with one zero. Sparse input is made dense.
    """
    x, y = to_tensor(x), to_tensor(y)
    x, y = (x.to_dense() if x.is_sparse else x), (y.to_dense() if y.is_sparse else y)
    if x.shape != y.shape or x.dim() != 2:
        raise InputError(
            f"pairwise_angle_sim needs two (N, D) inputs of one shape, got {tuple(x.shape)} and {tuple(y.shape)}."
        )
    if x.shape[1] % 2:
        x, y = F.pad(x, (0, 1)), F.pad(y, (0, 1))  # (N, D + 1)
    x, y = F.normalize(x, p=2, dim=1), F.normalize(y, p=2, dim=1)
    cosines = (x * y).sum(dim=1)  # (N,)
    x_re, x_im = torch.chunk(x, 2, dim=1)  # (N, D/2) each
    y_re, y_im = torch.chunk(y, 2, dim=1)
    sines = (x_im * y_re - x_re * y_im).sum(dim=1)  # (N,)
    return torch.abs(cosines + sines)


# ------------------------------------------------------------------------------- sparse helpers
# Row blocks densified at once by the sparse manhattan distance (rows x D floats per side).
_DENSE_BLOCK_ROWS = 256


def _both_sparse(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Both operands as coalesced sparse COO tensors (the dense one converted)."""
    return (a if a.is_sparse else a.to_sparse()).coalesce(), (b if b.is_sparse else b.to_sparse()).coalesce()


def _sparse_matmul(a: Tensor, b: Tensor) -> Tensor:
    """Dense (N, M) ``a @ b.T`` of sparse (N, D) and (M, D)."""
    with warnings.catch_warnings():
        # torch routes sparse @ sparse through CSR and warns once that CSR support is in beta.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        return torch.mm(a, b.transpose(0, 1)).to_dense()


def _row_sums(embeddings: Tensor) -> Tensor:
    """Dense (N,) sums over each row of a sparse (N, D) tensor, or a 0-d sum of a (D,) one."""
    return embeddings.sum(dim=-1).to_dense()


def _blockwise_dense(a: Tensor, b: Tensor, score: SimilarityFn) -> Tensor:
    """(N, M) ``score`` of sparse or dense (N, D) and (M, D), densifying only blocks of rows at a time."""
    rows = []
    for a_block in _dense_blocks(a):
        rows.append(torch.cat([score(a_block, b_block) for b_block in _dense_blocks(b)], dim=1))
    return torch.cat(rows, dim=0)


def _dense_blocks(embeddings: Tensor) -> list[Tensor]:
    blocks = []
    for start in range(0, max(embeddings.shape[0], 1), _DENSE_BLOCK_ROWS):
        rows = torch.arange(start, min(start + _DENSE_BLOCK_ROWS, embeddings.shape[0]), device=embeddings.device)
        block = embeddings.index_select(0, rows)
        blocks.append(block.to_dense() if block.is_sparse else block)
    return blocks


class SimilarityFunction(str, Enum):
    """The similarity names a model accepts (``model.similarity_fn_name = SimilarityFunction.DOT``).

    ``MAXSIM`` and ``MEAN_MAXSIM`` score token embeddings (late interaction,
    :class:`sentkit.MultiVectorEncoder`); the others score one vector per text.
    """

    COSINE = "cosine"
    DOT_PRODUCT = "dot"
    DOT = "dot"
    EUCLIDEAN = "euclidean"
    MANHATTAN = "manhattan"
    MAXSIM = "maxsim"
    MEAN_MAXSIM = "meanmaxsim"

    @staticmethod
    def to_similarity_fn(similarity_function: str | SimilarityFunction) -> SimilarityFn:
        """The (N, M) matrix function for a name or member (``"cos_sim"`` style aliases too).

        Raises:
            InputError: an unknown name, listing the valid ones.
        """
        return _similarity_functions(similarity_function)[0]

    @staticmethod
    def to_similarity_pairwise_fn(similarity_function: str | SimilarityFunction) -> SimilarityFn:
        """The (N,) pairwise function (``fn(a, b)[i]`` scores ``a[i]`` with ``b[i]``) for a name or member."""
        return _similarity_functions(similarity_function)[1]

    @staticmethod
    def possible_values() -> list[str]:
        """The accepted names, e.g. ``["cosine", "dot", "euclidean", "manhattan", "maxsim", "meanmaxsim"]``."""
        return [member.value for member in SimilarityFunction]


SIMILARITY_FUNCTIONS: dict[str, tuple[SimilarityFn, SimilarityFn]] = {
    "cosine": (cos_sim, pairwise_cos_sim),
    "dot": (dot_score, pairwise_dot_score),
    "euclidean": (euclidean_sim, pairwise_euclidean_sim),
    "manhattan": (manhattan_sim, pairwise_manhattan_sim),
}
# Names the reference also accepts.
SIMILARITY_ALIASES = {"cos_sim": "cosine", "dot_score": "dot", "dot_product": "dot"}


def _similarity_functions(name: Any) -> tuple[SimilarityFn, SimilarityFn]:
    """The (matrix, pairwise) functions for ``name``, MaxSim included."""
    value = getattr(name, "value", name)
    if value in (SimilarityFunction.MAXSIM.value, SimilarityFunction.MEAN_MAXSIM.value):
        if value == SimilarityFunction.MAXSIM.value:
            return maxsim.maxsim, maxsim.maxsim_pairwise
        return maxsim.mean_maxsim, maxsim.mean_maxsim_pairwise
    return SIMILARITY_FUNCTIONS[similarity_name(value)]


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
