"""sentkit.viz: 2-D projections of embeddings and real PNG scatter plots (skipped without matplotlib)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sentkit.errors import InputError, MissingDependencyError
from sentkit.viz import plot_embeddings, reduce_embeddings


def labelled_blobs(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """60 embeddings (16-D) in three well separated groups, and their labels."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.normal(size=(3, 16))
    labels = [("alpha", "beta", "gamma")[i % 3] for i in range(60)]
    rows = np.stack([centres[i % 3] + rng.normal(size=16) for i in range(60)])
    return rows.astype(np.float32), labels


def read_png(path: Path) -> np.ndarray:
    from matplotlib import image

    with path.open("rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    return image.imread(path)  # (H, W, 4) floats in [0, 1]


def test_pca_matches_sklearn_up_to_sign() -> None:
    decomposition = pytest.importorskip("sklearn.decomposition")
    embeddings, _ = labelled_blobs()
    expected = decomposition.PCA(n_components=2).fit_transform(embeddings.astype(np.float64))
    actual = reduce_embeddings(torch.from_numpy(embeddings))
    assert actual.shape == (60, 2)
    for column in range(2):
        sign = np.sign(actual[0, column] * expected[0, column])
        assert np.allclose(actual[:, column], sign * expected[:, column], atol=1e-6)


def test_pca_handles_tiny_inputs() -> None:
    assert np.array_equal(reduce_embeddings(np.ones((1, 5))), np.zeros((1, 2)))
    two = reduce_embeddings(np.array([[0.0, 0.0, 1.0], [2.0, 0.0, 1.0]]), method="tsne")
    assert two.shape == (2, 2)
    assert np.allclose(np.abs(two[:, 0]), 1.0)


def test_plot_is_a_real_png_with_the_label_colours(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib import colormaps

    embeddings, labels = labelled_blobs()
    path = plot_embeddings(embeddings, tmp_path / "plot.png", labels=labels, figsize=(6, 4), dpi=80)
    assert path == tmp_path / "plot.png"
    assert path.stat().st_size > 5_000
    pixels = read_png(path)
    assert pixels.shape[:2] == (320, 480)
    rgb = (pixels[..., :3] * 255).round().astype(int).reshape(-1, 3)
    assert (rgb != 255).any(axis=1).mean() > 0.02  # more than a blank canvas
    assert len(np.unique(rgb, axis=0)) > 20
    for index in range(3):  # each label's tab10 colour is drawn (alpha-blended points keep their core colour)
        colour = np.array(colormaps["tab10"](index)[:3]) * 255
        closest = np.abs(rgb - colour).sum(axis=1).min()
        assert closest < 60, (index, closest)


def test_plot_without_labels_and_with_tsne(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    embeddings, _ = labelled_blobs(seed=1)
    path = plot_embeddings(list(torch.from_numpy(embeddings)), tmp_path / "tsne.png", method="tsne", max_iter=250)
    pixels = read_png(path)
    rgb = (pixels[..., :3] * 255).round().astype(int).reshape(-1, 3)
    assert (rgb != 255).any(axis=1).mean() > 0.02


@pytest.mark.slow
def test_umap_projection_separates_the_groups(tmp_path: Path) -> None:
    pytest.importorskip("umap")
    pytest.importorskip("matplotlib")
    embeddings, labels = labelled_blobs(seed=2)
    points = reduce_embeddings(embeddings, method="umap")
    assert points.shape == (60, 2)
    centroids = {label: points[[lab == label for lab in labels]].mean(axis=0) for label in set(labels)}
    for label in set(labels):
        own = points[[lab == label for lab in labels]]
        spread = np.linalg.norm(own - centroids[label], axis=1).mean()
        others = min(np.linalg.norm(centroids[label] - c) for other, c in centroids.items() if other != label)
        assert others > spread
    assert plot_embeddings(embeddings, tmp_path / "umap.png", labels=labels, method="umap").stat().st_size > 5_000


def test_rejects_bad_input(tmp_path: Path) -> None:
    embeddings, labels = labelled_blobs()
    with pytest.raises(InputError, match="method"):
        reduce_embeddings(embeddings, method="mds")
    with pytest.raises(InputError, match="NaN"):
        reduce_embeddings(np.full((3, 4), np.nan))
    with pytest.raises(InputError, match="shape"):
        reduce_embeddings(np.zeros((0, 4)))
    pytest.importorskip("matplotlib")
    with pytest.raises(InputError, match="labels"):
        plot_embeddings(embeddings, tmp_path / "x.png", labels=labels[:-1])


def test_missing_matplotlib_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"sentkit\[viz\]"):
        plot_embeddings(np.ones((3, 4)), tmp_path / "x.png")
