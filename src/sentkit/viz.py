"""Pictures of embeddings: a 2-D scatter plot (PCA, t-SNE or UMAP) saved as PNG.

PCA needs nothing beyond numpy. t-SNE needs scikit-learn and UMAP needs umap-learn; plotting needs
matplotlib. They come with the ``viz`` extra (``pip install 'sentkit[viz]'``) and are imported
when used::

    from sentkit.viz import plot_embeddings

    plot_embeddings(model.encode(texts), "embeddings.png", labels=topics, method="tsne")
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sentkit._optional import require
from sentkit.errors import InputError

__all__ = ["METHODS", "plot_embeddings", "reduce_embeddings"]

METHODS = ("pca", "tsne", "umap")
_MAX_LEGEND_ENTRIES = 20
_EXACT_TSNE_MAX_POINTS = 1000


def reduce_embeddings(embeddings: Any, method: str = "pca", random_state: int = 0, **method_kwargs: Any) -> np.ndarray:
    """Project embeddings (N, D) to (N, 2) float64 coordinates.

    ``method`` is ``"pca"`` (numpy: the two leading principal components, signs fixed so the
    result is deterministic), ``"tsne"`` (``sklearn.manifold.TSNE``) or ``"umap"``
    (``umap.UMAP``); ``method_kwargs`` go to the t-SNE / UMAP constructor (perplexity and
    neighbours default to values that fit small N; t-SNE uses exact gradients up to 1,000
    points, Barnes-Hut beyond). Fewer than 3 embeddings are placed by PCA whatever the method.

    Raises:
        InputError: an unknown method, embeddings that are not (N, D) with N >= 1, or non-finite values.
        MissingDependencyError: scikit-learn (t-SNE) or umap-learn (UMAP) is missing.
    """
    if method not in METHODS:
        raise InputError(f"method={method!r} is not supported; use one of {METHODS}.")
    points = _as_matrix(embeddings)
    if method == "pca" or len(points) < 3:
        return _pca(points)
    if method == "tsne":
        manifold = require("sklearn.manifold", "viz", "reduce_embeddings(method='tsne')")
        options = {
            "perplexity": min(30.0, (len(points) - 1) / 3),
            "init": "pca",
            "random_state": random_state,
            # exact gradients beat Barnes-Hut in speed and quality up to about a thousand points
            "method": "exact" if len(points) <= _EXACT_TSNE_MAX_POINTS else "barnes_hut",
        }
        reducer = manifold.TSNE(n_components=2, **{**options, **method_kwargs})
    else:
        with warnings.catch_warnings():
            # umap-learn warns on import that its optional TensorFlow part is unavailable.
            warnings.filterwarnings("ignore", category=ImportWarning)
            umap = require("umap", "viz", "reduce_embeddings(method='umap')")
        options = {"n_neighbors": min(15, len(points) - 1), "random_state": random_state}
        reducer = umap.UMAP(n_components=2, **{**options, **method_kwargs})
    with warnings.catch_warnings():
        # umap warns that a fixed random_state turns off its parallelism; that is the point of it.
        warnings.filterwarnings("ignore", message=".*random_state.*", category=UserWarning)
        return np.asarray(reducer.fit_transform(points), dtype=np.float64)


def plot_embeddings(
    embeddings: Any,
    path: str | Path,
    labels: Sequence[Any] | None = None,
    method: str = "pca",
    title: str | None = None,
    random_state: int = 0,
    figsize: tuple[float, float] = (8.0, 6.0),
    dpi: int = 100,
    point_size: float = 16.0,
    **method_kwargs: Any,
) -> Path:
    """Save a 2-D scatter plot of ``embeddings`` (N, D) as a PNG at ``path``; return the path.

    The points come from :func:`reduce_embeddings` (``method``, ``random_state``,
    ``method_kwargs``). With ``labels`` (one per embedding, any hashable values) each label gets
    its own colour and a legend entry (the legend is left out past 20 labels). The image is
    ``figsize`` inches at ``dpi`` dots per inch; matplotlib runs without a display (no pyplot).

    Raises:
        InputError: as :func:`reduce_embeddings`, or labels of the wrong length.
        MissingDependencyError: matplotlib (or the method's package) is missing.
    """
    require("matplotlib", "viz", "plot_embeddings")
    from matplotlib.figure import Figure

    points = reduce_embeddings(embeddings, method=method, random_state=random_state, **method_kwargs)
    if labels is not None and len(labels) != len(points):
        raise InputError(f"Got {len(labels)} labels for {len(points)} embeddings; pass one label per embedding.")
    figure = Figure(figsize=figsize, dpi=dpi)
    axes = figure.add_subplot()
    if labels is None:
        axes.scatter(points[:, 0], points[:, 1], s=point_size, alpha=0.8)
    else:
        groups = list(dict.fromkeys(labels))
        colours = _colours(len(groups))
        for group, colour in zip(groups, colours, strict=True):
            mask = np.array([label == group for label in labels])
            axes.scatter(points[mask, 0], points[mask, 1], s=point_size, alpha=0.8, color=colour, label=str(group))
        if len(groups) <= _MAX_LEGEND_ENTRIES:
            axes.legend(loc="best", fontsize="small", markerscale=1.5)
    axes.set_title(title if title is not None else f"{method.upper()} of {len(points)} embeddings")
    axes.set_xlabel(f"{method} 1")
    axes.set_ylabel(f"{method} 2")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    return path


def _as_matrix(embeddings: Any) -> np.ndarray:
    """(N, D) float64 numpy of an array, tensor (sparse too) or list of vectors."""
    if hasattr(embeddings, "detach"):
        tensor = embeddings.detach().cpu()
        embeddings = (tensor.to_dense() if tensor.is_sparse else tensor).float().numpy()
    elif isinstance(embeddings, (list, tuple)) and embeddings and hasattr(embeddings[0], "detach"):
        embeddings = np.stack([_as_matrix(item)[0] for item in embeddings])
    points = np.asarray(embeddings, dtype=np.float64)
    if points.ndim == 1:
        points = points[None, :]
    if points.ndim != 2 or len(points) == 0 or points.shape[1] == 0:
        raise InputError(f"Embeddings must be (N, D) with N, D >= 1, got shape {points.shape}.")
    if not np.isfinite(points).all():
        raise InputError("Embeddings hold NaN or inf; drop or fix those rows before plotting.")
    return points


def _pca(points: np.ndarray) -> np.ndarray:
    """(N, 2) projection on the two leading principal components (zeros where there are fewer)."""
    centred = points - points.mean(axis=0)  # (N, D)
    _, _, components = np.linalg.svd(centred, full_matrices=False)  # (min(N, D), D)
    components = components[:2]
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    signs[signs == 0] = 1
    projected = centred @ (components * signs[:, None]).T  # (N, <=2)
    if projected.shape[1] < 2:
        projected = np.hstack([projected, np.zeros((len(points), 2 - projected.shape[1]))])
    return projected


def _colours(count: int) -> list[Any]:
    """``count`` distinct colours: tab10, tab20, then evenly spaced hues."""
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](index) for index in range(count)]
    if count <= 20:
        return [colormaps["tab20"](index) for index in range(count)]
    return [colormaps["hsv"](index / count) for index in range(count)]
