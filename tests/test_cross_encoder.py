"""sentkit.CrossEncoder against sentence-transformers' on tiny sequence-classification models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import sentence_transformers as st
import torch
from torch import nn

from sentkit import CrossEncoder
from sentkit.errors import ConfigurationError, InputError, InputTypeError, ModelFormatError
from tests.reference import TEXTS, max_abs_diff
from tests.tiny_models import build_masked_lm, build_sequence_classifier

TOLERANCE = 1e-5
QUERIES = [*TEXTS[:3], ""]
PAIRS = [(query, document) for query in QUERIES for document in TEXTS]
LONG_PASSAGE = " ".join(TEXTS[3:4] * 5) + " The answer is hidden at the very end: the weather is lovely today."


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Plain HF checkpoints, and folders saved by sentence-transformers' CrossEncoder from them."""
    root = tmp_path_factory.mktemp("cross")
    folders = {
        "hf1": build_sequence_classifier(root / "hf1", num_labels=1),
        "hf3": build_sequence_classifier(root / "hf3", num_labels=3, seed=1),
    }
    st.CrossEncoder(str(folders["hf1"]), device="cpu").save(str(root / "st1"))
    st.CrossEncoder(str(folders["hf3"]), device="cpu").save(str(root / "st3"))
    folders["st1"], folders["st3"] = root / "st1", root / "st3"
    return folders


@pytest.fixture(scope="module")
def pair1(checkpoints: dict[str, Path]) -> tuple[st.CrossEncoder, CrossEncoder]:
    return st.CrossEncoder(str(checkpoints["st1"]), device="cpu"), CrossEncoder(checkpoints["st1"], device="cpu")


@pytest.fixture(scope="module")
def pair3(checkpoints: dict[str, Path]) -> tuple[st.CrossEncoder, CrossEncoder]:
    return st.CrossEncoder(str(checkpoints["st3"]), device="cpu"), CrossEncoder(checkpoints["st3"], device="cpu")


def _same(actual, expected) -> None:
    if isinstance(expected, np.ndarray | np.floating):
        assert type(actual) is type(expected)
        assert np.shape(actual) == np.shape(expected)
    assert max_abs_diff(actual, expected) <= TOLERANCE


# --------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("family", ["roberta"])  # bert: the checkpoints fixture
def test_plain_checkpoint_scores_match(tmp_path: Path, family: str) -> None:
    folder = build_sequence_classifier(tmp_path / family, family)
    reference, ours = st.CrossEncoder(str(folder), device="cpu"), CrossEncoder(folder, device="cpu")
    _same(ours.predict(PAIRS, batch_size=5), reference.predict(PAIRS, batch_size=5))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"batch_size": 2},
        {"convert_to_tensor": True},
        {"convert_to_numpy": False},
        {"activation_fn": nn.Identity()},
        {"activation_fn": torch.tanh},
    ],
    ids=str,
)
def test_predict_options_match(pair1, options) -> None:
    reference, ours = pair1
    expected, actual = reference.predict(PAIRS, **options), ours.predict(PAIRS, **options)
    if isinstance(expected, list):
        assert isinstance(actual, list)
        assert len(actual) == len(expected)
    _same(actual, expected)


def test_one_pair_gives_a_scalar(pair1) -> None:
    reference, ours = pair1
    for pair in (PAIRS[0], list(PAIRS[0]), np.array(PAIRS[0])):
        _same(ours.predict(pair), reference.predict(pair))
        assert ours.predict(pair).shape == ()
    _same(ours.predict(PAIRS[0], convert_to_tensor=True), reference.predict(PAIRS[0], convert_to_tensor=True))


@pytest.mark.parametrize(
    "options",
    [{}, {"apply_softmax": True}, {"activation_fn": nn.Sigmoid()}, {"convert_to_tensor": True}],
    ids=str,
)
def test_several_labels_match(pair3, options) -> None:
    reference, ours = pair3
    assert ours.num_labels == reference.num_labels == 3
    _same(ours.predict(PAIRS, **options), reference.predict(PAIRS, **options))
    _same(ours.predict(PAIRS[1], **options), reference.predict(PAIRS[1], **options))


def test_constructor_settings_match(checkpoints: dict[str, Path]) -> None:
    settings = {
        "max_length": 12,
        "activation_fn": nn.Tanh(),
        "prompts": {"search": "search query: "},
        "default_prompt_name": "search",
    }
    reference = st.CrossEncoder(str(checkpoints["hf1"]), device="cpu", **settings)
    ours = CrossEncoder(checkpoints["hf1"], device="cpu", **settings)
    assert ours.max_length == ours.max_seq_length == 12
    _same(ours.predict(PAIRS), reference.predict(PAIRS))
    _same(ours.predict(PAIRS, prompt="other: "), reference.predict(PAIRS, prompt="other: "))
    _same(ours.predict(PAIRS, prompt=""), reference.predict(PAIRS, prompt=""))


def test_older_argument_names(checkpoints: dict[str, Path]) -> None:
    legacy = {"default_activation_function": nn.Identity(), "tokenizer_args": {"model_max_length": 16}}
    reference = st.CrossEncoder(str(checkpoints["hf1"]), device="cpu", **legacy)
    ours = CrossEncoder(checkpoints["hf1"], device="cpu", **legacy)
    assert ours.max_length == reference.max_seq_length == 16
    _same(
        ours.predict(sentences=PAIRS, activation_fct=nn.Sigmoid()), reference.predict(PAIRS, activation_fn=nn.Sigmoid())
    )
    _same(ours.predict(inputs=PAIRS), reference.predict(PAIRS))


def test_num_labels_on_a_checkpoint_without_head(tmp_path: Path) -> None:
    folder = build_masked_lm(tmp_path / "mlm")
    ours = CrossEncoder(folder, device="cpu")
    assert ours.num_labels == 1
    assert CrossEncoder(folder, num_labels=2, device="cpu").predict(PAIRS[:2]).shape == (2, 2)


def test_rank_matches(pair1) -> None:
    reference, ours = pair1
    for query in QUERIES[::2]:
        for options in ({}, {"top_k": 3, "return_documents": True}, {"top_k": 100}):
            expected = reference.rank(query, TEXTS, **options)
            actual = ours.rank(query, TEXTS, **options)
            assert [hit["corpus_id"] for hit in actual] == [hit["corpus_id"] for hit in expected]
            assert [hit.get("text") for hit in actual] == [hit.get("text") for hit in expected]
            assert max_abs_diff([hit["score"] for hit in actual], [hit["score"] for hit in expected]) <= TOLERANCE


# ------------------------------------------------------------------------------- saved formats
def test_saved_activation_is_read_both_ways(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    activation = nn.Tanh()
    st.CrossEncoder(str(checkpoints["hf1"]), device="cpu", activation_fn=activation).save(str(tmp_path / "theirs"))
    ours = CrossEncoder(tmp_path / "theirs", device="cpu")
    assert type(ours.activation_fn) is type(activation)
    ours.save(tmp_path / "ours")
    reference = st.CrossEncoder(str(tmp_path / "ours"), device="cpu")
    assert type(reference.activation_fn) is type(activation)
    _same(ours.predict(PAIRS), reference.predict(PAIRS))


def test_sentkit_folder_loads_in_reference(pair3, tmp_path: Path) -> None:
    _, ours = pair3
    ours.prompts = {"q": "question: "}
    ours.max_seq_length = 20
    ours.save_pretrained(tmp_path / "saved")
    reference = st.CrossEncoder(str(tmp_path / "saved"), device="cpu")
    assert reference.max_seq_length == 20
    assert reference.prompts == {"q": "question: "}
    _same(ours.predict(PAIRS, prompt_name="q"), reference.predict(PAIRS, prompt_name="q"))
    _same(CrossEncoder(tmp_path / "saved", device="cpu").predict(PAIRS), reference.predict(PAIRS))
    ours.prompts = {}
    ours.max_seq_length = 128


@pytest.mark.parametrize(
    ("config_entry", "expected"),
    [
        ({"sentence_transformers": {"activation_fn": "torch.nn.modules.activation.Tanh", "version": "4.0.0"}}, nn.Tanh),
        ({"sbert_ce_default_activation_function": "my_package.Activation"}, nn.Sigmoid),  # untrusted: default
    ],
    ids=["v4", "v2-untrusted"],
)
def test_activation_in_older_configs(checkpoints: dict[str, Path], tmp_path: Path, config_entry, expected) -> None:
    folder = Path(shutil.copytree(checkpoints["hf1"], tmp_path / "old"))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **config_entry}))
    reference, ours = st.CrossEncoder(str(folder), device="cpu"), CrossEncoder(folder, device="cpu")
    assert type(ours.activation_fn) is type(reference.activation_fn) is expected
    _same(ours.predict(PAIRS), reference.predict(PAIRS))


# ------------------------------------------------------------------------------------- windows
def test_windows_leave_short_pairs_unchanged(pair1) -> None:
    _, ours = pair1
    short = [pair for pair in PAIRS if len(pair[1]) < 200]
    for aggregation in ("max", "mean"):
        assert max_abs_diff(ours.predict(short, window_aggregation=aggregation), ours.predict(short)) <= TOLERANCE


def test_windows_score_the_whole_passage(pair1) -> None:
    _, ours = pair1
    ours.max_seq_length = 24
    try:
        pairs = [(query, LONG_PASSAGE) for query in QUERIES[:2]]
        truncated = ours.predict(pairs, activation_fn=nn.Identity())
        best = ours.predict(pairs, activation_fn=nn.Identity(), window_aggregation="max", window_overlap=4)
        mean = ours.predict(pairs, activation_fn=nn.Identity(), window_aggregation="mean", window_overlap=4)
        assert np.all(best >= truncated - TOLERANCE)
        assert np.all(best >= mean - TOLERANCE)
        assert not np.allclose(mean, truncated)
        ranking = ours.rank(QUERIES[0], [LONG_PASSAGE, TEXTS[0]], window_aggregation="max")
        assert sorted(hit["corpus_id"] for hit in ranking) == [0, 1]
        long_query = " ".join(TEXTS[:3] * 5)
        assert ours.predict((long_query, LONG_PASSAGE), window_aggregation="mean").shape == ()
    finally:
        ours.max_seq_length = 128


@pytest.mark.parametrize(
    "options", [{"window_aggregation": "min"}, {"window_aggregation": "max", "window_overlap": -1}]
)
def test_bad_window_options(pair1, options) -> None:
    with pytest.raises(InputError, match="window"):
        pair1[1].predict(PAIRS[:2], **options)


# ----------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("top_k", [0, -1, 1.5, True])
def test_rank_rejects_non_positive_top_k(pair1, top_k) -> None:
    with pytest.raises(InputError, match="top_k"):
        pair1[1].rank("query", TEXTS, top_k=top_k)


@pytest.mark.parametrize(
    ("inputs", "error", "match"),
    [
        ([("a", "b"), "just text"], InputTypeError, "index 1 is str"),
        ("just text", InputTypeError, "index 0 is str"),
        ([("a", "b"), ("a", "b", "c")], InputError, "index 1 has 3 parts"),
        ([("a", "b"), ("a", None)], InputTypeError, "index 1 holds NoneType .* position 1"),
        ([("a", "b"), 5], InputTypeError, "index 1 is int"),
    ],
)
def test_items_that_are_not_pairs_are_named(pair1, inputs, error, match) -> None:
    with pytest.raises(error, match=match):
        pair1[1].predict(inputs)


def test_documents_that_are_not_text_are_named(pair1) -> None:
    with pytest.raises(InputTypeError, match="index 2 holds int"):
        pair1[1].rank("query", ["a", "b", 3])


def test_empty_inputs(pair1) -> None:
    reference, ours = pair1
    assert ours.rank("query", []) == reference.rank("query", []) == []
    assert ours.predict([]).shape == (0,)
    assert ours.predict([], convert_to_tensor=True).shape == (0,)
    assert ours.predict([], convert_to_numpy=False) == []


def test_empty_texts_are_scored_as_the_model_defines(pair1) -> None:
    reference, ours = pair1
    pairs = [("", ""), ("query", ""), ("", "document")]
    _same(ours.predict(pairs), reference.predict(pairs))
    _same(
        np.array([hit["score"] for hit in ours.rank("", ["", "x"])]),
        np.array([hit["score"] for hit in reference.rank("", ["", "x"])]),
    )


def test_other_bad_arguments(pair1, pair3, checkpoints: dict[str, Path]) -> None:
    ours = pair1[1]
    with pytest.raises(InputError, match="batch_size"):
        ours.predict(PAIRS, batch_size=0)
    with pytest.raises(InputError, match="prompt_name"):
        ours.predict(PAIRS, prompt_name="missing")
    with pytest.raises(InputError, match="unexpected keyword"):
        ours.predict(PAIRS, colour="red")
    with pytest.raises(ConfigurationError, match="one label"):
        pair3[1].rank("query", TEXTS)
    with pytest.raises(ConfigurationError, match="default_prompt_name"):
        CrossEncoder(checkpoints["hf1"], default_prompt_name="missing", device="cpu")
    with pytest.raises(ModelFormatError, match="num_labels"):
        CrossEncoder(checkpoints["st1"], num_labels=3, device="cpu")
