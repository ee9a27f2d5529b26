"""mine_hard_negatives against sentence_transformers.util.mine_hard_negatives on the same tiny models."""

from __future__ import annotations

import io
import random
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sentence_transformers as st
import torch
from datasets import Dataset
from sentence_transformers.util import mine_hard_negatives as reference_mine
from transformers import BertModel

from sentkit import CrossEncoder, SentenceTransformer
from sentkit.apps import hard_negatives_search
from sentkit.apps.hard_negatives import mine_hard_negatives
from sentkit.errors import InputError, InputTypeError, MissingDependencyError
from tests.reference import reference_model
from tests.tiny_models import build, build_sequence_classifier

SCORE_TOLERANCE = 1e-5
SCORE_COLUMNS = ("scores", "score")

PAIRS = [
    ("How long do cats sleep each day?", "Cats sleep for up to sixteen hours a day."),
    ("Why do cats sleep so much?", "Cats save energy for hunting by sleeping most of the day."),
    ("What do dogs do in the evening?", "Our dog waits by the front door every evening for his walk."),
    ("How far is a marathon?", "A marathon covers just over forty-two kilometers of road."),
    ("How long is a marathon road race?", "Runners cover forty-two kilometers of road in a marathon race."),
    ("Where does a hurricane get its energy?", "Hurricanes draw their energy from warm ocean water."),
    ("How do meteorologists track hurricanes?", "Meteorologists track hurricanes with satellites over the ocean."),
    ("What does a compiler do?", "A compiler translates source code into machine instructions."),
    ("What does version control track?", "Version control lets a team track every change made to a codebase."),
    ("How long does sunlight take to reach Earth?", "Light from the Sun takes about eight minutes to reach Earth."),
    ("How much sunlight do tomatoes need?", "Tomatoes need at least six hours of direct sunlight each day."),
    ("What does compost do for the soil?", "Adding compost to the soil improves its structure and fertility."),
    ("Why do central banks raise interest rates?", "Central banks raise interest rates to cool down the economy."),
    ("What does inflation do to money?", "Inflation reduces the purchasing power of money over time."),
    ("When did the Berlin Wall fall?", "The Berlin Wall fell in 1989, reuniting a divided city."),
    ("What did the printing press change in Europe?", "The printing press made books cheaper across Europe."),
    ("What roads did the Roman Empire build?", "The Roman Empire built thousands of kilometers of roads."),
    ("Do antibiotics work against viruses?", "Antibiotics work against bacteria but are useless against viruses."),
    ("How do vaccines train the immune system?", "Vaccines train the immune system to fight specific germs."),
    ("How many hours of sleep does the body need?", "Seven to nine hours of sleep help the body repair itself."),
]
# Repeated anchors: a second positive for two of them, and one exact duplicate row.
EXTRA_ROWS = [
    (PAIRS[0][0], "A cat can sleep most of the day and hunt at night."),
    (PAIRS[5][0], "Warm ocean water gives a hurricane its energy."),
    PAIRS[3],
]
EXTRA_CORPUS = [
    "Jupiter is so large that all the other planets could fit inside it.",
    "A black hole's gravity is so strong that not even light can escape it.",
    "The orchestra tuned their instruments before the concert.",
    "Jazz musicians often improvise solos over a familiar chord progression.",
    "Tokyo's subway system is famously punctual and spotless.",
    "Octopuses can change the color and texture of their skin.",
    "We missed our connecting flight and spent the night at the airport.",
    "Searing the meat before braising gives the stew a richer flavor.",
    "Venice is built on more than a hundred small islands connected by bridges.",
    "Cats sleep for up to sixteen hours a day.",  # also a positive: de-duplicated
    "Cats sleep for up to sixteen hours a day.",
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny BERT SentenceTransformer folder and a one-label CrossEncoder checkpoint.

    The random BERT's token-type and position embeddings are shrunk and its word embeddings
    scaled up, so that mean pooling follows the words: similarities spread over [-0.4, 1] and
    depend on word overlap, instead of all sitting near 0.97.
    """
    root = tmp_path_factory.mktemp("hard_negatives")
    checkpoint = build("bert", root / "hf")
    bert = BertModel.from_pretrained(checkpoint)
    with torch.no_grad():
        bert.embeddings.word_embeddings.weight.mul_(25)
        bert.embeddings.token_type_embeddings.weight.zero_()
        bert.embeddings.position_embeddings.weight.mul_(0.1)
    bert.save_pretrained(checkpoint)
    return {
        "st": reference_model(checkpoint, root / "st"),
        "ce": build_sequence_classifier(root / "ce", num_labels=1),
        "ce3": build_sequence_classifier(root / "ce3", num_labels=3),
    }


@pytest.fixture(scope="module")
def models(folders: dict[str, Path]) -> dict[str, Any]:
    return {
        "ours": SentenceTransformer(folders["st"], device="cpu"),
        "reference": st.SentenceTransformer(str(folders["st"]), device="cpu"),
        "ours_ce": CrossEncoder(folders["ce"], device="cpu"),
        "reference_ce": st.CrossEncoder(str(folders["ce"]), device="cpu"),
    }


@pytest.fixture(scope="module")
def dataset(models: dict[str, Any]) -> Dataset:
    rows = PAIRS + EXTRA_ROWS
    data = Dataset.from_dict({"query": [a for a, _ in rows], "answer": [p for _, p in rows]})
    # Parity of rankings needs scores that differ by more than the two libraries' float noise (~1e-7).
    texts = list(dict.fromkeys([a for a, _ in rows] + [p for _, p in rows] + EXTRA_CORPUS))
    embeddings = models["ours"].encode(texts, normalize_embeddings=True)
    gaps = np.diff(np.sort(embeddings @ embeddings.T, axis=1), axis=1)
    assert gaps.min() > 1e-6, "near-tied similarities: rankings could differ by float noise"
    return data


def mine_both(models: dict[str, Any], dataset: Dataset, **options: Any) -> tuple[Dataset, Dataset]:
    """(ours, reference) on the same data; ``cross_encoder=True`` picks each library's CrossEncoder."""
    ours_options, reference_options = dict(options), dict(options)
    if options.get("cross_encoder"):
        ours_options["cross_encoder"], reference_options["cross_encoder"] = models["ours_ce"], models["reference_ce"]
    ours = mine_hard_negatives(dataset, models["ours"], verbose=False, **ours_options)
    expected = reference_mine(dataset, models["reference"], verbose=False, **reference_options)
    return ours, expected


def assert_same_rows(ours: Dataset, expected: Dataset) -> None:
    assert ours.features == expected.features
    assert ours.column_names == expected.column_names
    assert len(ours) == len(expected)
    for column in expected.column_names:
        if column in SCORE_COLUMNS:
            for actual_row, expected_row in zip(ours[column], expected[column], strict=True):
                assert np.allclose(actual_row, expected_row, atol=SCORE_TOLERANCE), column
        else:
            assert ours[column] == expected[column], column


# ------------------------------------------------------------------------------------ formats
@pytest.mark.parametrize("output_scores", [False, True])
@pytest.mark.parametrize("output_format", ["triplet", "n-tuple", "labeled-pair", "labeled-list"])
def test_output_formats_match_reference(models, dataset, output_format: str, output_scores: bool) -> None:
    ours, expected = mine_both(models, dataset, output_format=output_format, output_scores=output_scores)
    assert len(ours) > 0
    assert_same_rows(ours, expected)


@pytest.mark.parametrize(
    "options",
    [
        {"output_format": "n-tuple-scores"},
        {"output_format": "n-tuple-scores", "include_positives": True},  # positives first: no scores
        {"as_triplets": True},
        {"as_triplets": False, "output_format": "triplet"},
    ],
    ids=str,
)
def test_deprecated_format_names_match_reference(models, dataset, options, caplog) -> None:
    ours, expected = mine_both(models, dataset, **options)
    assert ours.column_names == expected.column_names
    assert_same_rows(ours, expected)
    ours_logged = _sentkit_log(caplog)
    assert "deprecated" in ours_logged or "include_positives=True" in ours_logged


def test_columns_are_picked_by_name(models) -> None:
    rows = PAIRS + EXTRA_ROWS
    data = Dataset.from_dict(
        {"id": list(range(len(rows))), "question": [a for a, _ in rows], "doc": [p for _, p in rows]}
    )
    ours, expected = mine_both(models, data, anchor_column_name="question", positive_column_name="doc")
    assert ours.column_names == ["question", "doc", "negative"]
    assert_same_rows(ours, expected)


# ------------------------------------------------------------------------------------ filters
@pytest.mark.parametrize(
    "options",
    [
        {"range_min": 2, "range_max": 8},
        {"range_min": 3, "range_max": 6, "num_negatives": 3, "output_format": "n-tuple"},
        {"range_max": 200, "num_negatives": 40, "output_format": "labeled-list"},  # more than the corpus
        {"absolute_margin": 0.0, "output_scores": True},
        {"absolute_margin": 0.1, "num_negatives": 5, "output_format": "labeled-list"},
        {"relative_margin": 0.05, "output_scores": True},
        {"relative_margin": 0.2, "absolute_margin": 0.02, "output_format": "labeled-pair"},
        {"margin": 0.05},
        {"max_score": 0.5},
        {"min_score": 0.1, "output_format": "n-tuple", "output_scores": True},
        {"max_score": 0.6, "min_score": 0.0, "num_negatives": 5, "range_min": 1},
        {"max_score": -1.0},  # nothing left
    ],
    ids=str,
)
def test_filters_match_reference(models, dataset, options) -> None:
    ours, expected = mine_both(models, dataset, **options)
    assert_same_rows(ours, expected)


def test_margins_and_bounds_hold(models, dataset) -> None:
    options = {"relative_margin": 0.1, "max_score": 0.8, "min_score": -0.2, "num_negatives": 6}
    mined = mine_hard_negatives(dataset, models["ours"], verbose=False, output_scores=True, **options)
    assert len(mined) > 0
    for anchor, positive, negative, (positive_score, negative_score) in zip(
        mined["query"], mined["answer"], mined["negative"], mined["scores"], strict=True
    ):
        positives_of_anchor = {p for a, p in PAIRS + EXTRA_ROWS if a == anchor}
        assert positive in positives_of_anchor
        assert negative not in positives_of_anchor
        assert -0.2 <= negative_score <= 0.8
        assert negative_score <= positive_score - abs(positive_score) * 0.1 + 1e-6


def test_separate_corpus_matches_reference(models, dataset) -> None:
    ours, expected = mine_both(models, dataset, corpus=EXTRA_CORPUS, output_scores=True)
    assert_same_rows(ours, expected)
    assert set(ours["negative"]) & set(EXTRA_CORPUS)


def test_include_positives_matches_reference(models, dataset, caplog) -> None:
    ours, expected = mine_both(models, dataset, include_positives=True, output_scores=True)
    assert_same_rows(ours, expected)
    assert ours.column_names[:5] == ["query", "answer", "negative_1", "negative_2", "negative_3"]
    negatives = zip(ours["negative_1"], ours["negative_2"], ours["negative_3"], strict=True)
    assert any(positive in row for positive, row in zip(ours["answer"], negatives, strict=True))
    assert "n-tuple" in _sentkit_log(caplog)


@pytest.mark.parametrize(
    "options",
    [
        {"relative_margin": 0.05, "output_scores": True},
        {"min_score": 0.2, "output_format": "labeled-list", "output_scores": True},
        {"output_scores": True},  # no bound: no rescoring, the bi-encoder scores stay
    ],
    ids=str,
)
def test_cross_encoder_rescoring_matches_reference(models, dataset, options) -> None:
    ours, expected = mine_both(models, dataset, cross_encoder=True, **options)
    assert_same_rows(ours, expected)


def test_cross_encoder_with_several_labels_is_refused(models, dataset, folders) -> None:
    with pytest.raises(InputError, match="num_labels=1"):
        mine_hard_negatives(
            dataset,
            models["ours"],
            cross_encoder=CrossEncoder(folders["ce3"], device="cpu"),
            max_score=1.0,
            verbose=False,
        )


# ------------------------------------------------------------------------------------ search
def test_faiss_matches_reference(models, dataset) -> None:
    pytest.importorskip("faiss")
    ours, expected = mine_both(models, dataset, use_faiss=True, output_scores=True, faiss_batch_size=5)
    assert_same_rows(ours, expected)


def test_chunked_similarity_gives_the_same_rows(models, dataset, monkeypatch) -> None:
    whole = mine_hard_negatives(dataset, models["ours"], verbose=False, output_scores=True, range_max=12)
    dimension = models["ours"].get_sentence_embedding_dimension()  # more than the 4 queries per block
    monkeypatch.setattr(hard_negatives_search, "SCORE_BLOCK", 5 * dimension)  # 5 corpus entries per block
    chunked = mine_hard_negatives(
        dataset, models["ours"], verbose=False, output_scores=True, range_max=12, faiss_batch_size=4
    )
    assert_same_rows(chunked, whole)


def test_missing_faiss_names_the_extra(models, dataset, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingDependencyError, match=r"sentkit\[index\]"):
        mine_hard_negatives(dataset, models["ours"], use_faiss=True, verbose=False)


# ------------------------------------------------------------------------------------ sampling
def test_random_sampling_matches_reference_under_the_same_seed(models, dataset) -> None:
    options = {"sampling_strategy": "random", "range_min": 1, "range_max": 12, "num_negatives": 4}
    for seed in (0, 1):
        random.seed(seed)
        ours = mine_hard_negatives(dataset, models["ours"], verbose=False, **options)
        random.seed(seed)
        expected = reference_mine(dataset, models["reference"], verbose=False, **options)
        assert_same_rows(ours, expected)


def test_random_sampling_stays_in_the_window(models, dataset) -> None:
    top = mine_hard_negatives(
        dataset, models["ours"], verbose=False, output_format="labeled-list", range_max=30, num_negatives=27
    )
    options = {
        "sampling_strategy": "random",
        "range_min": 2,
        "range_max": 10,
        "num_negatives": 3,
        "output_scores": True,
    }
    draws = []
    for seed in range(4):
        random.seed(seed)
        mined = mine_hard_negatives(dataset, models["ours"], verbose=False, output_format="n-tuple", **options)
        draws.append(mined["negative_1"])
        for anchor, row_scores, *negatives in zip(
            mined["query"], mined["scores"], mined["negative_1"], mined["negative_2"], mined["negative_3"], strict=True
        ):
            ranked = [doc for doc, label in zip(*ranking_of(top, anchor), strict=True) if label == 0]
            assert {ranked.index(doc) for doc in negatives} <= set(range(2, 10))  # ranks 2..9 among negatives
            assert row_scores[1:] == sorted(row_scores[1:], reverse=True)
            assert not set(negatives) & {p for a, p in PAIRS + EXTRA_ROWS if a == anchor}
    assert len({tuple(draw) for draw in draws}) > 1


def ranking_of(top: Dataset, anchor: str) -> tuple[list[str], list[int]]:
    row = top["query"].index(anchor)
    return top["answer"][row], top["labels"][row]


# ------------------------------------------------------------------------------------ verbose, cache, pool
def test_printed_statistics_match_reference(models, dataset) -> None:
    options = {"relative_margin": 0.05, "max_score": 0.5, "range_min": 1, "output_format": "labeled-pair"}
    printed = []
    for mine, model in ((mine_hard_negatives, models["ours"]), (reference_mine, models["reference"])):
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            mine(dataset, model, verbose=True, **options)
        printed.append(buffer.getvalue())
    assert printed[0] == printed[1]
    assert "Setting range_max to 33" in printed[0]
    assert "due to the relative_margin of 0.05." in printed[0]
    assert "due to the max_score of 0.5." in printed[0]
    assert "Could not find enough negatives" in printed[0]


def test_cache_folder_reuses_the_embeddings(models, dataset, tmp_path, monkeypatch) -> None:
    first = mine_hard_negatives(dataset, models["ours"], verbose=False, cache_folder=str(tmp_path / "ours"))
    reference_mine(dataset, models["reference"], verbose=False, cache_folder=str(tmp_path / "reference"))
    names = sorted(path.name for path in (tmp_path / "ours").iterdir())
    assert names == sorted(path.name for path in (tmp_path / "reference").iterdir())  # the reference's hashes
    assert len(names) == 2

    encode = models["ours"].encode

    def only_the_check(sentences: Any, **kwargs: Any) -> Any:  # the first text, to check whose file it is
        assert len(sentences) == 1, "encoded although the embeddings are cached"
        return encode(sentences, **kwargs)

    monkeypatch.setattr(models["ours"], "encode", only_the_check)
    again = mine_hard_negatives(dataset, models["ours"], verbose=False, cache_folder=str(tmp_path / "reference"))
    assert_same_rows(again, first)


def test_cache_files_of_another_model_are_replaced(models, dataset, tmp_path, caplog) -> None:
    """A local model's cache name does not say which model wrote it (as in the reference): a file that
    is not this model's embeddings is encoded again, not used."""
    first = mine_hard_negatives(dataset, models["ours"], verbose=False, cache_folder=str(tmp_path))
    generator = np.random.default_rng(0)
    for path in tmp_path.iterdir():  # another model's vectors under the same names
        stored = np.load(path)
        other = generator.standard_normal(stored.shape).astype(np.float32)
        np.save(path, other / np.linalg.norm(other, axis=1, keepdims=True))
    again = mine_hard_negatives(dataset, models["ours"], verbose=False, cache_folder=str(tmp_path))
    assert_same_rows(again, first)
    assert _sentkit_log(caplog).count("were not made by this model") == 2
    rows = mine_hard_negatives(dataset, models["ours"], verbose=False, cache_folder=str(tmp_path))
    assert_same_rows(rows, first)  # the files were rewritten with this model's embeddings


def test_multi_process_pool_is_used_and_stopped(models, dataset, monkeypatch) -> None:
    model, calls = models["ours"], []
    encode = model.encode

    def fake_encode(sentences: Any, pool: Any = None, **kwargs: Any) -> Any:
        calls.append(("encode", pool))
        return encode(sentences, **kwargs)

    monkeypatch.setattr(
        model, "start_multi_process_pool", lambda target_devices=None: calls.append(target_devices) or "pool"
    )
    monkeypatch.setattr(model, "stop_multi_process_pool", lambda pool: calls.append(("stop", pool)))
    monkeypatch.setattr(model, "encode", fake_encode)
    mined = mine_hard_negatives(dataset, model, verbose=False, use_multi_process=["cpu", "cpu"])
    assert calls == [["cpu", "cpu"], ("encode", "pool"), ("encode", "pool"), ("stop", "pool")]
    monkeypatch.undo()
    assert_same_rows(mined, mine_hard_negatives(dataset, model, verbose=False))


# ------------------------------------------------------------------------------------ bad input
TWO_COLUMNS = {"query": ["a b", "c d"], "answer": ["a c", "b d"]}


@pytest.mark.parametrize(
    ("data", "options", "error", "match", "reference_match"),
    [
        ({"query": [], "answer": []}, {}, InputError, "empty", "empty"),
        (TWO_COLUMNS, {"output_format": "pairs"}, InputError, "output_format", "output_format"),
        (TWO_COLUMNS, {"num_negatives": 0}, InputError, "num_negatives", "num_negatives"),
        (TWO_COLUMNS, {"range_min": -1, "range_max": 3}, InputError, "non-negative", "non-negative"),
        (TWO_COLUMNS, {"range_min": 4, "range_max": 4}, InputError, "smaller than range_max", "smaller"),
        (TWO_COLUMNS, {"range_min": 2, "range_max": 4, "num_negatives": 3}, InputError, "Cannot mine 3", "Cannot"),
        (TWO_COLUMNS, {"faiss_batch_size": 0}, InputError, "faiss_batch_size", "faiss_batch_size"),
        ({"query": ["a", "b"]}, {}, InputError, "only the column", "two columns"),
        # Where the reference falls back to another column, overrides, or fails later:
        (TWO_COLUMNS, {"anchor_column_name": "question"}, InputError, "not a column", None),
        (TWO_COLUMNS, {"anchor_column_name": "answer"}, InputError, "both 'answer'", None),
        (TWO_COLUMNS, {"sampling_strategy": "best"}, InputError, "sampling_strategy", None),
        (TWO_COLUMNS, {"margin": 0.1, "absolute_margin": 0.2}, InputError, "disagree", None),
        ({"query": ["a", None], "answer": ["b", "c"]}, {}, InputTypeError, "Row 1 of column 'query'", None),
        (TWO_COLUMNS, {"corpus": ["a", 3]}, InputTypeError, r"corpus\[1\]", None),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_input_raises(models, data, options, error, match, reference_match) -> None:
    dataset = Dataset.from_dict(data)
    with pytest.raises(error, match=match):
        mine_hard_negatives(dataset, models["ours"], verbose=False, **options)
    if reference_match is not None:  # the reference raises ValueError too: existing except clauses still work
        with pytest.raises(ValueError, match=reference_match):
            reference_mine(dataset, models["reference"], verbose=False, **options)


def test_a_dataset_is_required(models) -> None:
    with pytest.raises(InputTypeError, match=r"datasets\.Dataset"):
        mine_hard_negatives([("a", "b")], models["ours"], verbose=False)


def _sentkit_log(caplog: pytest.LogCaptureFixture) -> str:
    """What sentkit logged (the reference logs the same warnings, which must not count)."""
    return "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("sentkit"))
