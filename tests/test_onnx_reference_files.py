"""export_optimized_onnx_model / export_dynamic_quantized_onnx_model write what the reference's
``backend="onnx"`` loads: ``onnx/model_<suffix>.onnx``, the Transformer alone, ``last_hidden_state``
(or ``logits``) out. The graphs run in ONNX Runtime and agree with the reference's torch model.

The reference loads these files through Optimum, which cannot be installed beside
sentence-transformers 6.2 (optimum-onnx 0.1.0 needs transformers < 4.58, the reference needs
transformers >= 5), so the load through the reference runs only where Optimum is present; its
file lookup (``backend_should_export``) is checked everywhere.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sentence_transformers as st
import torch
from sentence_transformers.backend.utils import backend_should_export

import sentkit
from sentkit import CrossEncoder, SentenceTransformer
from sentkit.errors import InputError
from tests.reference import lowest_cosine, max_abs_diff, reference_model
from tests.tiny_models import build_sequence_classifier

pytest.importorskip("onnxruntime")
import onnxruntime as ort

TEXTS = ["The weather is lovely today.", "He drove to the stadium.", "a"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, hf_checkpoints: dict[str, Path]) -> Path:
    return reference_model(hf_checkpoints["bert"], tmp_path_factory.mktemp("onnx-files") / "model")


def _run(path: Path, features: dict[str, Any]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    return session.run(None, {name: features[name].numpy() for name in names})[0]


def _reference_embeddings(folder: Path, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings from the ONNX hidden states through the reference's pooling, the reference's own)."""
    reference = st.SentenceTransformer(str(folder), device="cpu")
    features = reference.tokenize(TEXTS)
    hidden = torch.from_numpy(_run(path, features))
    with torch.no_grad():
        pooled = reference[1]({"token_embeddings": hidden, "attention_mask": features["attention_mask"]})
    return pooled["sentence_embedding"].numpy(), reference.encode(TEXTS)


@pytest.mark.parametrize(("level", "tolerance"), [("O1", 1e-5), ("O2", 1e-4), ("O3", None)])
def test_optimized_export_agrees_with_the_reference(folder: Path, level: str, tolerance: float | None) -> None:
    sentkit.export_optimized_onnx_model(SentenceTransformer(folder, device="cpu"), level, str(folder))
    path = folder / "onnx" / f"model_{level}.onnx"
    assert path.is_file()
    export, kwargs = backend_should_export(
        folder, True, {"file_name": f"onnx/model_{level}.onnx"}, "model.onnx", "*.onnx", "ONNX"
    )
    assert export is False
    assert kwargs == {"file_name": f"model_{level}.onnx", "subfolder": "onnx"}
    got, expected = _reference_embeddings(folder, path)
    if tolerance is None:  # O3 approximates GELU
        assert lowest_cosine(got, expected) >= 0.9999
    else:
        assert max_abs_diff(got, expected) <= tolerance


@pytest.mark.parametrize(("config", "name"), [("avx512_vnni", "qint8_avx512_vnni"), ("avx2", "quint8_avx2")])
def test_quantized_export_is_named_and_close(folder: Path, config: str, name: str) -> None:
    sentkit.export_dynamic_quantized_onnx_model(SentenceTransformer(folder, device="cpu"), config, str(folder))
    path = folder / "onnx" / f"model_{name}.onnx"
    got, expected = _reference_embeddings(folder, path)
    assert lowest_cosine(got, expected) >= 0.95
    import onnx

    operators = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert operators & {"MatMulInteger", "DynamicQuantizeMatMul"}, operators


def test_cross_encoder_export_gives_the_reference_logits(tmp_path: Path) -> None:
    checkpoint = build_sequence_classifier(tmp_path / "hf", num_labels=3)
    st.CrossEncoder(str(checkpoint), device="cpu").save(str(tmp_path / "ce"))
    reference = st.CrossEncoder(str(tmp_path / "ce"), device="cpu")
    sentkit.export_optimized_onnx_model(
        CrossEncoder(tmp_path / "ce", device="cpu"), "O1", str(tmp_path / "ce"), file_suffix="plain"
    )
    pairs = [("a question", "an answer"), ("the weather", "is lovely today and sunny")]
    features = reference.tokenizer(*zip(*pairs, strict=True), padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = reference.model(**features).logits.numpy()
    got = _run(tmp_path / "ce" / "onnx" / "model_plain.onnx", features)
    assert got.shape == (2, 3)
    assert max_abs_diff(got, expected) <= 1e-5


def test_push_to_hub_uploads_the_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls: list[dict[str, Any]] = []

    def upload_file(self: Any, **kwargs: Any) -> None:
        assert Path(kwargs["path_or_fileobj"]).is_file()
        calls.append(kwargs)

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_file", upload_file)
    model = SentenceTransformer(folder, device="cpu")
    sentkit.export_optimized_onnx_model(model, "O2", "me/model", push_to_hub=True, create_pr=True, file_suffix="x")
    assert [(call["repo_id"], call["path_in_repo"], call["create_pr"]) for call in calls] == [
        ("me/model", "onnx/model_x.onnx", True)
    ]
    assert not Path("me").exists()


def test_bad_arguments_are_named(folder: Path) -> None:
    model = SentenceTransformer(folder, device="cpu")
    with pytest.raises(InputError, match="O1, O2, O3, O4"):
        sentkit.export_optimized_onnx_model(model, "O5", str(folder))
    with pytest.raises(InputError, match="GPU"):
        sentkit.export_optimized_onnx_model(model, "O4", str(folder))
    with pytest.raises(InputError, match="avx512_vnni"):
        sentkit.export_dynamic_quantized_onnx_model(model, "avx1024", str(folder))
    bag_of_words = SentenceTransformer(modules=[sentkit.models.BoW(vocab=["weather", "stadium"])])
    with pytest.raises(InputError, match="starting with BoW"):
        sentkit.export_optimized_onnx_model(bag_of_words, "O1", str(folder))


@pytest.mark.skipif(
    importlib.util.find_spec("optimum") is None,
    reason="Optimum is not installed: optimum-onnx 0.1.0 needs transformers<4.58, sentence-transformers 6.2 needs >=5",
)
def test_the_reference_loads_the_export(folder: Path) -> None:
    sentkit.export_optimized_onnx_model(SentenceTransformer(folder, device="cpu"), "O2", str(folder))
    reference = st.SentenceTransformer(str(folder), backend="onnx", model_kwargs={"file_name": "onnx/model_O2.onnx"})
    assert max_abs_diff(reference.encode(TEXTS), st.SentenceTransformer(str(folder)).encode(TEXTS)) <= 1e-4
