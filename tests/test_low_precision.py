"""bfloat16 and float16 models: loaded as sentence-transformers loads them, run natively for BERT.

``model_kwargs={"torch_dtype": torch.bfloat16}`` must work on every family as in the reference
(float32 numpy out by default, the model's type with ``convert_to_tensor``, later modules in the
first one's type). The native BERT path keeps layer norms and the residual stream in float32, so
it must be at least as close to float32 as the reference's all-bfloat16 run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sentkit import SentenceTransformer
from sentkit.models import Pooling, Transformer
from sentkit.modules import native_bert
from sentkit.modules.native_bert import NativeBertModel, native_dtype
from tests.reference import TEXTS, lowest_cosine, reference_model
from tests.tiny_families import FAMILIES as EXTRA_FAMILIES
from tests.tiny_families import build_family
from tests.tiny_models import build

FAMILIES = ["bert", "distilbert", "roberta", "modernbert", "xlm-roberta", "mpnet", "albert", "electra", "t5"]
INPUTS = [*TEXTS, "Ünïcödé ÀCCENTS and 中文 characters", "word " * 50]


pytestmark = pytest.mark.usefixtures("snapshot_cache")


@pytest.fixture(scope="module")
def family_models(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One model folder per family: Transformer, mean pooling, Dense, Normalize."""
    root = tmp_path_factory.mktemp("low-precision")
    checkpoints = dict(hf_checkpoints)
    for family in EXTRA_FAMILIES:
        checkpoints[family] = build_family(family, root / f"hf-{family}")
    return {
        family: reference_model(checkpoints[family], root / family, dense=True, normalize=True) for family in FAMILIES
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_bfloat16_loads_and_encodes_like_the_reference(family_models: dict[str, Path], family: str) -> None:
    from sentence_transformers import SentenceTransformer as Reference

    folder = str(family_models[family])
    kwargs = {"model_kwargs": {"torch_dtype": torch.bfloat16}}
    reference = Reference(folder, device="cpu", **kwargs)
    SentenceTransformer(folder, device="cpu", **kwargs)  # the first load writes BERT's tokenizer snapshot
    ours = SentenceTransformer(folder, device="cpu", **kwargs)
    assert ours.dtype == reference.dtype == torch.bfloat16
    assert ours[2].linear.weight.dtype == torch.bfloat16  # Dense follows the Transformer, as in the reference

    expected, got = reference.encode(INPUTS), ours.encode(INPUTS)
    assert got.dtype == expected.dtype == np.float32
    assert got.shape == expected.shape
    assert lowest_cosine(got, expected) >= 0.9999
    tensor = ours.encode(INPUTS[:2], convert_to_tensor=True)
    assert tensor.dtype == reference.encode(INPUTS[:2], convert_to_tensor=True).dtype == torch.bfloat16


def test_native_bert_runs_bfloat16_matrix_products_and_float32_layer_norms(family_models: dict[str, Path]) -> None:
    folder = str(family_models["bert"])
    full = SentenceTransformer(folder, device="cpu").encode(INPUTS)
    SentenceTransformer(folder, device="cpu", model_kwargs={"torch_dtype": "bfloat16"})
    model = SentenceTransformer(folder, device="cpu", model_kwargs={"torch_dtype": "bfloat16"})
    native = model[0].model
    assert isinstance(native, NativeBertModel)
    assert native.encoder.layer[0].intermediate.dense.weight.dtype == torch.bfloat16
    assert native.embeddings.word_embeddings.weight.dtype == torch.bfloat16
    assert native.encoder.layer[0].output.LayerNorm.weight.dtype == torch.float32
    assert lowest_cosine(model.encode(INPUTS), full) >= 0.9999


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, torch.float32),
        ({"torch_dtype": "auto"}, torch.float32),
        ({"torch_dtype": "bfloat16"}, torch.bfloat16),
        ({"dtype": torch.bfloat16}, torch.bfloat16),
        ({"torch_dtype": torch.float16}, torch.float16),
        ({"torch_dtype": None}, torch.float32),
        ({"torch_dtype": "int8"}, None),
        ({"torch_dtype": "bfloat16", "dtype": "float16"}, None),
        ({"torch_dtype": "bfloat16", "attn_implementation": "eager"}, None),
    ],
)
def test_which_model_kwargs_the_native_path_takes(kwargs: dict[str, object], expected: torch.dtype | None) -> None:
    assert native_dtype(kwargs) == expected


def test_float16_runs_natively_with_float32_layer_norms(tmp_path: Path) -> None:
    folder = build("bert", tmp_path / "bert")
    full = Transformer(folder)
    half = Transformer(folder, model_kwargs={"torch_dtype": torch.float16})
    assert isinstance(half.model, NativeBertModel)
    features = full.tokenize(INPUTS)
    with torch.inference_mode():
        expected = full(dict(features))["token_embeddings"]
        got = half(dict(features))["token_embeddings"]
    assert got.dtype == torch.float16
    torch.testing.assert_close(got.float(), expected, atol=2e-2, rtol=0)


def test_bfloat16_hand_over_to_transformers_keeps_parameters_and_outputs(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer as Reference

    folder = build("bert", tmp_path / "bert")
    kwargs = {"torch_dtype": torch.bfloat16}
    Transformer(folder, model_kwargs=kwargs)
    transformer = Transformer(folder, model_kwargs=kwargs)
    native = transformer.model
    assert isinstance(native, NativeBertModel)
    features = transformer.tokenize(INPUTS)
    with torch.inference_mode():
        before = transformer(dict(features))["token_embeddings"]
    hf_model = transformer.auto_model
    assert type(hf_model).__name__ == "BertModel"
    assert hf_model.dtype == torch.bfloat16
    native_params = dict(native.named_parameters())
    for name, parameter in hf_model.named_parameters():
        if name in native_params:
            assert parameter is native_params[name], name
    with torch.inference_mode():
        after = transformer(dict(features))["token_embeddings"]
    # transformers runs everything in bfloat16, the native model keeps a float32 residual stream.
    torch.testing.assert_close(after.float(), before.float(), atol=5e-2, rtol=0)

    saved = tmp_path / "saved"
    SentenceTransformer(modules=[transformer, Pooling(32)], device="cpu").save(str(saved))
    assert Reference(str(saved), device="cpu").encode(INPUTS).shape == (len(INPUTS), 32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_padded_keys_change_no_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype) -> None:
    folder = build("bert", tmp_path / "bert")
    transformer = Transformer(folder)
    features = transformer.tokenize(INPUTS[:4])  # 4 lengths, none a multiple of 16
    ids, mask = features["input_ids"], features["attention_mask"]
    assert ids.shape[1] % 16 != 0
    padded = native_bert._attention_mask(mask, ids, padded_keys=True)
    assert padded is not None
    assert padded.shape[-1] % native_bert.attention_key_block() == 0
    assert not padded[..., ids.shape[1] :].any()
    assert native_bert._attention_mask(None, ids[:, :16], padded_keys=True) is None
    assert native_bert._attention_mask(mask, ids, padded_keys=False).shape[-1] == ids.shape[1]
    model = NativeBertModel.load(folder, dtype)
    assert model is not None
    exact = native_bert._attention_mask(mask, ids, padded_keys=False)
    with torch.inference_mode():
        monkeypatch.setattr(native_bert, "_attention_mask", lambda m, i, padded_keys: exact)
        expected = model(ids, mask).last_hidden_state.float()
        monkeypatch.setattr(native_bert, "_attention_mask", lambda m, i, padded_keys: padded)
        got = model(ids, mask).last_hidden_state.float()
    # Masked keys add exact zeros; only the attention kernel's blocking (float rounding) may differ.
    tolerance = 1e-6 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(got, expected, atol=tolerance, rtol=0)
