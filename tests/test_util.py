"""sentkit.util against sentence_transformers.util on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import util as st_util

from sentkit import util
from sentkit.errors import InputError
from tests.reference import max_abs_diff

FUNCTIONS = [
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
]


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 12)).astype(np.float32), rng.normal(size=(6, 12)).astype(np.float32)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("kind", ["numpy", "tensor", "list", "vector"])
def test_similarity_matches_reference(arrays, name: str, kind: str) -> None:
    a, b = arrays
    if kind == "tensor":
        a, b = torch.from_numpy(a), torch.from_numpy(b)
    elif kind == "list":
        a, b = list(torch.from_numpy(a)), list(torch.from_numpy(b))
    elif kind == "vector":
        a, b = a[0], b[0]
    expected = getattr(st_util, name)(a, b)
    actual = getattr(util, name)(a, b)
    assert max_abs_diff(actual, expected) <= 1e-5


def test_similarity_accepts_quantized_embeddings(arrays) -> None:
    a, _ = arrays
    quantized = util.quantize_embeddings(np.vstack([a] * 20), "int8")
    scores = util.cos_sim(quantized, quantized)
    assert scores.dtype == torch.float32
    assert torch.allclose(torch.diagonal(scores), torch.ones(len(quantized)), atol=1e-5)


@pytest.mark.parametrize("precision", ["float32", "int8", "uint8", "binary", "ubinary"])
def test_quantize_matches_reference(precision: str) -> None:
    embeddings = np.random.default_rng(1).normal(size=(150, 20)).astype(np.float32)
    expected = st_util.quantize_embeddings(embeddings, precision)
    actual = util.quantize_embeddings(embeddings, precision)
    assert actual.dtype == expected.dtype
    assert np.array_equal(actual, expected)
    ranges = np.vstack([embeddings.min(axis=0), embeddings.max(axis=0)])
    if precision.endswith("int8"):
        assert np.array_equal(
            util.quantize_embeddings(embeddings[:1], precision, ranges=ranges),
            st_util.quantize_embeddings(embeddings[:1], precision, ranges=ranges),
        )


def test_quantize_rejects_integer_input() -> None:
    with pytest.raises(InputError, match="already integers"):
        util.quantize_embeddings(np.ones((3, 4), dtype=np.int8), "int8")


@pytest.mark.parametrize(("query_chunk", "corpus_chunk"), [(100, 500000), (3, 7), (1, 1)])
def test_semantic_search_matches_reference(query_chunk: int, corpus_chunk: int) -> None:
    rng = np.random.default_rng(2)
    queries = torch.from_numpy(rng.normal(size=(10, 16)).astype(np.float32))
    corpus = torch.from_numpy(rng.normal(size=(50, 16)).astype(np.float32))
    for top_k in (1, 5, 60):
        expected = st_util.semantic_search(queries, corpus, top_k=top_k)
        actual = util.semantic_search(
            queries, corpus, top_k=top_k, query_chunk_size=query_chunk, corpus_chunk_size=corpus_chunk
        )
        assert [[h["corpus_id"] for h in hits] for hits in actual] == [
            [h["corpus_id"] for h in hits] for hits in expected
        ]
        for mine, theirs in zip(actual, expected, strict=False):
            assert np.allclose([h["score"] for h in mine], [h["score"] for h in theirs], atol=1e-6)


def test_semantic_search_rejects_bad_arguments() -> None:
    with pytest.raises(InputError, match="top_k"):
        util.semantic_search(torch.ones(2, 4), torch.ones(3, 4), top_k=0)
    with pytest.raises(InputError, match="size 4 but corpus embeddings 5"):
        util.semantic_search(torch.ones(2, 4), torch.ones(3, 5))
