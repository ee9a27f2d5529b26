"""save_embeddings / load_embeddings: .npy + JSON manifest, texts and model identity, no pickle."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sentkit import SentenceTransformer
from sentkit.errors import InputError
from sentkit.io.embeddings_store import FORMAT_NAME, load_embeddings, save_embeddings
from sentkit.io.model_identity import model_fingerprint
from tests.reference import TEXTS

ODD_TEXTS = [*TEXTS, "line one\nline two", "emoji 🤗 and ümlaut", "lone \ud800 surrogate"]


@pytest.fixture(scope="module")
def model(hf_checkpoints: dict[str, Path]) -> SentenceTransformer:
    return SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")


def test_round_trip_with_texts_and_model_identity(model: SentenceTransformer, tmp_path: Path) -> None:
    texts = TEXTS
    embeddings = model.encode(texts, normalize_embeddings=True)
    save_embeddings(tmp_path, embeddings, texts, model, normalized=True)
    stored = load_embeddings(tmp_path)
    assert np.array_equal(stored.embeddings, embeddings)
    assert stored.embeddings.dtype == np.float32
    assert stored.texts == texts
    assert stored.model["name"] == model.model_name_or_path
    assert stored.model["dimension"] == 32
    assert stored.model["normalized"] is True
    assert stored.model["precision"] == "float32"
    assert stored.model["similarity_fn_name"] == "cosine"
    assert stored.model["fingerprint"] == model_fingerprint(model)


def test_the_files_are_plain_npy_and_json(model: SentenceTransformer, tmp_path: Path) -> None:
    embeddings = model.encode(ODD_TEXTS[:-1])
    save_embeddings(tmp_path, embeddings, ODD_TEXTS[:-1], model)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT_NAME
    assert manifest["version"] == 1
    assert manifest["rows"] == len(embeddings)
    assert manifest["dimension"] == 32
    assert manifest["dtype"] == "float32"
    assert manifest["shards"] == [{"index": 0, "rows": len(embeddings)}]
    assert manifest["complete"] is True
    assert np.array_equal(np.load(tmp_path / "embeddings-00000.npy", allow_pickle=False), embeddings)
    offsets = np.load(tmp_path / "texts-00000.offsets.npy", allow_pickle=False)
    blob = (tmp_path / "texts-00000.txt").read_bytes()
    assert [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)] == ODD_TEXTS[:-1]


def test_odd_texts_tensors_and_quantized_rows(model: SentenceTransformer, tmp_path: Path) -> None:
    save_embeddings(tmp_path / "odd", np.zeros((len(ODD_TEXTS), 4), np.float32), ODD_TEXTS)
    assert load_embeddings(tmp_path / "odd").texts == ODD_TEXTS  # newlines, emoji, even a lone surrogate
    tensor = model.encode(TEXTS, convert_to_tensor=True)
    save_embeddings(tmp_path / "tensor", tensor)
    loaded = load_embeddings(tmp_path / "tensor", mmap=True)
    assert isinstance(loaded.embeddings, np.memmap)
    assert loaded.texts is None
    assert np.array_equal(loaded.embeddings, tensor.numpy())
    assert loaded.model["normalized"] is False  # rows not of norm 1
    packed = model.encode(TEXTS, precision="ubinary")
    save_embeddings(tmp_path / "binary", packed, TEXTS, precision="ubinary")
    binary = load_embeddings(tmp_path / "binary")
    assert binary.embeddings.dtype == np.uint8
    assert np.array_equal(binary.embeddings, packed)
    assert binary.model["precision"] == "ubinary"
    as_list = model.encode(TEXTS[:3], convert_to_numpy=False)
    assert load_embeddings(save_embeddings(tmp_path / "list", as_list)).embeddings.shape == (3, 32)
    normalized = save_embeddings(tmp_path / "auto", model.encode(TEXTS, normalize_embeddings=True))
    assert load_embeddings(normalized).model["normalized"] is True  # detected from the rows


def test_saving_again_replaces_the_store(tmp_path: Path) -> None:
    save_embeddings(tmp_path, np.ones((5, 3), np.float32), ["a", "b", "c", "d", "e"])
    save_embeddings(tmp_path, np.zeros((2, 3), np.float32))
    stored = load_embeddings(tmp_path)
    assert stored.embeddings.shape == (2, 3)
    assert stored.texts is None
    assert not (tmp_path / "texts-00000.txt").exists()


def test_bad_input_and_broken_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="2-D"):
        save_embeddings(tmp_path / "a", np.zeros(3, np.float32))
    with pytest.raises(InputError, match="one text per row"):
        save_embeddings(tmp_path / "b", np.zeros((3, 2), np.float32), ["x"])
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="other files"):
        save_embeddings(tmp_path / "foreign", np.zeros((1, 2), np.float32))
    assert (tmp_path / "foreign" / "notes.txt").exists()
    with pytest.raises(InputError, match=r"no manifest\.json"):
        load_embeddings(tmp_path / "foreign")
    folder = save_embeddings(tmp_path / "c", np.zeros((4, 2), np.float32), ["p", "q", "r", "s"])
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(InputError, match="Upgrade sentkit"):
        load_embeddings(folder)
    (folder / "manifest.json").write_text(json.dumps({**manifest, "rows": 5, "shards": [{"index": 0, "rows": 5}]}))
    with pytest.raises(InputError, match="manifest"):
        load_embeddings(folder)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "embeddings-00000.npy").unlink()
    with pytest.raises(InputError, match="Cannot read"):
        load_embeddings(folder)


def test_the_seed_pickle_example_keeps_working(model: SentenceTransformer, tmp_path: Path) -> None:
    sentences = [
        "This framework generates embeddings for each input sentence",
        "Sentences are passed as a list of string.",
        "The quick brown fox jumps over the lazy dog.",
    ]
    embeddings = model.encode(sentences)
    with (tmp_path / "embeddings.pkl").open("wb") as handle:
        pickle.dump({"sentences": sentences, "embeddings": embeddings}, handle, protocol=pickle.HIGHEST_PROTOCOL)
    with (tmp_path / "embeddings.pkl").open("rb") as handle:
        stored = pickle.load(handle)
    assert stored["sentences"] == sentences
    assert type(stored["embeddings"]) is np.ndarray
    assert np.array_equal(stored["embeddings"], embeddings)
    assert not isinstance(embeddings, torch.Tensor)
