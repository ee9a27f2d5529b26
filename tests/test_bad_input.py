"""Every bad input gets a clear error (or the documented result), never a silent wrong answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sentkit import SentenceTransformer
from sentkit.errors import ConfigurationError, InputError, InputTypeError, NumericalError, SentkitError
from tests.reference import reference_model


@pytest.fixture(scope="module")
def model(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformer:
    folder = reference_model(hf_checkpoints["bert"], tmp_path_factory.mktemp("m") / "model", dense=True)
    return SentenceTransformer(folder, device="cpu", prompts={"query": "q: "})


@pytest.mark.parametrize(
    ("options", "shape", "dtype"),
    [
        ({}, (0, 16), np.float32),
        ({"precision": "int8"}, (0, 16), np.int8),
        ({"precision": "ubinary"}, (0, 2), np.uint8),
        ({"truncate_dim": 4}, (0, 4), np.float32),
    ],
)
def test_empty_input_gives_empty_matrix(model: SentenceTransformer, options, shape, dtype) -> None:
    result = model.encode([], **options)
    assert isinstance(result, np.ndarray)
    assert result.shape == shape
    assert result.dtype == dtype


def test_empty_input_as_tensor_and_list(model: SentenceTransformer) -> None:
    assert tuple(model.encode([], convert_to_tensor=True).shape) == (0, 16)
    assert model.encode([], convert_to_numpy=False) == []
    assert model.encode([], output_value="token_embeddings") == []


@pytest.mark.parametrize(
    ("item", "type_name"), [(None, "NoneType"), (42, "int"), (b"bytes", "bytes"), (["nested"], "list")]
)
def test_non_string_item_names_index_and_type(model: SentenceTransformer, item, type_name: str) -> None:
    with pytest.raises(InputTypeError, match=rf"index 2 is {type_name}"):
        model.encode(["fine", "also fine", item, "fine"])


@pytest.mark.parametrize("value", [None, 3.5, b"raw bytes"])
def test_non_text_argument_is_rejected(model: SentenceTransformer, value) -> None:
    with pytest.raises(InputTypeError, match="str or a list of str"):
        model.encode(value)


def test_dict_inputs_are_text_under_the_text_key_only(model: SentenceTransformer) -> None:
    assert np.array_equal(model.encode({"text": "a dict"}), model.encode("a dict"))  # as the reference
    with pytest.raises(InputError, match=r"index 0 is a dict with keys \['query'\]; this model takes \{'text'"):
        model.encode({"query": "dict"})
    with pytest.raises(InputError, match=r"index 1 is a dict with keys \['image'\]"):
        model.encode(["fine", {"image": "cat.png"}])


def test_lone_surrogate_names_index(model: SentenceTransformer) -> None:
    with pytest.raises(InputError, match="index 1 cannot be encoded"):
        model.encode(["fine", "broken \ud800 text", "fine"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"precision": "float16"}, "precision"),
        ({"prompt_name": "missing"}, "prompt_name"),
        ({"output_value": "pooler_output"}, "output_value"),
        ({"not_an_option": True}, "not_an_option"),
    ],
)
def test_bad_options_are_rejected(model: SentenceTransformer, options, message: str) -> None:
    with pytest.raises(InputError, match=message):
        model.encode(["text"], **options)


def test_unknown_default_prompt_is_rejected(hf_checkpoints: dict[str, Path]) -> None:
    with pytest.raises(ConfigurationError, match="default_prompt_name"):
        SentenceTransformer(hf_checkpoints["bert"], device="cpu", default_prompt_name="nope")


def test_max_seq_length_past_model_limit_fails_when_set(model: SentenceTransformer) -> None:
    limit = model[0].model_max_positions
    with pytest.raises(ConfigurationError, match=f"exceeds the {limit} tokens"):
        model.max_seq_length = limit + 1
    with pytest.raises(ConfigurationError):
        model.max_seq_length = 0
    model.max_seq_length = limit
    assert model.max_seq_length == limit
    assert model.encode("word " * 500).shape == (16,)
    model.max_seq_length = 64


def test_nan_output_names_the_rows(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    model = SentenceTransformer(hf_checkpoints["bert"], device="cpu")
    token_id = model.tokenizer.convert_tokens_to_ids(model.tokenizer.tokenize("weather")[0])
    with torch.no_grad():
        model[0].auto_model.embeddings.word_embeddings.weight[token_id] = float("nan")
    texts = ["sunny outside", "the weather is lovely", "he drove", "weather again"]
    with pytest.raises(NumericalError, match=r"indices \[1, 3\]"):
        model.encode(texts, batch_size=2)


def test_errors_share_one_root_and_the_builtin_bases() -> None:
    assert issubclass(InputTypeError, InputError)
    assert issubclass(InputTypeError, TypeError)
    for error in (InputError, ConfigurationError, NumericalError):
        assert issubclass(error, SentkitError)
    assert issubclass(InputError, ValueError)
