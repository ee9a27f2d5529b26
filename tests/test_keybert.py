"""KeyBERT parity: sentkit's KeyBERT (sentkit model) against keybert's (sentence-transformers model).

Both load the real all-MiniLM-L6-v2 from the same folder. Each library embeds every text once per
module: its own backend is wrapped in a memo, so that the many settings below do not re-embed the
vocabulary; the unwrapped, real backends are compared on default settings and single documents.
"""

from __future__ import annotations

import io
import itertools
import math
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from sentkit import KeyBERT, SentenceTransformer
from sentkit.apps.keywords import highlight_document, max_marginal_relevance, max_sum_distance, top_by_similarity
from sentkit.apps.keywords.maxsum import least_similar_subset
from sentkit.backend import BaseEmbedder, SentenceTransformerBackend
from sentkit.errors import ConfigurationError, InputError, InputTypeError
from tests.keybert_docs import DOCS, EMPTY_DOC, STOP_WORDS_ONLY_DOC

keybert = pytest.importorskip("keybert")

pytestmark = pytest.mark.slow

TOLERANCE = 1e-4
SEEDS = ["energy", "technology", "nature"]
PER_DOC_SEEDS = [[doc.split()[0].lower().strip(",.:"), "science"] for doc in DOCS]
CANDIDATES = ["solar panels", "electricity", "machine learning", "inflation", "rain", "coral reefs", "python"]


def custom_vectorizer() -> CountVectorizer:
    return CountVectorizer(ngram_range=(1, 2), stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")


# Settings compared on all documents at once. Each entry: name -> keyword arguments.
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "ngram_1_2": {"keyphrase_ngram_range": (1, 2)},
    "ngram_1_3": {"keyphrase_ngram_range": (1, 3)},
    "ngram_2_3": {"keyphrase_ngram_range": (2, 3), "top_n": 3},
    "no_stop_words": {"stop_words": None},
    "stop_word_list": {"stop_words": ["solar", "the", "and", "of", "rain", "python", "is"]},
    "top_n_10": {"top_n": 10, "keyphrase_ngram_range": (1, 2)},
    "mmr_low": {"use_mmr": True, "diversity": 0.2},
    "mmr_high": {"use_mmr": True, "diversity": 0.7, "keyphrase_ngram_range": (1, 2)},
    "mmr_extremes": {"use_mmr": True, "diversity": 1.0, "top_n": 4},
    "maxsum": {"use_maxsum": True},
    "maxsum_small": {"use_maxsum": True, "nr_candidates": 8, "top_n": 3, "keyphrase_ngram_range": (1, 2)},
    "mmr_and_maxsum": {"use_mmr": True, "use_maxsum": True, "diversity": 0.4},
    "seeds_shared": {"seed_keywords": SEEDS},
    "seeds_per_doc": {"seed_keywords": PER_DOC_SEEDS, "keyphrase_ngram_range": (1, 2)},
    "candidates": {"candidates": CANDIDATES},
    "candidates_bigrams": {"candidates": CANDIDATES, "keyphrase_ngram_range": (1, 2), "top_n": 2},
    "candidates_with_vectorizer": {"candidates": CANDIDATES, "vectorizer": "custom"},
    "vectorizer": {"vectorizer": "custom"},
    "min_df_2": {"min_df": 2},
    "min_df_fraction": {"min_df": 0.1, "keyphrase_ngram_range": (1, 2)},
    "threshold": {"threshold": 0.5},
}


def materialise(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fresh keyword arguments (each library fits its own vectorizer)."""
    return {key: custom_vectorizer() if value == "custom" else value for key, value in kwargs.items()}


class Memo(BaseEmbedder):
    """Embeds each distinct text once with ``backend`` (works for both libraries' backends)."""

    def __init__(self, backend: Any) -> None:
        super().__init__()
        self.backend = backend
        self.cache: dict[str, np.ndarray] = {}

    def warm(self, texts: list[str]) -> None:
        missing = [text for text in dict.fromkeys(texts) if text not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.backend.embed(missing), strict=True))

    def embed(self, documents: Any, verbose: bool = False) -> np.ndarray:
        texts = [str(text) for text in documents]
        self.warm(texts)
        return np.stack([self.cache[text] for text in texts]) if texts else np.zeros((0, 384), np.float32)


def all_texts() -> list[str]:
    """Every text the settings embed: documents, vocabularies, seeds, candidates."""
    texts = list(DOCS) + SEEDS + [seed for group in PER_DOC_SEEDS for seed in group] + CANDIDATES
    for settings in ({"ngram_range": (1, 3)}, {"stop_words": None}):
        vectorizer = CountVectorizer(**{"stop_words": "english", **settings}).fit(DOCS)
        texts += vectorizer.get_feature_names_out().tolist()
    return texts + custom_vectorizer().fit(DOCS).get_feature_names_out().tolist()


@pytest.fixture(scope="module")
def sentkit_model() -> SentenceTransformer:
    return SentenceTransformer("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture(scope="module")
def reference_model() -> Any:
    import sentence_transformers

    from sentkit.io.resolve import carrier_folder

    folder = carrier_folder("sentence-transformers/all-MiniLM-L6-v2")
    return sentence_transformers.SentenceTransformer(str(folder), device="cpu")


@pytest.fixture(scope="module")
def ours(sentkit_model: SentenceTransformer) -> KeyBERT:
    memo = Memo(SentenceTransformerBackend(sentkit_model))
    memo.warm(all_texts())
    return KeyBERT(model=memo)


@pytest.fixture(scope="module")
def theirs(reference_model: Any) -> Any:
    from keybert.backend import BaseEmbedder as ReferenceBase
    from keybert.backend import SentenceTransformerBackend as ReferenceBackend

    class ReferenceMemo(Memo, ReferenceBase):  # keybert's base class, so keybert takes it as a backend
        pass

    memo = ReferenceMemo(ReferenceBackend(reference_model))
    memo.warm(all_texts())
    return keybert.KeyBERT(model=memo)


def as_batches(result: Any) -> list[list[tuple[str, float]]]:
    if result and isinstance(result[0], tuple):
        return [result]
    return result


def assert_same_keywords(ours_result: Any, theirs_result: Any, tolerance: float = TOLERANCE) -> float:
    """Same shape, same keywords in the same order, scores within ``tolerance``; returns the largest gap."""
    assert type(ours_result) is type(theirs_result)
    ours_batches, theirs_batches = as_batches(ours_result), as_batches(theirs_result)
    assert len(ours_batches) == len(theirs_batches)
    largest = 0.0
    for mine, reference in zip(ours_batches, theirs_batches, strict=True):
        assert [word for word, _ in mine] == [word for word, _ in reference]
        for (_, score), (_, expected) in zip(mine, reference, strict=True):
            assert isinstance(score, float)
            largest = max(largest, abs(score - expected))
    assert largest <= tolerance + 1e-9
    return largest


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_same_keywords_as_keybert(ours: KeyBERT, theirs: Any, name: str) -> None:
    kwargs = SETTINGS[name]
    result = ours.extract_keywords(DOCS, **materialise(kwargs))
    assert len(result) == len(DOCS)
    assert_same_keywords(result, theirs.extract_keywords(DOCS, **materialise(kwargs)))


@pytest.mark.parametrize("name", ["default", "ngram_1_3", "mmr_high", "maxsum", "seeds_shared", "candidates"])
def test_single_documents_as_keybert(ours: KeyBERT, theirs: Any, name: str) -> None:
    kwargs = SETTINGS[name]
    for doc in (DOCS[0], DOCS[5], DOCS[19]):
        single = ours.extract_keywords(doc, **materialise(kwargs))
        assert_same_keywords(single, theirs.extract_keywords(doc, **materialise(kwargs)))
        # A list of one document gives the flat list too, as in KeyBERT.
        assert ours.extract_keywords([doc], **materialise(kwargs)) == single


def test_real_backends_without_memo(sentkit_model: SentenceTransformer, reference_model: Any) -> None:
    """The plain backends (no memo): sentkit's SentenceTransformer against sentence-transformers'."""
    ours_plain, theirs_plain = KeyBERT(model=sentkit_model), keybert.KeyBERT(model=reference_model)
    batch = [*DOCS[:4], DOCS[-1]]
    assert_same_keywords(ours_plain.extract_keywords(batch), theirs_plain.extract_keywords(batch))
    assert_same_keywords(ours_plain.extract_keywords(DOCS[4]), theirs_plain.extract_keywords(DOCS[4]))


def test_sentence_transformers_model_in_sentkit_keybert(reference_model: Any, theirs: Any) -> None:
    """The seed's second example: a sentence_transformers.SentenceTransformer passed to sentkit's KeyBERT."""
    assert_same_keywords(KeyBERT(model=reference_model).extract_keywords(DOCS[:3]), theirs.extract_keywords(DOCS[:3]))


def test_model_given_by_name(theirs: Any) -> None:
    """``KeyBERT()`` loads the default "all-MiniLM-L6-v2" by name, as the seed's first example does."""
    default = KeyBERT()
    assert default.model.embedding_model.max_seq_length == 256  # type: ignore[attr-defined]
    assert_same_keywords(default.extract_keywords(DOCS[7]), theirs.extract_keywords(DOCS[7]))


def test_extract_embeddings_as_keybert(ours: KeyBERT, theirs: Any) -> None:
    mine = ours.extract_embeddings(DOCS, keyphrase_ngram_range=(1, 2))
    reference = theirs.extract_embeddings(DOCS, keyphrase_ngram_range=(1, 2))
    assert mine[0].shape == reference[0].shape == (len(DOCS), 384)
    assert mine[1].shape == reference[1].shape
    assert float(np.abs(mine[0] - reference[0]).max()) < 1e-5
    assert float(np.abs(mine[1] - reference[1]).max()) < 1e-5
    assert ours.extract_embeddings(EMPTY_DOC) == theirs.extract_embeddings(EMPTY_DOC) == []


@pytest.mark.parametrize(
    "name", ["default", "mmr_low", "mmr_high", "maxsum", "maxsum_small", "seeds_shared", "top_n_10"]
)
def test_precomputed_embeddings_give_keybert_results_exactly(ours: KeyBERT, theirs: Any, name: str) -> None:
    """Fed the same embeddings, both libraries agree to the last digit, ties included."""
    kwargs = {key: value for key, value in SETTINGS[name].items()}
    ngram = kwargs.get("keyphrase_ngram_range", (1, 1))
    doc_embeddings, word_embeddings = theirs.extract_embeddings(DOCS, keyphrase_ngram_range=ngram)
    given = {"doc_embeddings": doc_embeddings, "word_embeddings": word_embeddings}
    reference = theirs.extract_keywords(DOCS, **kwargs, **given)
    if "seed_keywords" not in kwargs:
        assert ours.extract_keywords(DOCS, **kwargs, **given) == reference
    # Our own embeddings, precomputed and passed back, give the same as computing them on the fly.
    ours_doc, ours_words = ours.extract_embeddings(DOCS, keyphrase_ngram_range=ngram)
    precomputed = ours.extract_keywords(DOCS, **kwargs, doc_embeddings=ours_doc, word_embeddings=ours_words)
    assert precomputed == ours.extract_keywords(DOCS, **kwargs)
    assert_same_keywords(precomputed, reference)


# ----------------------------------------------------------------------------------- bad input
def test_empty_documents(ours: KeyBERT, theirs: Any) -> None:
    assert ours.extract_keywords(EMPTY_DOC) == theirs.extract_keywords(EMPTY_DOC) == []
    assert ours.extract_keywords([EMPTY_DOC]) == theirs.extract_keywords([EMPTY_DOC]) == []
    assert ours.extract_keywords([EMPTY_DOC, EMPTY_DOC]) == [] == theirs.extract_keywords([EMPTY_DOC, EMPTY_DOC])
    assert ours.extract_keywords([]) == []
    mixed = [EMPTY_DOC, DOCS[0], STOP_WORDS_ONLY_DOC]
    result = ours.extract_keywords(mixed)
    assert result[0] == []
    assert result[2] == []
    assert len(result[1]) == 5
    assert_same_keywords(result, theirs.extract_keywords(mixed))


def test_document_with_only_stop_words(ours: KeyBERT, theirs: Any) -> None:
    assert ours.extract_keywords(STOP_WORDS_ONLY_DOC) == theirs.extract_keywords(STOP_WORDS_ONLY_DOC) == []
    kept = ours.extract_keywords(STOP_WORDS_ONLY_DOC, stop_words=None)
    assert_same_keywords(kept, theirs.extract_keywords(STOP_WORDS_ONLY_DOC, stop_words=None))
    assert len(kept) == 5


def test_min_df_above_the_number_of_documents_gives_no_keywords(ours: KeyBERT, theirs: Any) -> None:
    assert ours.extract_keywords(DOCS[0], min_df=2) == theirs.extract_keywords(DOCS[0], min_df=2) == []


@pytest.mark.parametrize(
    "kwargs", [{}, {"use_mmr": True}, {"use_maxsum": True}, {"use_maxsum": True, "nr_candidates": 200}]
)
def test_top_n_larger_than_the_candidates(ours: KeyBERT, theirs: Any, kwargs: dict[str, Any]) -> None:
    """Similarity and MMR return every candidate; Max Sum returns [] (KeyBERT's documented result)."""
    doc = DOCS[12]
    count = len(CountVectorizer(stop_words="english").fit([doc]).get_feature_names_out())
    kwargs = {"top_n": count + 3, "nr_candidates": count + 3, **kwargs}
    result = ours.extract_keywords(doc, **kwargs)
    assert_same_keywords(result, theirs.extract_keywords(doc, **kwargs))
    assert len(result) == (0 if kwargs.get("use_maxsum") else count)


@pytest.mark.parametrize("diversity", [-0.1, 1.5, float("nan"), "high"])
def test_diversity_outside_0_1_is_an_error_with_mmr(ours: KeyBERT, theirs: Any, diversity: Any) -> None:
    with pytest.raises(InputError, match="diversity"):
        ours.extract_keywords(DOCS[0], use_mmr=True, diversity=diversity)
    if isinstance(diversity, float) and not math.isnan(diversity):  # unused without MMR, as in KeyBERT
        assert_same_keywords(
            ours.extract_keywords(DOCS[0], diversity=diversity), theirs.extract_keywords(DOCS[0], diversity=diversity)
        )


def test_nr_candidates_below_top_n_is_an_error(ours: KeyBERT, theirs: Any) -> None:
    with pytest.raises(InputError, match="nr_candidates"):
        ours.extract_keywords(DOCS[0], use_maxsum=True, nr_candidates=3, top_n=5)
    with pytest.raises(Exception, match="number of candidates"):
        theirs.extract_keywords(DOCS[0], use_maxsum=True, nr_candidates=3, top_n=5)
    # MMR wins when both are set, so nr_candidates is not used then.
    assert_same_keywords(
        ours.extract_keywords(DOCS[0], use_maxsum=True, use_mmr=True, nr_candidates=3),
        theirs.extract_keywords(DOCS[0], use_maxsum=True, use_mmr=True, nr_candidates=3),
    )


@pytest.mark.parametrize("top_n", [0, -2, 2.5, True])
def test_top_n_must_be_a_positive_integer(ours: KeyBERT, top_n: Any) -> None:
    with pytest.raises(InputError, match="top_n"):
        ours.extract_keywords(DOCS[0], top_n=top_n)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"keyphrase_ngram_range": (2, 1)}, InputError, "keyphrase_ngram_range"),
        ({"keyphrase_ngram_range": (0, 1)}, InputError, "keyphrase_ngram_range"),
        ({"stop_words": "englsh"}, InputError, "stop_words"),
        ({"min_df": -1}, InputError, "min_df"),
        ({"candidates": ["rain", "rain"]}, InputError, "twice"),
        ({"candidates": "solar panels"}, InputTypeError, "one string"),
        ({"seed_keywords": []}, InputTypeError, "seed_keywords"),
        ({"seed_keywords": [["rain"], ["sun"]]}, InputError, "length of docs"),
        ({"seed_keywords": [1, 2]}, InputTypeError, "seed_keywords"),
        ({"seed_keywords": 7}, InputTypeError, "seed_keywords"),
        ({"seed_keywords": [["rain"], []]}, InputTypeError, "seed_keywords"),
        ({"word_embeddings": np.zeros((3, 384), np.float32)}, InputError, "word_embeddings"),
        ({"doc_embeddings": np.zeros((2, 384), np.float32)}, InputError, "doc_embeddings"),
        ({"doc_embeddings": np.full((1, 384), np.nan, np.float32)}, Exception, "NaN"),
        (
            {
                "vectorizer": CountVectorizer(
                    stop_words=["rain", "forecast", "promises", "weekend", "the", "more", "for", "whole"]
                )
            },
            InputError,
            "vectorizer",
        ),
    ],
)
def test_bad_settings_give_clear_errors(ours: KeyBERT, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ours.extract_keywords(DOCS[-1] if "vectorizer" in kwargs else DOCS[0], **kwargs)


def test_bad_documents_and_models(ours: KeyBERT) -> None:
    with pytest.raises(InputTypeError, match="Document 1"):
        ours.extract_keywords([DOCS[0], None])  # type: ignore[list-item]
    with pytest.raises(InputTypeError, match="docs is None"):
        ours.extract_keywords(None)  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match="KeyBERT cannot embed"):
        KeyBERT(model=42)
    with pytest.raises(ConfigurationError, match="llm"):
        KeyBERT(model=ours.model, llm=object())


def test_stop_words_as_a_set_or_tuple(ours: KeyBERT, theirs: Any) -> None:
    stop_words = ["solar", "the", "into"]
    expected = theirs.extract_keywords(DOCS[0], stop_words=stop_words)
    assert ours.extract_keywords(DOCS[0], stop_words=set(stop_words)) == ours.extract_keywords(
        DOCS[0], stop_words=tuple(stop_words)
    )
    assert_same_keywords(ours.extract_keywords(DOCS[0], stop_words=set(stop_words)), expected)


def test_empty_candidate_list_and_unseen_candidates(ours: KeyBERT, theirs: Any) -> None:
    assert ours.extract_keywords(DOCS[0], candidates=[]) == theirs.extract_keywords(DOCS[0], candidates=[]) == []
    assert ours.extract_keywords(DOCS[0], candidates=["volcano"]) == []


def test_single_seed_string_and_one_dimensional_doc_embedding(ours: KeyBERT) -> None:
    assert ours.extract_keywords(DOCS[0], seed_keywords="energy") == ours.extract_keywords(
        DOCS[0], seed_keywords=["energy"]
    )
    doc_embedding, word_embeddings = ours.extract_embeddings(DOCS[0])
    assert ours.extract_keywords(DOCS[0], doc_embeddings=doc_embedding[0], word_embeddings=word_embeddings) == (
        ours.extract_keywords(DOCS[0])
    )


# ----------------------------------------------------------------------------------- highlight
def test_highlight_marks_keywords_and_returns_the_same_keywords(ours: KeyBERT, capsys: pytest.CaptureFixture) -> None:
    plain = ours.extract_keywords(DOCS[4], keyphrase_ngram_range=(1, 2))
    shown = ours.extract_keywords(DOCS[4], keyphrase_ngram_range=(1, 2), highlight=True)
    assert shown == plain
    printed = capsys.readouterr().out
    assert "**supervised learning**" in printed.lower()
    assert printed.replace("**", "").strip() == DOCS[4]  # the document itself, punctuation kept
    ours.extract_keywords(DOCS[:2], highlight=True)  # several documents: nothing printed, as in KeyBERT
    assert capsys.readouterr().out == ""


def test_highlight_spans_stop_words_and_uses_rich_in_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = "Supervised learning is the machine learning task, isn't it?"
    vectorizer = CountVectorizer(ngram_range=(1, 2), stop_words="english").fit([doc])
    keywords = [("learning machine", 0.6), ("task", 0.5)]
    buffer = io.StringIO()
    assert highlight_document(doc, keywords, vectorizer, file=buffer) == (
        "Supervised **learning is the machine** learning **task**, isn't it?"
    )
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    styled = io.StringIO()
    highlight_document(doc, keywords, vectorizer, file=styled)
    assert "\x1b[" in styled.getvalue()
    assert "**" not in styled.getvalue()


# ----------------------------------------------------------------------------------- selection
@pytest.fixture(scope="module")
def random_problem() -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    words = [f"word{index}" for index in range(40)]
    return rng.normal(size=(1, 16)).astype(np.float32), rng.normal(size=(40, 16)).astype(np.float32), words


@pytest.mark.parametrize("top_n", [1, 5, 12, 40, 60])
def test_similarity_and_mmr_equal_keybert_on_random_embeddings(random_problem: Any, top_n: int) -> None:
    from keybert._mmr import mmr

    doc, embeddings, words = random_problem
    for diversity in (0.0, 0.3, 0.5, 0.9, 1.0):
        assert max_marginal_relevance(doc, embeddings, words, top_n, diversity) == mmr(
            doc, embeddings, words, top_n, diversity
        )
    similarities = top_by_similarity(doc, embeddings, words, top_n)
    assert len(similarities) == min(top_n, 40)
    assert [score for _, score in similarities] == sorted((score for _, score in similarities), reverse=True)


@pytest.mark.parametrize(("top_n", "nr_candidates"), [(1, 20), (2, 5), (5, 20), (6, 12), (10, 13), (3, 40)])
def test_maxsum_equals_keybert_where_exhaustive(random_problem: Any, top_n: int, nr_candidates: int) -> None:
    from keybert._maxsum import max_sum_distance as reference

    doc, embeddings, words = random_problem
    assert max_sum_distance(doc, embeddings, words, top_n, nr_candidates) == reference(
        doc, embeddings, words, top_n, nr_candidates
    )


def _pair_sum(similarity: np.ndarray, chosen: list[int]) -> float:
    return float(sum(similarity[i, j] for i in chosen for j in chosen if i != j))


def test_maxsum_beyond_the_bound_is_fast_and_a_local_optimum() -> None:
    """C(60, 12) ~ 1.4e12 combinations: the bounded search answers at once, and no swap improves it."""
    import time

    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(200, 32)).astype(np.float32)
    words = [f"w{index}" for index in range(200)]
    start = time.process_time()
    keywords = max_sum_distance(embeddings[:1], embeddings, words, top_n=12, nr_candidates=60)
    assert time.process_time() - start < 5
    assert len(keywords) == len({word for word, _ in keywords}) == 12

    normed = embeddings[:30] / np.linalg.norm(embeddings[:30], axis=1, keepdims=True)
    similarity = normed @ normed.T  # (30, 30)
    chosen = least_similar_subset(similarity, 6, max_exact_work=2_000)
    exact = least_similar_subset(similarity, 6)
    assert _pair_sum(similarity, chosen) >= _pair_sum(similarity, exact) - 1e-5
    for out, into in itertools.product(chosen, set(range(30)) - set(chosen)):
        swapped = [into if index == out else index for index in chosen]
        assert _pair_sum(similarity, swapped) >= _pair_sum(similarity, chosen) - 1e-5
