"""Operations on sparse embeddings (vocabulary-sized, mostly zero): pruning, statistics, overlap, decoding."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sentkit.errors import InputError, InputTypeError

TokenWeights = list[tuple[str, float]]


def keep_top_dims(embeddings: Tensor, max_active_dims: int) -> Tensor:
    """A copy of dense ``embeddings`` (..., V) keeping the ``max_active_dims`` largest |values| per row."""
    _, top = torch.topk(embeddings.abs(), k=min(max_active_dims, embeddings.shape[-1]), dim=-1)
    kept = torch.zeros_like(embeddings)
    kept.scatter_(-1, top, embeddings.gather(-1, top))
    return kept


def check_max_active_dims(value: Any) -> int | None:
    """None or a positive int. Raises InputError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"max_active_dims must be a positive int or None, got {value!r}.")
    return value


def sparsity(embeddings: Any) -> dict[str, float]:
    """Mean active (stored non-zero) dimensions per row and the mean share of inactive ones.

    ``embeddings`` is a dense or sparse tensor, (V,) or (N, V).

    Returns:
        ``{"active_dims": float, "sparsity_ratio": float}``; ``{0.0, 1.0}`` for an empty batch.

    Raises:
        InputTypeError: not a tensor. InputError: not 1-D or 2-D.
    """
    if not isinstance(embeddings, Tensor):
        raise InputTypeError(f"sparsity() takes a torch.Tensor, got {type(embeddings).__name__}.")
    if embeddings.ndim not in (1, 2):
        raise InputError(f"sparsity() takes a 1-D or 2-D tensor, got {embeddings.ndim}-D.")
    if embeddings.ndim == 1:
        embeddings = embeddings.unsqueeze(0)
    rows, columns = embeddings.shape
    if rows == 0 or columns == 0:
        return {"active_dims": 0.0, "sparsity_ratio": 1.0}
    if embeddings.is_sparse:
        row_ids = embeddings.coalesce().indices()[0]
        active = torch.bincount(row_ids.cpu(), minlength=rows)  # (N,)
    else:
        active = (embeddings != 0).sum(dim=1).cpu()  # (N,)
    mean_active = torch.mean(active.float()).item()
    return {"active_dims": mean_active, "sparsity_ratio": 1.0 - mean_active / columns}


def intersection(embeddings_1: Tensor, embeddings_2: Tensor) -> Tensor:
    """Element-wise product of a (V,) embedding with a (V,) or (N, V) one, keeping positive entries.

    Returns a sparse COO tensor shaped like ``embeddings_2``: the dimensions both inputs activate.

    Raises:
        InputError: shapes other than those, or vocabulary sizes that differ.
    """
    first = embeddings_1 if embeddings_1.is_sparse else embeddings_1.to_sparse()
    second = embeddings_2 if embeddings_2.is_sparse else embeddings_2.to_sparse()
    if first.ndim != 1:
        raise InputError(f"intersection() takes a 1-D first embedding, got shape {tuple(first.shape)}.")
    if first.shape[-1] != second.shape[-1]:
        raise InputError(f"intersection(): vocabulary sizes differ ({first.shape[-1]} and {second.shape[-1]}).")
    if second.ndim == 1:
        product = first * second
    elif second.ndim == 2:
        product = torch.stack([first * row for row in second])  # (N, V)
    else:
        raise InputError(f"intersection() takes a 1-D or 2-D second embedding, got shape {tuple(second.shape)}.")
    product = product.coalesce()
    positive = product.values() > 0
    return torch.sparse_coo_tensor(
        product.indices()[:, positive],
        product.values()[positive],
        size=product.size(),
        device=product.device,
        check_invariants=False,
    ).coalesce()


def decode(hf_tokenizer: Any, embeddings: Any, top_k: int | None = None) -> TokenWeights | list[TokenWeights]:
    """(token, weight) pairs of each embedding's active dimensions, heaviest first.

    ``embeddings`` is a dense or sparse (V,) or (N, V) tensor; a 1-D input gives one list, a 2-D
    one a list per row. ``top_k`` keeps that many tokens per row (all when None).

    Raises:
        InputError: ``top_k`` <= 0 or a tensor that is not 1-D or 2-D. InputTypeError: not a tensor.
    """
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise InputError(f"top_k must be a positive int or None, got {top_k!r}.")
    if not isinstance(embeddings, Tensor):
        raise InputTypeError(f"decode() takes a torch.Tensor, got {type(embeddings).__name__}.")
    single = embeddings.ndim == 1
    if single:
        embeddings = embeddings.unsqueeze(0)
    elif embeddings.ndim != 2:
        raise InputError(f"decode() takes a 1-D or 2-D tensor, got {embeddings.ndim}-D.")
    sparse = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
    rows, tokens = sparse.indices()
    values = sparse.values()
    counts = torch.bincount(rows, minlength=sparse.shape[0]).tolist()
    results: list[TokenWeights] = []
    start = 0
    for count in counts:
        row_values, row_tokens = values[start : start + count], tokens[start : start + count]
        start += count
        keep = count if top_k is None else min(top_k, count)
        if keep < count:
            row_values, picked = torch.topk(row_values, keep)
        else:
            picked = torch.argsort(row_values, descending=True)
            row_values = row_values[picked]
        names = hf_tokenizer.convert_ids_to_tokens(row_tokens[picked].tolist()) if count else []
        results.append(list(zip(names, row_values.tolist(), strict=True)))
    return results[0] if single else results
