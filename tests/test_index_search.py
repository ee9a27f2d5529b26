"""semantic_search_faiss / semantic_search_usearch against the reference on the same embeddings.

Skipped when faiss or usearch is missing (the ``index`` extra).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sentence_transformers.util import quantization as st_quantization

from sentkit import util
from sentkit.errors import InputError, MissingDependencyError

RANDOM = np.random.default_rng(0)
CORPUS = RANDOM.normal(size=(300, 20)).astype(np.float32)
QUERIES = RANDOM.normal(size=(40, 20)).astype(np.float32)
CALIBRATION = RANDOM.normal(size=(500, 20)).astype(np.float32)


def quantized_corpus(precision: str) -> np.ndarray:
    return st_quantization.quantize_embeddings(CORPUS, precision, calibration_embeddings=CALIBRATION)


def assert_same_results(actual: tuple, expected: tuple) -> None:
    assert len(actual) == len(expected)
    assert isinstance(actual[1], float)
    mine, theirs = actual[0], expected[0]
    assert [[hit["corpus_id"] for hit in hits] for hits in mine] == [
        [hit["corpus_id"] for hit in hits] for hits in theirs
    ]
    for hits, reference_hits in zip(mine, theirs, strict=True):
        assert np.allclose([h["score"] for h in hits], [h["score"] for h in reference_hits], atol=1e-5)
        assert all(isinstance(h["corpus_id"], int) and isinstance(h["score"], float) for h in hits)


@pytest.mark.parametrize("precision", ["float32", "uint8", "ubinary"])
@pytest.mark.parametrize("rescore", [True, False])
@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("top_k", [5, 400])
def test_faiss_matches_reference(precision: str, rescore: bool, exact: bool, top_k: int) -> None:
    pytest.importorskip("faiss")
    options = {
        "corpus_embeddings": quantized_corpus(precision),
        "corpus_precision": precision,
        "top_k": top_k,
        "rescore": rescore,
        "exact": exact,
        "calibration_embeddings": CALIBRATION,
    }
    expected = st_quantization.semantic_search_faiss(QUERIES, **options)
    actual = util.semantic_search_faiss(QUERIES, **options)
    assert_same_results(actual, expected)
    if exact and top_k > len(CORPUS):  # faiss pads with -1; those slots are dropped
        assert all(len(hits) == len(CORPUS) for hits in actual[0])


def test_faiss_with_ranges_prebuilt_index_and_quantized_queries() -> None:
    pytest.importorskip("faiss")
    ranges = np.vstack([CALIBRATION.min(axis=0), CALIBRATION.max(axis=0)])
    corpus = st_quantization.quantize_embeddings(CORPUS, "uint8", ranges=ranges)
    results, seconds, index = util.semantic_search_faiss(
        QUERIES, corpus_embeddings=corpus, corpus_precision="uint8", ranges=ranges, output_index=True
    )
    assert seconds >= 0.0
    expected = st_quantization.semantic_search_faiss(
        QUERIES, corpus_embeddings=corpus, corpus_precision="uint8", ranges=ranges
    )
    assert_same_results((results, seconds), expected)
    again = util.semantic_search_faiss(QUERIES, corpus_index=index, corpus_precision="uint8", ranges=ranges)
    assert_same_results(again, expected)
    quantized_queries = st_quantization.quantize_embeddings(QUERIES, "uint8", ranges=ranges)
    assert_same_results(
        util.semantic_search_faiss(quantized_queries, corpus_index=index, corpus_precision="uint8", rescore=False),
        st_quantization.semantic_search_faiss(
            quantized_queries, corpus_index=index, corpus_precision="uint8", rescore=False
        ),
    )


def test_rescoring_recovers_the_float_ranking() -> None:
    pytest.importorskip("faiss")
    corpus = quantized_corpus("ubinary")
    exact = util.semantic_search(QUERIES, CORPUS, top_k=5, score_function=util.dot_score)
    plain, _ = util.semantic_search_faiss(QUERIES, corpus_embeddings=corpus, corpus_precision="ubinary", rescore=False)
    rescored, _ = util.semantic_search_faiss(
        QUERIES, corpus_embeddings=corpus, corpus_precision="ubinary", rescore_multiplier=8
    )

    def overlap(results: list) -> float:
        return np.mean(
            [
                len({h["corpus_id"] for h in a} & {h["corpus_id"] for h in b})
                for a, b in zip(results, exact, strict=False)
            ]
        )

    assert overlap(rescored) > overlap(plain)


@pytest.mark.parametrize("rescore", [True, False])
@pytest.mark.parametrize("top_k", [5, 400])
def test_usearch_float_matches_reference(rescore: bool, top_k: int) -> None:
    pytest.importorskip("usearch")
    options = {
        "corpus_embeddings": CORPUS,
        "corpus_precision": "float32",
        "top_k": top_k,
        "rescore": rescore,
        "calibration_embeddings": CALIBRATION,
    }
    assert_same_results(
        util.semantic_search_usearch(QUERIES, **options), st_quantization.semantic_search_usearch(QUERIES, **options)
    )


@pytest.mark.parametrize("precision", ["int8", "ubinary", "binary"])
@pytest.mark.parametrize("rescore", [True, False])
@pytest.mark.parametrize("top_k", [5, 400])
def test_usearch_quantized_matches_reference_on_one_index(precision: str, rescore: bool, top_k: int) -> None:
    # usearch orders equal integer distances differently from one build to the next, so both
    # libraries search the same index: sentkit's own build, then the reference's.
    pytest.importorskip("usearch")
    options = {
        "corpus_precision": precision,
        "top_k": top_k,
        "rescore": rescore,
        "calibration_embeddings": CALIBRATION,
    }
    corpus = quantized_corpus(precision)
    mine = util.semantic_search_usearch(QUERIES, corpus_embeddings=corpus, output_index=True, **options)
    expected = st_quantization.semantic_search_usearch(QUERIES, corpus_index=mine[2], **options)
    assert_same_results(mine[:2], expected)
    theirs = st_quantization.semantic_search_usearch(QUERIES, corpus_embeddings=corpus, output_index=True, **options)
    assert_same_results(util.semantic_search_usearch(QUERIES, corpus_index=theirs[2], **options), theirs[:2])


@pytest.mark.parametrize("library", ["faiss", "usearch"])
def test_one_query_vector(library: str) -> None:
    pytest.importorskip(library)
    search = getattr(util, f"semantic_search_{library}")
    batch, _ = search(QUERIES[:1], corpus_embeddings=CORPUS, rescore=False)
    single, _ = search(QUERIES[0], corpus_embeddings=CORPUS, rescore=False)
    assert single == batch


def test_rejects_bad_arguments() -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("usearch")
    for search in (util.semantic_search_faiss, util.semantic_search_usearch):
        with pytest.raises(InputError, match="not both"):
            search(QUERIES, corpus_embeddings=CORPUS, corpus_index=object())
        with pytest.raises(InputError, match="corpus_embeddings or corpus_index"):
            search(QUERIES)
        with pytest.raises(InputError, match="corpus_precision"):
            search(QUERIES, corpus_embeddings=CORPUS, corpus_precision="float16")
    with pytest.raises(InputError, match="single query"):
        util.semantic_search_faiss(QUERIES[:1], corpus_embeddings=quantized_corpus("uint8"), corpus_precision="uint8")
    with pytest.raises(InputError, match="top_k"):
        util.semantic_search_faiss(QUERIES, corpus_embeddings=CORPUS, top_k=0)


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingDependencyError, match=r"sentkit\[index\]"):
        util.semantic_search_faiss(QUERIES, corpus_embeddings=CORPUS)
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    with pytest.raises(MissingDependencyError, match=r"sentkit\[index\]"):
        util.semantic_search_usearch(QUERIES, corpus_embeddings=CORPUS)
