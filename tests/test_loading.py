"""Where models come from and which folder formats load; broken folders fail with the file named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sentence_transformers as st
from safetensors.torch import load_file, save_file

from sentkit import SentenceTransformer
from sentkit.errors import ModelFormatError, ModelNotFoundError
from sentkit.io.resolve import carrier_folder, resolve_model_folder
from tests.reference import TEXTS, max_abs_diff, reference_model

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def saved_model(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reference_model(hf_checkpoints["bert"], tmp_path_factory.mktemp("saved") / "model", dense=True)


@pytest.fixture
def model_copy(saved_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved_model, tmp_path / "copy"))


def _hub_cache(cache: Path, repo_id: str, source: Path, commit: str = "a" * 40) -> None:
    """Lay ``source`` out as the Hugging Face cache does: refs/main -> snapshots/<commit>/files."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(source, repo / "snapshots" / commit)


@pytest.mark.parametrize("name", ["tiny-test", "sentence-transformers/tiny-test"])
def test_loads_from_hub_cache_offline(saved_model: Path, tmp_path: Path, monkeypatch, name: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _hub_cache(tmp_path / "cache", "sentence-transformers/tiny-test", saved_model)
    model = SentenceTransformer(name, cache_folder=str(tmp_path / "cache"), device="cpu")
    expected = SentenceTransformer(saved_model, device="cpu").encode(TEXTS)
    assert max_abs_diff(model.encode(TEXTS), expected) == 0.0


def test_hub_cache_revision_and_environment_folder(saved_model: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "cache"))
    _hub_cache(tmp_path / "cache", "org/tiny", saved_model, commit="b" * 40)
    folder = resolve_model_folder("org/tiny", revision="b" * 40)
    assert folder.name == "b" * 40
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE"):
        resolve_model_folder("org/tiny", revision="c" * 40)


def test_carrier_package_serves_the_default_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    carried = carrier_folder("sentence-transformers/all-MiniLM-L6-v2")
    assert carried is not None
    assert (carried / "modules.json").is_file()
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert resolve_model_folder(name, cache_folder=str(tmp_path / "empty")) == carried


def test_unknown_model_lists_what_was_tried(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match=r"no-such-model.*cache.*hub \(skipped: HF_HUB_OFFLINE is set\)"):
        SentenceTransformer("no-such-model", cache_folder=str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="local_files_only"):
        resolve_model_folder("org/missing", cache_folder=str(tmp_path), local_files_only=True)


def test_a_file_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        SentenceTransformer(path)


def test_legacy_pooling_config_and_type_names(model_copy: Path) -> None:
    (model_copy / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 32,
                "pooling_mode_cls_token": True,
                "pooling_mode_mean_tokens": False,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            }
        )
    )
    modules = json.loads((model_copy / "modules.json").read_text())
    for entry, old in zip(modules, ["Transformer", "Pooling", "Dense"], strict=False):
        entry["type"] = f"sentence_transformers.models.{old}"
    (model_copy / "modules.json").write_text(json.dumps(modules))
    ours = SentenceTransformer(model_copy, device="cpu")
    assert ours[1].pooling_mode == "cls"
    reference = st.SentenceTransformer(str(model_copy), device="cpu")
    assert max_abs_diff(ours.encode(TEXTS), reference.encode(TEXTS)) <= TOLERANCE


def test_legacy_pooling_flags_concatenate_in_the_reference_order() -> None:
    from sentkit.models import Pooling

    config = {"word_embedding_dimension": 8, "pooling_mode_max_tokens": True, "pooling_mode_cls_token": True}
    assert Pooling(**Pooling.normalize_config(config)).pooling_mode == ("cls", "max")
    assert Pooling(**Pooling.normalize_config({"word_embedding_dimension": 8})).pooling_mode == "mean"
    assert Pooling(8, pooling_mode_cls_token=True).pooling_mode == "cls"


def test_legacy_transformer_config_file_and_keys(model_copy: Path) -> None:
    (model_copy / "sentence_bert_config.json").unlink()
    (model_copy / "sentence_roberta_config.json").write_text(
        json.dumps({"max_seq_length": 20, "do_lower_case": False, "model_args": {}, "tokenizer_args": {}})
    )
    ours = SentenceTransformer(model_copy, device="cpu")
    reference = st.SentenceTransformer(str(model_copy), device="cpu")
    assert ours.max_seq_length == reference.max_seq_length == 20
    assert max_abs_diff(ours.encode(TEXTS), reference.encode(TEXTS)) <= TOLERANCE


def test_pickled_weights_load_with_weights_only(saved_model: Path, tmp_path: Path) -> None:
    reference = st.SentenceTransformer(str(saved_model), device="cpu")
    reference.save(str(tmp_path / "bin"), safe_serialization=False)
    assert (tmp_path / "bin" / "2_Dense" / "pytorch_model.bin").is_file()
    ours = SentenceTransformer(tmp_path / "bin", device="cpu")
    assert max_abs_diff(ours.encode(TEXTS), reference.encode(TEXTS)) <= TOLERANCE


def test_do_lower_case_matches_reference(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    from sentence_transformers import models as st_models

    from sentkit import models

    checkpoint = str(hf_checkpoints["roberta"])
    ours = SentenceTransformer(
        modules=[models.Transformer(checkpoint, do_lower_case=True), models.Pooling(32)], device="cpu"
    )
    reference = st.SentenceTransformer(
        modules=[st_models.Transformer(checkpoint, do_lower_case=True), st_models.Pooling(32)], device="cpu"
    )
    texts = ["The WEATHER Is Lovely", "HE DROVE"]
    assert max_abs_diff(ours.encode(texts), reference.encode(texts)) <= TOLERANCE
    assert max_abs_diff(ours.encode(texts), ours.encode([t.lower() for t in texts])) <= TOLERANCE


# ------------------------------------------------------------------------------ broken folders
def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    "relative",
    [
        "modules.json",
        "config.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "tokenizer_config.json",
    ],
)
def test_invalid_json_names_the_file(model_copy: Path, relative: str) -> None:
    _write(model_copy / relative, '{"broken": ')
    with pytest.raises(ModelFormatError, match=rf"{relative} is not valid JSON \(line 1"):
        SentenceTransformer(model_copy, device="cpu")


def test_missing_tokenizer_files(model_copy: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (model_copy / name).unlink(missing_ok=True)
    with pytest.raises(ModelFormatError, match="No tokenizer files"):
        SentenceTransformer(model_copy, device="cpu")


def test_modules_json_naming_a_missing_folder(model_copy: Path) -> None:
    shutil.rmtree(model_copy / "1_Pooling")
    with pytest.raises(ModelFormatError, match="names the folder '1_Pooling'"):
        SentenceTransformer(model_copy, device="cpu")


def test_module_path_outside_the_folder(model_copy: Path) -> None:
    modules = json.loads((model_copy / "modules.json").read_text())
    modules[1]["path"] = "../elsewhere"
    _write(model_copy / "modules.json", json.dumps(modules))
    with pytest.raises(ModelFormatError, match="outside the model folder"):
        SentenceTransformer(model_copy, device="cpu")


def test_unknown_module_type_names_the_known_ones(model_copy: Path) -> None:
    modules = json.loads((model_copy / "modules.json").read_text())
    modules[1]["type"] = "my_package.CustomPooling"
    _write(model_copy / "modules.json", json.dumps(modules))
    with pytest.raises(ModelFormatError, match=r"Unknown module type 'my_package.CustomPooling'.*models.Pooling"):
        SentenceTransformer(model_copy, device="cpu")


def test_truncated_safetensors(model_copy: Path) -> None:
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-200])
    with pytest.raises(ModelFormatError, match=r"model\.safetensors is not a valid safetensors file"):
        SentenceTransformer(model_copy, device="cpu")


def test_corrupt_safetensors_header(model_copy: Path) -> None:
    weights = model_copy / "2_Dense" / "model.safetensors"
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + b"\x00" * 64)
    with pytest.raises(ModelFormatError, match=r"2_Dense/model\.safetensors"):
        SentenceTransformer(model_copy, device="cpu")


def test_missing_encoder_weights(model_copy: Path) -> None:
    weights = model_copy / "model.safetensors"
    state = load_file(str(weights))
    save_file({k: v for k, v in state.items() if ".layer.1." not in k}, str(weights))
    with pytest.raises(ModelFormatError, match=r"do not match its config.json: missing weights \['encoder.layer.1"):
        SentenceTransformer(model_copy, device="cpu")


def test_weights_for_layers_the_config_lacks(model_copy: Path) -> None:
    config = json.loads((model_copy / "config.json").read_text())
    config["num_hidden_layers"] = 1
    _write(model_copy / "config.json", json.dumps(config))
    with pytest.raises(ModelFormatError, match=r"no place for \['encoder.layer.1"):
        SentenceTransformer(model_copy, device="cpu")


def test_dense_weights_of_the_wrong_shape(model_copy: Path) -> None:
    config = json.loads((model_copy / "2_Dense" / "config.json").read_text())
    config["out_features"] = 8
    _write(model_copy / "2_Dense" / "config.json", json.dumps(config))
    with pytest.raises(ModelFormatError, match=r"wrong shape .*linear.weight \(16, 32\) vs \(8, 32\)"):
        SentenceTransformer(model_copy, device="cpu")


def test_folder_without_any_model_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFormatError, match=r"neither modules\.json"):
        SentenceTransformer(tmp_path / "empty", device="cpu")
