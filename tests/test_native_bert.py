"""The native BERT path: same outputs as transformers, loaded without importing it, swapped out when needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sentkit import SentenceTransformer
from sentkit.errors import ModelFormatError, UnencodableTextError
from sentkit.models import Pooling, Transformer, WeightedLayerPooling
from sentkit.modules.native_bert import NativeBertModel, bert_settings
from tests.reference import TEXTS
from tests.tiny_models import build, build_masked_lm

LONG = "word " * 400  # longer than the tiny model's 128 positions: cut like the transformers path
INPUTS = [*TEXTS, LONG, "Ünïcödé ÀCCENTS and 中文 characters", "  spaced\tout\n text  "]


pytestmark = pytest.mark.usefixtures("snapshot_cache")


@pytest.fixture
def bert(tmp_path: Path) -> Path:
    return build("bert", tmp_path / "bert")


def _hf_outputs(folder: Path, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder).eval()
    with torch.inference_mode():
        return tuple(model(**features, output_hidden_states=True).hidden_states)


def _features(folder: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    return dict(tokenizer(INPUTS, padding=True, truncation=True, max_length=128, return_tensors="pt"))


@pytest.mark.parametrize("checkpoint", ["base", "masked-lm"])
def test_native_model_equals_transformers_on_every_layer(tmp_path: Path, checkpoint: str) -> None:
    # A masked-LM checkpoint keeps the encoder under "bert.": transformers' AutoModel strips it, so does sentkit.
    folder = build("bert", tmp_path / "m") if checkpoint == "base" else build_masked_lm(tmp_path / "m")
    features = _features(folder)
    native = NativeBertModel.load(folder)
    assert native is not None
    with torch.inference_mode():
        output = native(**features, output_hidden_states=True)
    expected = _hf_outputs(folder, features)
    assert output.hidden_states is not None
    assert len(output.hidden_states) == len(expected)
    for got, want in zip(output.hidden_states, expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(output.last_hidden_state, expected[-1], atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "change",
    [
        {"position_embedding_type": "relative_key"},
        {"hidden_act": "gelu_new"},
        {"is_decoder": True},
        {"torch_dtype": "float16"},
        {"model_type": "roberta"},
        {"num_attention_heads": 5},
    ],
)
def test_configurations_it_cannot_run_exactly_go_to_transformers(bert: Path, change: dict[str, object]) -> None:
    config = {**json.loads((bert / "config.json").read_text()), **change}
    assert bert_settings(config) is None
    (bert / "config.json").write_text(json.dumps(config))
    assert not NativeBertModel.supports(bert)
    assert NativeBertModel.load(bert) is None


def test_weights_the_config_has_no_place_for_are_left_to_transformers_to_report(bert: Path) -> None:
    weights = load_file(bert / "model.safetensors")
    extra = {name.replace("layer.1.", "layer.2."): t.clone() for name, t in weights.items() if "layer.1." in name}
    save_file({**weights, **extra}, bert / "model.safetensors")
    assert NativeBertModel.load(bert) is None
    with pytest.raises(ModelFormatError, match="no place for"):
        Transformer(bert)


def test_second_load_tokenizes_from_the_snapshot_with_the_same_outputs(bert: Path, snapshot_cache: Path) -> None:
    first = SentenceTransformer(str(bert), device="cpu")
    assert isinstance(first[0].model, NativeBertModel)
    assert first[0].tokenizer._snapshot is None  # the Hugging Face tokenizer, which writes the snapshot
    assert list((snapshot_cache / "tokenizers").iterdir()), "the first load caches the tokenizer snapshot"
    second = SentenceTransformer(str(bert), device="cpu")
    assert isinstance(second[0].model, NativeBertModel)
    assert second[0].tokenizer._snapshot is not None

    for options in ({}, {"normalize_embeddings": True, "batch_size": 3}, {"max_batch_tokens": 40}):
        np.testing.assert_allclose(second.encode(INPUTS, **options), first.encode(INPUTS, **options), atol=1e-6)
    for got, want in zip(
        second.encode(INPUTS, output_value="token_embeddings"),
        first.encode(INPUTS, output_value="token_embeddings"),
        strict=True,
    ):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    for text in INPUTS:
        assert second[0].tokenizer.count_tokens(text) == first[0].tokenizer.count_tokens(text)
    assert second.max_seq_length == first.max_seq_length
    assert second.get_sentence_embedding_dimension() == first.get_sentence_embedding_dimension()


def test_native_tokenization_equals_the_hugging_face_tokenizer(bert: Path) -> None:
    first, second = Transformer(bert, do_lower_case=True), Transformer(bert, do_lower_case=True)
    assert isinstance(second.model, NativeBertModel)
    for max_length in (5, 16, 128):
        want, got = first.tokenizer(INPUTS, max_length), second.tokenizer(INPUTS, max_length)
        assert list(got) == list(want)  # same keys, in the same order
        for name in want:
            assert torch.equal(got[name], want[name]), name
    # Text pairs go through the Hugging Face tokenizer, loaded on first use.
    pairs = [("a question", "an answer"), ("another question", "")]
    assert {k: v.tolist() for k, v in second.tokenizer(pairs, 16).items()} == {
        k: v.tolist() for k, v in first.tokenizer(pairs, 16).items()
    }


def test_unencodable_text_is_reported_with_its_index(bert: Path) -> None:
    SentenceTransformer(str(bert), device="cpu")
    model = SentenceTransformer(str(bert), device="cpu")
    assert isinstance(model[0].model, NativeBertModel)
    with pytest.raises(UnencodableTextError) as caught:
        model.encode(["fine", "bad \ud800 surrogate"], batch_size=1)
    assert caught.value.index == 1


def test_hidden_states_for_layer_pooling(bert: Path) -> None:
    def pipeline() -> SentenceTransformer:
        transformer = Transformer(bert)
        dimension = transformer.get_embedding_dimension()
        layers = WeightedLayerPooling(dimension, num_hidden_layers=2, layer_start=1)
        return SentenceTransformer(modules=[transformer, layers, Pooling(dimension)], device="cpu")

    reference, native = pipeline(), pipeline()
    assert isinstance(native[0].model, NativeBertModel)
    np.testing.assert_allclose(native.encode(INPUTS), reference.encode(INPUTS), atol=1e-6)


def test_auto_model_hands_over_the_same_parameters_to_transformers(bert: Path) -> None:
    Transformer(bert)
    transformer = Transformer(bert)
    native = transformer.model
    assert isinstance(native, NativeBertModel)
    features = transformer.tokenize(INPUTS)
    with torch.inference_mode():
        before = transformer(dict(features))["token_embeddings"]

    hf_model = transformer.auto_model
    assert type(hf_model).__name__ == "BertModel"
    assert transformer.model is hf_model
    native_params = dict(native.named_parameters())
    for name, parameter in hf_model.named_parameters():
        if name in native_params:
            assert parameter is native_params[name], name
    with torch.inference_mode():
        torch.testing.assert_close(transformer(dict(features))["token_embeddings"], before, atol=1e-6, rtol=0)


def test_training_mode_switches_to_transformers_with_dropout(bert: Path) -> None:
    SentenceTransformer(str(bert), device="cpu")
    model = SentenceTransformer(str(bert), device="cpu")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    assert type(model[0].model).__name__ == "BertModel"
    assert any(isinstance(module, torch.nn.Dropout) for module in model[0].model.modules())
    # The optimizer made before the switch still updates the weights the model runs with.
    features = model.tokenize(["train me"])
    weight = model[0].model.embeddings.word_embeddings.weight
    assert any(weight is parameter for parameter in optimizer.param_groups[0]["params"])
    before = weight.detach().clone()
    # Not a plain sum: the sum of a LayerNorm output with unit gain does not depend on its input,
    # so its gradient is zero up to rounding and the step might change nothing.
    direction = torch.randn(model.get_sentence_embedding_dimension(), generator=torch.Generator().manual_seed(0))
    (model(features)["sentence_embedding"] @ direction).sum().backward()
    optimizer.step()
    assert not torch.equal(weight.detach(), before)


def test_saved_native_model_loads_in_sentence_transformers(bert: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer as Reference

    SentenceTransformer(str(bert), device="cpu")
    model = SentenceTransformer(str(bert), device="cpu")
    assert isinstance(model[0].model, NativeBertModel)
    model.save(str(tmp_path / "saved"))
    expected = model.encode(INPUTS)
    np.testing.assert_allclose(Reference(str(tmp_path / "saved"), device="cpu").encode(INPUTS), expected, atol=1e-5)


def test_a_changed_folder_never_uses_a_stale_snapshot(bert: Path) -> None:
    Transformer(bert)
    config = json.loads((bert / "tokenizer_config.json").read_text())
    (bert / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 7}))
    changed = Transformer(bert)
    assert changed.tokenizer._snapshot is None  # a new content hash: tokenized by transformers again
    assert changed.max_seq_length == 7
    assert Transformer(bert).max_seq_length == 7


def test_an_unwritable_cache_only_costs_speed(bert: Path, snapshot_cache: Path) -> None:
    snapshot_cache.write_text("a file where the cache folder should be")  # every write under it fails
    first, second = Transformer(bert), Transformer(bert)
    assert isinstance(second.model, NativeBertModel)
    assert second.tokenizer._snapshot is None  # no snapshot could be written: transformers tokenizes
    features = first.tokenize(INPUTS)
    torch.testing.assert_close(second(dict(features))["token_embeddings"], first(dict(features))["token_embeddings"])


def test_a_cached_load_imports_no_transformers(bert: Path) -> None:
    script = (
        "import sys\n"
        "from sentkit import SentenceTransformer\n"
        f"model = SentenceTransformer({str(bert)!r}, device='cpu')\n"
        "model.encode(['one sentence'])\n"
        "print(type(model[0].model).__name__, 'transformers' in sys.modules)\n"
    )
    outputs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=os.environ)
        for _ in range(2)
    ]
    assert outputs[0].stdout.split() == ["NativeBertModel", "True"]  # transformers' tokenizer writes the snapshot
    assert outputs[1].stdout.split() == ["NativeBertModel", "False"]


def test_a_native_model_pickles(bert: Path) -> None:
    import pickle

    SentenceTransformer(str(bert), device="cpu")
    model = SentenceTransformer(str(bert), device="cpu")
    assert isinstance(model[0].model, NativeBertModel)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(copy.encode(INPUTS), model.encode(INPUTS), atol=1e-6)
    assert copy[0].tokenizer.hf_tokenizer is not None  # the Hugging Face tokenizer still loads on demand


def test_a_damaged_snapshot_falls_back_to_the_hugging_face_tokenizer(bert: Path, snapshot_cache: Path) -> None:
    expected = Transformer(bert)
    (settings,) = (snapshot_cache / "tokenizers").glob("*/sentkit_tokenizer.json")
    settings.write_text("{ not json")
    fallback = Transformer(bert)
    assert fallback.tokenizer._snapshot is None
    assert isinstance(fallback.model, NativeBertModel)
    features = expected.tokenize(INPUTS)
    assert {k: v.tolist() for k, v in fallback.tokenize(INPUTS).items()} == {k: v.tolist() for k, v in features.items()}
