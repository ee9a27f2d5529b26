"""Who made an embedding: a model's identity (name, dimension, normalisation, precision) and fingerprint.

The identity goes into the manifest of every embeddings folder; the fingerprint (a sha256 over
the modules' configs, the prompts and settings, the tokenizer and every weight) keys the
embedding cache and lets a resumed streaming run check that it uses the same model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import weakref
from typing import Any

__all__ = ["model_fingerprint", "model_identity"]

# model -> (weights version, weights digest): hashing all weights once per model state, not per call.
_WEIGHT_DIGESTS: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], str]] = weakref.WeakKeyDictionary()


def model_identity(
    model: Any, *, normalized: bool = False, precision: str = "float32", truncate_dim: int | None = None
) -> dict[str, Any]:
    """The model facts stored with its embeddings (JSON-ready).

    ``name``: where it was loaded from (None if built in memory); ``dimension``: embedding width
    after ``truncate_dim`` (before binary packing); ``normalized``: ``normalized`` or a pipeline
    that ends in Normalize; ``precision``; ``similarity_fn_name``; ``fingerprint``: see
    :func:`model_fingerprint`.
    """
    get_dimension = getattr(model, "get_sentence_embedding_dimension", None)
    dimension = get_dimension(truncate_dim) if callable(get_dimension) else None
    return {
        "name": getattr(model, "model_name_or_path", None),
        "dimension": dimension,
        "normalized": bool(normalized) or _ends_with_normalize(model),
        "precision": precision,
        "similarity_fn_name": getattr(model, "similarity_fn_name", None),
        "fingerprint": model_fingerprint(model),
    }


def model_fingerprint(model: Any) -> str:
    """sha256 hex digest of everything that shapes the model's embeddings.

    Covers the module types and configs, prompts, default prompt, truncate_dim, max_seq_length,
    the tokenizer (its serialized form when it has one) and every weight. The weight digest is
    recomputed only when a parameter is replaced or changed in place (tracked by torch's version
    counters), so repeated calls cost a few microseconds per parameter.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(_settings(model), sort_keys=True, default=repr).encode("utf-8"))
    digest.update(_tokenizer_digest(model).encode("ascii"))
    digest.update(_weights_digest(model).encode("ascii"))
    return digest.hexdigest()


def _settings(model: Any) -> dict[str, Any]:
    modules = []
    for module in getattr(model, "_modules", {}).values():
        get_config = getattr(module, "get_config_dict", None)
        modules.append([type(module).__name__, get_config() if callable(get_config) else None])
    return {
        "class": type(model).__name__,
        "modules": modules,
        "prompts": getattr(model, "prompts", None),
        "default_prompt_name": getattr(model, "default_prompt_name", None),
        "truncate_dim": getattr(model, "truncate_dim", None),
        "max_seq_length": getattr(model, "max_seq_length", None),
    }


def _tokenizer_digest(model: Any) -> str:
    try:
        tokenizer = model.tokenizer
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        text = repr(sorted((getattr(tokenizer, "get_vocab", dict)() or {}).items()))
    else:
        # Padding and truncation are call-time state that tokenizing changes; the rest defines the tokens.
        state = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("padding", "truncation")}
        text = json.dumps(state, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _weights_digest(model: Any) -> str:
    import torch

    state = model.state_dict() if isinstance(model, torch.nn.Module) else {}
    version = tuple((name, tensor.data_ptr(), tensor._version) for name, tensor in state.items())
    try:
        cached = _WEIGHT_DIGESTS.get(model)
    except TypeError:  # not weak-referenceable
        cached = None
    if cached is not None and cached[0] == version:
        return cached[1]
    digest = hashlib.sha256()
    for name, tensor in state.items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        if flat.numel():
            digest.update(flat.view(torch.uint8).numpy())  # hashed in place, no copy of the weights
    value = digest.hexdigest()
    with contextlib.suppress(TypeError):  # not weak-referenceable: recomputed next time
        _WEIGHT_DIGESTS[model] = (version, value)
    return value


def _ends_with_normalize(model: Any) -> bool:
    modules = list(getattr(model, "_modules", {}).values())
    return bool(modules) and type(modules[-1]).__name__ == "Normalize"
