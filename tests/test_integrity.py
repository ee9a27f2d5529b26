"""Nothing silent on load: checksums written by save, hub-cache blobs, folders that lost modules.json."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from sentkit import CrossEncoder, SentenceTransformer, SparseEncoder
from sentkit.errors import ModelFormatError
from sentkit.io.integrity import MANIFEST_FILE, file_sha256, verify_model_folder
from tests.reference import TEXTS, reference_model
from tests.tiny_models import build_masked_lm, build_sequence_classifier


@pytest.fixture(scope="module")
def saved(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model saved by sentkit (so with a checksum manifest)."""
    reference = reference_model(hf_checkpoints["bert"], tmp_path_factory.mktemp("integrity") / "ref", normalize=True)
    folder = tmp_path_factory.mktemp("integrity") / "saved"
    SentenceTransformer(str(reference), device="cpu").save(str(folder))
    return folder


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def damage(path: Path, size: int = 4096) -> None:
    """Overwrite ``size`` bytes in the middle of ``path`` (same length, as disk corruption does).

    The bytes are small random float32 values: weights silently wrong, but no NaN to give it away.
    """
    data = bytearray(path.read_bytes())
    size = min(size, len(data)) // 4 * 4
    middle = (len(data) // 2 - size // 2) // 4 * 4
    chunk = np.random.default_rng(0).uniform(-1, 1, size // 4).astype(np.float32).tobytes()
    data[middle : middle + size] = chunk
    path.write_bytes(bytes(data))


def test_save_writes_the_checksum_of_every_file_but_the_model_card(saved: Path, copy: Path) -> None:
    manifest = json.loads((saved / MANIFEST_FILE).read_text())
    written = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file())
    assert (saved / "README.md").is_file()
    assert sorted(manifest["files"]) == [name for name in written if name not in (MANIFEST_FILE, "README.md")]
    for name, entry in manifest["files"].items():
        assert entry == {"size": (saved / name).stat().st_size, "sha256": file_sha256(saved / name)}
    assert {"model.safetensors", "modules.json", "1_Pooling/config.json"} <= set(manifest["files"])
    (copy / "README.md").write_text("# A model card edited after saving\n")
    SentenceTransformer(str(copy), device="cpu")  # loads: the card is not part of the model


def test_files_the_save_did_not_write_stay_out_of_the_manifest(saved: Path, tmp_path: Path) -> None:
    folder = tmp_path / "output"
    folder.mkdir()
    (folder / "training_log.csv").write_text("step,loss\n")  # a trainer's file, written before and after
    SentenceTransformer(str(saved), device="cpu").save(str(folder))
    assert "training_log.csv" not in json.loads((folder / MANIFEST_FILE).read_text())["files"]
    (folder / "training_log.csv").write_text("step,loss\n1,0.5\n")
    SentenceTransformer(str(folder), device="cpu")


def test_the_reference_ignores_the_manifest(saved: Path) -> None:
    from sentence_transformers import SentenceTransformer as Reference

    np.testing.assert_allclose(
        Reference(str(saved), device="cpu").encode(TEXTS),
        SentenceTransformer(str(saved), device="cpu").encode(TEXTS),
        atol=1e-5,
    )


def test_damaged_weights_are_named(copy: Path) -> None:
    expected = SentenceTransformer(str(copy), device="cpu").encode(TEXTS)
    damage(copy / "model.safetensors")
    with pytest.raises(ModelFormatError, match=r"model\.safetensors is damaged"):
        SentenceTransformer(str(copy), device="cpu")
    unchecked = SentenceTransformer(str(copy), device="cpu", verify=False)  # what loading without sentkit gives
    assert not np.allclose(unchecked.encode(TEXTS), expected, atol=1e-3)


@pytest.mark.parametrize("name", ["modules.json", "1_Pooling/config.json", "tokenizer.json"])
def test_any_damaged_or_missing_file_is_named(copy: Path, name: str) -> None:
    path = copy / name
    path.write_bytes(path.read_bytes().replace(b"{", b"{ ", 1))  # a change that still parses
    with pytest.raises(ModelFormatError, match=f"{name} is damaged"):
        SentenceTransformer(str(copy), device="cpu")
    path.unlink()
    with pytest.raises(ModelFormatError, match=f"{name} is missing"):
        verify_model_folder(copy)


def test_an_unreadable_manifest_says_so(copy: Path) -> None:
    (copy / MANIFEST_FILE).write_text("{ not json")
    with pytest.raises(ModelFormatError, match=r"manifest .* is unreadable"):
        SentenceTransformer(str(copy), device="cpu")


def test_a_folder_without_manifest_loads_as_before(copy: Path) -> None:
    expected = SentenceTransformer(str(copy), device="cpu").encode(TEXTS)
    (copy / MANIFEST_FILE).unlink()
    (copy / "config.json").write_text((copy / "config.json").read_text() + "\n")  # unchecked edits are fine
    np.testing.assert_allclose(SentenceTransformer(str(copy), device="cpu").encode(TEXTS), expected, atol=1e-6)


def test_cross_and_sparse_encoders_check_their_files(tmp_path: Path) -> None:
    for cls, builder in ((CrossEncoder, build_sequence_classifier), (SparseEncoder, build_masked_lm)):
        folder = tmp_path / cls.__name__
        cls(str(builder(tmp_path / f"hf-{cls.__name__}")), device="cpu").save(str(folder))
        assert (folder / MANIFEST_FILE).is_file()
        cls(str(folder), device="cpu")
        damage(folder / "model.safetensors")
        with pytest.raises(ModelFormatError, match=r"model\.safetensors is damaged"):
            cls(str(folder), device="cpu")
        cls(str(folder), device="cpu", verify=False)


def test_onnx_exports_carry_and_check_their_checksums(copy: Path) -> None:
    pytest.importorskip("onnxruntime")
    from sentkit import OnnxEncoder

    encoder = OnnxEncoder.load(str(copy))
    export = encoder.folder
    assert {"model.onnx", "tokenizer.json", "sentkit_onnx.json"} <= set(
        json.loads((export / MANIFEST_FILE).read_text())["files"]
    )
    damage(export / "model.onnx", size=64)
    with pytest.raises(ModelFormatError, match=r"model\.onnx is damaged"):
        OnnxEncoder.load(str(copy))
    with pytest.raises(ModelFormatError, match=r"model\.onnx is damaged"):
        SentenceTransformer(str(copy), device="cpu", backend="onnx")


def _hub_cache_with_blobs(cache: Path, repo_id: str, source: Path) -> Path:
    """Lay ``source`` out as the hub cache does: blobs named by digest, snapshot files linking to them."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    commit = "c" * 40
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir()
    for path in sorted(p for p in source.rglob("*") if p.is_file() and p.name != MANIFEST_FILE):
        data = path.read_bytes()
        if path.suffix == ".safetensors":  # LFS files: sha256; small files: git's blob sha1
            name = hashlib.sha256(data).hexdigest()
        else:
            name = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
        (repo / "blobs" / name).write_bytes(data)
        link = snapshot / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(repo / "blobs" / name, link.parent), link)
    return snapshot


def test_hub_cache_files_are_checked_against_their_blob_names(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = _hub_cache_with_blobs(tmp_path / "cache", "org/tiny", saved)
    expected = SentenceTransformer(str(saved), device="cpu").encode(TEXTS)
    loaded = SentenceTransformer("org/tiny", device="cpu", cache_folder=str(tmp_path / "cache"))
    np.testing.assert_allclose(loaded.encode(TEXTS), expected, atol=1e-6)
    damage((snapshot / "model.safetensors").resolve())
    with pytest.raises(ModelFormatError, match=r"model\.safetensors is damaged: the Hugging Face cache"):
        SentenceTransformer("org/tiny", device="cpu", cache_folder=str(tmp_path / "cache"))
    config = (snapshot / "config.json").resolve()
    config.write_text(config.read_text() + " ")
    with pytest.raises(ModelFormatError, match=r"config\.json is damaged"):
        verify_model_folder(snapshot)


@pytest.mark.parametrize("lost", [["modules.json"], ["modules.json", "2_Normalize"]])
def test_a_folder_that_lost_modules_json_is_refused(
    copy: Path, lost: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    for name in lost:
        path = copy / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    (copy / MANIFEST_FILE).unlink()
    with pytest.raises(ModelFormatError, match=r"1_Pooling/.* but no modules\.json") as error:
        SentenceTransformer(str(copy), device="cpu")
    assert "sentence_bert_config.json" in str(error.value)
    with caplog.at_level(logging.WARNING, logger="sentkit.io.layouts"):
        model = SentenceTransformer(str(copy), device="cpu", verify=False)
    assert "skipped: 1_Pooling/" in caplog.text
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling"]
    with pytest.raises(ModelFormatError, match=r"no modules\.json"):
        SparseEncoder(str(copy), device="cpu")


def test_verified_names_the_damage_before_the_load_error(saved: Path, copy: Path) -> None:
    from sentkit.io.integrity import verified

    with pytest.raises(RuntimeError, match="load failed"), verified(saved):  # an intact folder: the block's error
        raise RuntimeError("load failed")
    damage(copy / "model.safetensors")
    with pytest.raises(ModelFormatError, match="damaged") as error, verified(copy):
        raise RuntimeError("load failed")
    assert isinstance(error.value.__cause__, RuntimeError)
    with verified(copy, enabled=False):
        pass


def test_hub_files_sentkit_never_reads_are_not_hashed(saved: Path, tmp_path: Path) -> None:
    source = Path(shutil.copytree(saved, tmp_path / "source"))
    (source / "pytorch_model.bin").write_bytes(b"weights in another format")
    snapshot = _hub_cache_with_blobs(tmp_path / "cache", "org/tiny", source)
    damage((snapshot / "pytorch_model.bin").resolve(), size=8)
    verify_model_folder(snapshot)  # the safetensors weights are what loads; the .bin is never read
