"""The per-call side of MultiVectorEncoder.encode: option checks, and one result per text of a batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sentkit.errors import InputError, NumericalError
from sentkit.modules import Features

OUTPUT_VALUES = ("token_embeddings", None)


def check_encode_options(kwargs: dict[str, Any], output_value: Any, pool: Any, device: Any, token_pooling: Any) -> None:
    """Refuse what ``encode`` cannot do: leftover keywords, an unknown ``output_value``, a pool or list
    of devices, per-call token pooling.

    Raises:
        InputError: naming the option and what to do instead.
    """
    if "convert_to_tensor" in kwargs:
        raise InputError(
            "MultiVectorEncoder.encode has no convert_to_tensor: token embeddings differ in length per text, "
            "so there is nothing to stack. It already returns a list of tensors; pass convert_to_numpy=True "
            "for arrays."
        )
    if kwargs:
        raise InputError(f"encode() got unexpected keyword arguments {sorted(kwargs)}.")
    if output_value not in OUTPUT_VALUES:
        raise InputError(
            f"output_value must be 'token_embeddings' or None (per-text feature dicts), got {output_value!r}."
        )
    if pool is not None or isinstance(device, (list, tuple)):
        raise InputError(
            "MultiVectorEncoder.encode does not run on a multi-process pool in sentkit; pass one device, or "
            "stream a large corpus to disk with sentkit.apps.multi_vector_search.encode_token_embeddings_to_disk."
        )
    if token_pooling is not None:
        raise InputError("token_pooling is not supported by sentkit's MultiVectorEncoder yet; pass None.")


def split_batch(
    features: Features, count: int, indices: np.ndarray, output_value: str | None, normalize: bool
) -> list[Any]:
    """One result per text of a batch: its kept token embeddings (T_i, D), or its feature dict."""
    if output_value is None:
        return [
            {
                name: value[row] if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == count else value
                for name, value in features.items()
            }
            for row in range(count)
        ]
    token_embeddings = features["token_embeddings"]  # (B, T, D)
    masks = features["attention_mask"].bool()  # (B, T)
    finite = torch.isfinite(token_embeddings).all(dim=-1) | ~masks  # (B, T)
    if not bool(finite.all()):
        bad = sorted(int(indices[row]) for row in torch.nonzero(~finite.all(dim=1)).flatten().tolist())
        raise NumericalError(f"The model produced NaN or inf for the inputs at indices {bad}.")
    rows = [embedding[mask] for embedding, mask in zip(token_embeddings, masks, strict=True)]  # (T_i, D) each
    if normalize:
        rows = [nn.functional.normalize(row, p=2, dim=-1) for row in rows]
    return rows
