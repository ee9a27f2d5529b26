"""community_detection against sentence_transformers.util on the same embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import util as st_util

from sentkit import util
from sentkit.errors import InputError


def blobs(sizes: tuple[int, ...], dim: int = 24, spread: float = 0.35, seed: int = 0) -> np.ndarray:
    """Groups of ``sizes`` embeddings around random centres, shuffled, plus no noise points."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    rows = np.concatenate(
        [centre + spread * rng.normal(size=(size, dim)) for centre, size in zip(centres, sizes, strict=False)]
    )
    return rows[rng.permutation(len(rows))].astype(np.float32)


@pytest.mark.parametrize(
    ("sizes", "threshold", "min_size", "batch_size"),
    [
        ((30, 20, 12, 5, 3), 0.75, 10, 1024),
        ((30, 20, 12, 5, 3), 0.6, 4, 7),
        ((30, 20, 12, 5, 3), 0.9, 2, 16),
        ((120, 15, 9), 0.7, 10, 50),  # a community past 50 members makes the neighbour search grow
        ((40, 40), 0.3, 5, 1024),  # a low threshold: overlapping candidates
    ],
)
def test_matches_reference(sizes: tuple[int, ...], threshold: float, min_size: int, batch_size: int) -> None:
    embeddings = blobs(sizes)
    options = {"threshold": threshold, "min_community_size": min_size, "batch_size": batch_size}
    expected = st_util.community_detection(embeddings, **options)
    actual = util.community_detection(embeddings, **options)
    assert actual == expected
    assert len(actual) >= 2
    assert all(isinstance(index, int) for community in actual for index in community)


def test_tensor_and_numpy_inputs_agree() -> None:
    embeddings = blobs((25, 15, 10), seed=1)
    expected = st_util.community_detection(torch.from_numpy(embeddings), threshold=0.7, min_community_size=5)
    assert util.community_detection(torch.from_numpy(embeddings), threshold=0.7, min_community_size=5) == expected
    assert util.community_detection(embeddings, threshold=0.7, min_community_size=5) == expected


def test_communities_are_disjoint_and_close_to_their_centre() -> None:
    embeddings = blobs((30, 20, 12), seed=2)
    communities = util.community_detection(embeddings, threshold=0.7, min_community_size=5)
    members = [index for community in communities for index in community]
    assert len(members) == len(set(members))
    normalized = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    for community in communities:
        assert len(community) >= 5
        centre = community[0]
        assert (normalized[community] @ normalized[centre] >= 0.7 - 1e-6).all()
    assert [len(c) for c in communities] == sorted((len(c) for c in communities), reverse=True)


def test_small_and_empty_inputs() -> None:
    assert util.community_detection(np.zeros((0, 4), dtype=np.float32)) == []
    assert util.community_detection(blobs((5,)), min_community_size=10) == []
    assert util.community_detection(np.ones(4, dtype=np.float32), min_community_size=1) == [[0]]


def test_rejects_non_positive_sizes() -> None:
    with pytest.raises(InputError, match="min_community_size"):
        util.community_detection(blobs((5,)), min_community_size=0)
    with pytest.raises(InputError, match="batch_size"):
        util.community_detection(blobs((5,)), batch_size=0)
