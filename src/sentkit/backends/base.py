"""The Embedder protocol that the applications depend on, and KeyBERT's ``BaseEmbedder`` base class."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sentkit.errors import InputError, MissingDependencyError, NumericalError

__all__ = ["BaseEmbedder", "Embedder", "as_embedding_matrix", "loaded_class", "require_library", "to_numpy"]


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns n texts into an (n, d) array of embeddings, one row per text, in order."""

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray: ...


class BaseEmbedder:
    """Base class for custom embedding backends, as in ``keybert.backend.BaseEmbedder``.

    Subclass it and implement :meth:`embed`; pass an instance to ``KeyBERT(model=...)``.

    Arguments:
        embedding_model: the model that embeds documents and candidate keywords.
        word_embedding_model: kept for KeyBERT compatibility (KeyBERT itself does not use it).
    """

    def __init__(self, embedding_model: Any = None, word_embedding_model: Any = None) -> None:
        self.embedding_model = embedding_model
        self.word_embedding_model = word_embedding_model

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        """Embed n documents or words into an (n, d) array; ``verbose`` shows progress.

        Raises:
            NotImplementedError: a subclass did not implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement embed(documents, verbose=False).")


def loaded_class(module: str, name: str) -> type | None:
    """The class ``name`` of ``module`` if that module is already imported, else ``None``.

    This is the guarded import used to pick backends with ``isinstance``: an object cannot be an
    instance of a class whose module was never imported, so looking only at ``sys.modules`` costs no
    import (passing a gensim model never imports spaCy, flair or TensorFlow) and never fails.
    """
    loaded = sys.modules.get(module)
    value = getattr(loaded, name, None) if loaded is not None else None
    return value if isinstance(value, type) else None


def to_numpy(values: Any) -> np.ndarray:
    """Convert a numpy array, a torch or TensorFlow tensor, or nested lists of numbers to a numpy array."""
    if isinstance(values, np.ndarray):
        return values
    tensor: Any = values
    torch_tensor = loaded_class("torch", "Tensor")
    if torch_tensor is not None and isinstance(values, torch_tensor):
        return np.asarray(tensor.detach().cpu().numpy())
    tf_tensor = loaded_class("tensorflow", "Tensor")
    if tf_tensor is not None and isinstance(values, tf_tensor):
        return np.asarray(tensor.numpy())
    return np.asarray(values)


def as_embedding_matrix(values: Any, rows: int, what: str) -> np.ndarray:
    """Check that ``values`` is a finite (rows, d) matrix and return it as a numpy array.

    Raises:
        InputError: the shape is not (rows, d).
        NumericalError: NaN or inf in the values (names the first rows).
    """
    matrix = to_numpy(values)
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise InputError(
            f"{what} must have shape ({rows}, d), one row per text, but has shape {matrix.shape}. "
            "An embedding backend must return a 2-D array with one row per input text."
        )
    if matrix.dtype.kind in "fc" and not np.isfinite(matrix).all():
        bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))[:10].tolist()
        raise NumericalError(f"{what} hold NaN or inf values in rows {bad}.")
    return matrix


def require_library(module: str, pip_name: str, feature: str) -> ModuleType:
    """Import ``module``, a library that the user's own model comes from, or name the pip command.

    Unlike sentkit's extras, these libraries (spaCy, gensim, flair, model2vec, ...) are the user's
    choice of model, so the message names the library's own package.

    Raises:
        MissingDependencyError: the module cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the package {module!r}, which is not installed. Install it with: pip install {pip_name}"
        ) from exc
