"""Paraphrase mining against sentence_transformers.util on the same embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import util as st_util

from sentkit import SentenceTransformer, util
from sentkit.errors import InputError


def clustered(count: int = 60, dim: int = 16, seed: int = 0) -> torch.Tensor:
    """(count, dim) embeddings in a few tight groups, so that many pairs score high."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, dim))
    rows = centres[rng.integers(0, 6, size=count)] + 0.3 * rng.normal(size=(count, dim))
    return torch.from_numpy(rows.astype(np.float32))


def assert_same_pairs(actual: list, expected: list) -> None:
    assert [pair[1:] for pair in actual] == [pair[1:] for pair in expected]
    assert np.allclose([pair[0] for pair in actual], [pair[0] for pair in expected], atol=1e-6)


@pytest.mark.parametrize(
    ("query_chunk", "corpus_chunk", "max_pairs", "top_k"),
    [(5000, 100000, 500000, 100), (7, 11, 500000, 5), (1, 3, 40, 3), (13, 5, 25, 100), (60, 60, 1, 1)],
)
def test_matches_reference(query_chunk: int, corpus_chunk: int, max_pairs: int, top_k: int) -> None:
    embeddings = clustered()
    options = {
        "query_chunk_size": query_chunk,
        "corpus_chunk_size": corpus_chunk,
        "max_pairs": max_pairs,
        "top_k": top_k,
    }
    expected = st_util.paraphrase_mining_embeddings(embeddings, **options)
    actual = util.paraphrase_mining_embeddings(embeddings, **options)
    assert_same_pairs(actual, expected)


@pytest.mark.parametrize("score", ["dot_score", "manhattan_sim"])
def test_other_score_functions_match_reference(score: str) -> None:
    embeddings = clustered(seed=1)
    expected = st_util.paraphrase_mining_embeddings(embeddings, top_k=4, score_function=getattr(st_util, score))
    actual = util.paraphrase_mining_embeddings(embeddings, top_k=4, score_function=getattr(util, score))
    assert_same_pairs(actual, expected)


def test_numpy_input_gives_the_same_pairs() -> None:
    embeddings = clustered(seed=2)
    assert util.paraphrase_mining_embeddings(embeddings.numpy(), top_k=5) == util.paraphrase_mining_embeddings(
        embeddings, top_k=5
    )


def test_result_shape_with_duplicates() -> None:
    embeddings = clustered(count=30, seed=3)
    embeddings = torch.cat([embeddings, embeddings[:10]])  # exact duplicates score 1 with each other
    pairs = util.paraphrase_mining_embeddings(embeddings, top_k=10, max_pairs=100)
    assert len(pairs) == 100
    keys = [(i, j) for _, i, j in pairs]
    assert all(i < j for i, j in keys)
    assert len(set(keys)) == len(keys)
    scores = [score for score, _, _ in pairs]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(i, int) and isinstance(j, int) for i, j in keys)
    assert {(i, i + 30) for i in range(10)} <= set(keys)
    expected = st_util.paraphrase_mining_embeddings(embeddings, top_k=10, max_pairs=100)
    assert sorted(keys) == sorted((i, j) for _, i, j in expected)


def test_memory_is_bounded_by_the_chunks() -> None:
    embeddings = clustered(count=25, seed=4)
    shapes: list[tuple[int, int]] = []

    def recording_cos_sim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        shapes.append((a.shape[0], b.shape[0]))
        return util.cos_sim(a, b)

    actual = util.paraphrase_mining_embeddings(
        embeddings, query_chunk_size=4, corpus_chunk_size=6, score_function=recording_cos_sim
    )
    assert max(rows for rows, _ in shapes) <= 4
    assert max(columns for _, columns in shapes) <= 6
    assert sum(rows * columns for rows, columns in shapes) == 25 * 25
    assert_same_pairs(actual, st_util.paraphrase_mining_embeddings(embeddings))


def test_small_inputs() -> None:
    assert util.paraphrase_mining_embeddings(torch.zeros(0, 4)) == []
    assert util.paraphrase_mining_embeddings(torch.ones(1, 4)) == []
    pairs = util.paraphrase_mining_embeddings(torch.tensor([[1.0, 0.0], [1.0, 0.1]]))
    assert [pair[1:] for pair in pairs] == [[0, 1]]


@pytest.mark.parametrize("argument", ["query_chunk_size", "corpus_chunk_size", "top_k", "max_pairs"])
def test_rejects_non_positive_arguments(argument: str) -> None:
    with pytest.raises(InputError, match=argument):
        util.paraphrase_mining_embeddings(clustered(count=5), **{argument: 0})


def test_paraphrase_mining_encodes_with_the_model(hf_checkpoints) -> None:
    model = SentenceTransformer(hf_checkpoints["bert"], device="cpu")
    sentences = [
        "the cat sat on the mat",
        "a cat sat on a mat",
        "stock markets fell sharply today",
        "shares dropped steeply on the market",
        "the weather is lovely",
        "it is sunny outside",
    ]
    for truncate_dim, prompt in ((None, None), (8, "query: ")):
        embeddings = model.encode(sentences, convert_to_tensor=True, truncate_dim=truncate_dim, prompt=prompt)
        expected = st_util.paraphrase_mining_embeddings(embeddings, top_k=2)
        actual = util.paraphrase_mining(
            model, sentences, top_k=2, batch_size=4, truncate_dim=truncate_dim, prompt=prompt
        )
        assert_same_pairs(actual, expected)


@pytest.mark.slow
def test_msrp_average_precision_equals_the_reference() -> None:
    """A small run of benchmarks/paraphrase_mining_msrp.py with the real all-MiniLM-L6-v2."""
    from benchmarks.paraphrase_mining_msrp import MSRP_TEST, average_precision, read_msrp, run

    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / MSRP_TEST).is_file():
        pytest.skip(f"MSRP data not found at {SHARED_DATA / MSRP_TEST}")
    report = run(SHARED_DATA, limit=60, batch_size=32)
    ours, theirs = report["sentkit"], report["sentence-transformers"]
    assert np.abs(ours["scores"] - theirs["scores"]).max() <= 1e-5
    assert abs(ours["pair_ap"] - theirs["pair_ap"]) <= 1e-6
    assert abs(ours["mining_ap"] - theirs["mining_ap"]) <= 1e-6
    # Embeddings agree to ~1e-7, so pairs with nearly equal scores may swap places: compare scores by rank.
    assert len(ours["mined"]) == len(theirs["mined"])
    assert np.allclose([p[0] for p in ours["mined"]], [p[0] for p in theirs["mined"]], atol=1e-5)
    assert 0.5 < ours["pair_ap"] <= 1.0
    metrics = pytest.importorskip("sklearn.metrics")
    labels = read_msrp(SHARED_DATA / MSRP_TEST, 60).labels
    assert ours["pair_ap"] == pytest.approx(metrics.average_precision_score(labels, ours["scores"]), abs=1e-12)
    ties = np.array([0.9, 0.9, 0.5, 0.5, 0.1])
    relevant = np.array([1, 0, 1, 1, 0])
    assert average_precision(ties, relevant) == pytest.approx(metrics.average_precision_score(relevant, ties))
