"""sentkit.util against sentence_transformers.util: sparse COO inputs, and quantizing one embedding."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from sentence_transformers import util as st_util

from sentkit import SentenceTransformer, util
from tests.reference import max_abs_diff

# The reference builds sparse tensors without choosing invariant checks and multiplies them through
# CSR; torch warns about both (sentkit silences its own CSR warning).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning"),
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning"),
]

MATRIX_FUNCTIONS = ["cos_sim", "dot_score", "euclidean_sim", "manhattan_sim"]
PAIRWISE_FUNCTIONS = ["pairwise_cos_sim", "pairwise_dot_score", "pairwise_euclidean_sim", "pairwise_manhattan_sim"]


def sparse_rows(rows: int, dim: int = 40, density: float = 0.3, seed: int = 0) -> torch.Tensor:
    """(rows, dim) sparse COO tensor of non-negative values, like SPLADE embeddings; row 0 is empty."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(rows, dim, generator=generator) * 3
    keep = torch.rand(rows, dim, generator=generator) < density
    dense = values * keep
    dense[0] = 0.0  # an all-zero embedding (nothing activated) must not produce NaN
    return dense.to_sparse()


def layouts(a: torch.Tensor, b: torch.Tensor, layout: str) -> tuple[object, object]:
    if layout == "sparse-dense":
        return a, b.to_dense()
    if layout == "dense-sparse":
        return a.to_dense(), b
    if layout == "list":
        return list(a.unbind(0)), list(b.unbind(0))
    if layout == "vector":
        return a[1], b[2]
    return a, b


@pytest.mark.parametrize("name", MATRIX_FUNCTIONS)
@pytest.mark.parametrize("layout", ["sparse", "sparse-dense", "dense-sparse", "list", "vector"])
def test_matrix_similarity_matches_reference(name: str, layout: str) -> None:
    a, b = layouts(sparse_rows(6, seed=1), sparse_rows(9, seed=2), layout)
    expected = getattr(st_util, name)(a, b)
    actual = getattr(util, name)(a, b)
    assert not actual.is_sparse
    assert torch.isfinite(actual).all()
    assert max_abs_diff(actual, expected) <= 1e-5


@pytest.mark.parametrize("name", PAIRWISE_FUNCTIONS)
@pytest.mark.parametrize("layout", ["sparse", "sparse-dense", "dense-sparse"])
def test_pairwise_similarity_matches_reference(name: str, layout: str) -> None:
    a, b = layouts(sparse_rows(7, seed=3), sparse_rows(7, seed=4), layout)
    expected = getattr(st_util, name)(a, b)
    actual = getattr(util, name)(a, b)
    assert not actual.is_sparse
    assert max_abs_diff(actual, expected) <= 1e-5


def test_sparse_and_dense_inputs_give_the_same_scores() -> None:
    a, b = sparse_rows(5, seed=5), sparse_rows(8, seed=6)
    for name in MATRIX_FUNCTIONS:
        assert max_abs_diff(getattr(util, name)(a, b), getattr(util, name)(a.to_dense(), b.to_dense())) <= 1e-5


@pytest.mark.parametrize("shape", ["matrix", "vector"])
def test_normalize_sparse_matches_reference(shape: str) -> None:
    embeddings = sparse_rows(6, seed=7)
    if shape == "vector":
        embeddings = embeddings[3]
    actual = util.normalize_embeddings(embeddings)
    expected = st_util.normalize_embeddings(embeddings)
    assert actual.is_sparse
    assert max_abs_diff(actual.to_dense(), expected.to_dense()) <= 1e-6


def assert_same_hits(actual: list, expected: list) -> None:
    """Equal scores in order, and equal ids except in the order of exactly tied scores."""
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        assert np.allclose([h["score"] for h in mine], [h["score"] for h in theirs], atol=1e-6)
        by_score_mine: dict[float, set[int]] = {}
        by_score_theirs: dict[float, set[int]] = {}
        for hit in mine:
            by_score_mine.setdefault(round(hit["score"], 5), set()).add(hit["corpus_id"])
        for hit in theirs:
            by_score_theirs.setdefault(round(hit["score"], 5), set()).add(hit["corpus_id"])
        lowest = min(by_score_theirs, default=None)
        by_score_mine.pop(lowest, None)  # the cut at top_k may fall inside a group of ties
        by_score_theirs.pop(lowest, None)
        assert by_score_mine == by_score_theirs


@pytest.mark.parametrize(("query_chunk", "corpus_chunk"), [(100, 500000), (3, 7), (1, 1)])
@pytest.mark.parametrize("score", ["cos_sim", "dot_score"])
def test_sparse_semantic_search_matches_reference(query_chunk: int, corpus_chunk: int, score: str) -> None:
    queries, corpus = sparse_rows(8, seed=8), sparse_rows(30, seed=9)
    for top_k in (1, 5, 40):
        expected = st_util.semantic_search(queries, corpus, top_k=top_k, score_function=getattr(st_util, score))
        actual = util.semantic_search(
            queries,
            corpus,
            top_k=top_k,
            query_chunk_size=query_chunk,
            corpus_chunk_size=corpus_chunk,
            score_function=getattr(util, score),
        )
        assert_same_hits(actual, expected)
    mixed = util.semantic_search(queries.to_dense(), corpus, top_k=5, score_function=getattr(util, score))
    assert_same_hits(mixed, st_util.semantic_search(queries, corpus, top_k=5, score_function=getattr(st_util, score)))


@pytest.mark.parametrize("sparse", [True, False])
def test_semantic_search_scores_one_chunk_pair_at_a_time(sparse: bool) -> None:
    queries, corpus = sparse_rows(11, seed=10), sparse_rows(23, seed=11)
    if not sparse:
        queries, corpus = queries.to_dense(), corpus.to_dense()
    shapes: list[tuple[int, int]] = []

    def recording_cos_sim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        shapes.append((a.shape[0], b.shape[0]))
        assert a.is_sparse == sparse
        assert b.is_sparse == sparse
        return util.cos_sim(a, b)

    actual = util.semantic_search(
        queries, corpus, top_k=4, query_chunk_size=4, corpus_chunk_size=5, score_function=recording_cos_sim
    )
    assert max(rows for rows, _ in shapes) <= 4
    assert max(columns for _, columns in shapes) <= 5
    assert sum(rows * columns for rows, columns in shapes) == 11 * 23  # every score computed exactly once
    assert_same_hits(actual, st_util.semantic_search(queries, corpus, top_k=4))


@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_quantize_one_embedding_uses_its_own_range(precision: str, caplog: pytest.LogCaptureFixture) -> None:
    # The reference raises here (and older releases collapsed to zeros, #2837); sentkit takes the
    # embedding's own minimum and maximum for every dimension and says so.
    embedding = np.random.default_rng(12).normal(size=(1, 24)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="sentkit.inference.precision"):
        quantized = util.quantize_embeddings(embedding, precision)
    assert "single embedding" in caplog.text
    own_range = np.vstack([np.full(24, embedding.min()), np.full(24, embedding.max())])
    expected = st_util.quantize_embeddings(embedding, precision, ranges=own_range)
    assert quantized.dtype == expected.dtype
    assert np.array_equal(quantized, expected)
    assert len(np.unique(quantized)) > 10  # spread over the buckets, not collapsed
    assert np.array_equal(util.quantize_embeddings(embedding[0], precision), quantized[0])
    with pytest.raises(ValueError, match="single embedding"):
        st_util.quantize_embeddings(embedding, precision)  # the behaviour sentkit deliberately changes


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_quantize_empty_matches_reference(precision: str) -> None:
    empty = np.zeros((0, 20), dtype=np.float32)
    actual, expected = util.quantize_embeddings(empty, precision), st_util.quantize_embeddings(empty, precision)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype


def test_encode_one_text_to_int8(hf_checkpoints) -> None:
    model = SentenceTransformer(hf_checkpoints["bert"], device="cpu")
    quantized = model.encode("the cat sat on the mat", precision="int8")
    assert quantized.dtype == np.int8
    assert quantized.shape == (model.get_sentence_embedding_dimension(),)
    assert len(np.unique(quantized)) > 5
    assert model.similarity(quantized, quantized).item() == pytest.approx(1.0, abs=1e-5)
