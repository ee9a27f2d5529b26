"""The ONNX Runtime engine: same embeddings as the torch pipeline, cached exports, no torch at run time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sentkit import SentenceTransformer
from sentkit.encoders.onnx_encoder import OnnxEncoder
from sentkit.errors import ConfigurationError, InputError, UnencodableTextError
from sentkit.inference.onnx import export as export_module
from tests.reference import TEXTS, reference_model
from tests.tiny_families import FAMILIES as EXTRA_FAMILIES
from tests.tiny_families import build_family

pytest.importorskip("onnxruntime")

COSINE = 0.99999
FAMILIES = ["bert", "distilbert", "roberta", "modernbert", "xlm-roberta", "mpnet", "albert", "electra", "t5"]


@pytest.fixture(autouse=True, scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every export of this module goes to a fresh cache folder."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    previous = os.environ.get("SENTKIT_CACHE")
    os.environ["SENTKIT_CACHE"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["SENTKIT_CACHE"]
    else:
        os.environ["SENTKIT_CACHE"] = previous


@pytest.fixture(scope="module")
def family_models(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One sentence-transformers model folder (mean pooling + Dense + Normalize) per family."""
    root = tmp_path_factory.mktemp("onnx-models")
    checkpoints = dict(hf_checkpoints)
    for family in EXTRA_FAMILIES:
        checkpoints[family] = build_family(family, root / f"hf-{family}")
    return {
        family: reference_model(checkpoints[family], root / family, dense=True, normalize=True) for family in FAMILIES
    }


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_backend_equals_torch(family_models: dict[str, Path], family: str) -> None:
    folder = str(family_models[family])
    torch_model = SentenceTransformer(folder, device="cpu")
    onnx_model = SentenceTransformer(folder, device="cpu", backend="onnx")
    expected = torch_model.encode(TEXTS)
    got = onnx_model.encode(TEXTS)
    assert got.shape == expected.shape
    assert cosines(got, expected).min() >= COSINE
    np.testing.assert_allclose(got, expected, atol=1e-5)
    light = OnnxEncoder.load(folder)
    np.testing.assert_allclose(light.encode(TEXTS), expected, atol=1e-5)
    for ours, theirs in zip(
        light.encode(TEXTS, output_value="token_embeddings"),
        torch_model.encode(TEXTS, output_value="token_embeddings"),
        strict=True,
    ):
        np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-4)


def test_encode_options_match_torch(family_models: dict[str, Path]) -> None:
    folder = str(family_models["bert"])
    torch_model = SentenceTransformer(folder, device="cpu", prompts={"query": "query: "})
    light = OnnxEncoder.load(folder)
    light.prompts = {"query": "query: "}
    options = [
        {"prompt_name": "query"},
        {"prompt": "passage: ", "normalize_embeddings": True},
        {"truncate_dim": 8, "batch_size": 2},
        {"max_batch_tokens": 40, "batch_size": 3},
        {"precision": "ubinary"},
    ]
    for kwargs in options:
        np.testing.assert_allclose(light.encode(TEXTS, **kwargs), torch_model.encode(TEXTS, **kwargs), atol=1e-5)
    assert light.encode("one text").shape == (light.get_sentence_embedding_dimension(),)
    assert light.encode([]).shape == (0, light.get_sentence_embedding_dimension())
    light.max_seq_length = 8
    torch_model.max_seq_length = 8
    np.testing.assert_allclose(light.encode(TEXTS), torch_model.encode(TEXTS), atol=1e-5)


def test_bad_inputs_raise_like_torch(family_models: dict[str, Path]) -> None:
    light = OnnxEncoder.load(str(family_models["bert"]))
    with pytest.raises(UnencodableTextError) as error:
        light.encode(["fine", "bad \ud800 text"])
    assert error.value.index == 1
    with pytest.raises(InputError):
        light.encode(["a"], output_value=None)
    with pytest.raises(InputError):
        light.encode(["a"], batch_size=0)
    with pytest.raises(InputError, match="max_seq_length"):
        light.max_seq_length = 10_000
    with pytest.raises(InputError, match="quantization"):
        OnnxEncoder.load(str(family_models["bert"]), quantization="int4")
    with pytest.raises(ConfigurationError, match="quantization"):
        SentenceTransformer(
            str(family_models["bert"]), device="cpu", backend="onnx", model_kwargs={"quantization": "int4"}
        )


def test_export_is_cached_by_content(family_models: dict[str, Path], tmp_path: Path, onnx_cache: Path) -> None:
    folder = tmp_path / "model"
    SentenceTransformer(str(family_models["distilbert"]), device="cpu").save(str(folder))
    calls: list[Path] = []
    original = export_module.export_pipeline

    def counting(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export_module, "export_pipeline", counting)
        SentenceTransformer(str(folder), device="cpu", backend="onnx")
        SentenceTransformer(str(folder), device="cpu", backend="onnx")
        assert len(calls) == 1  # the second load reuses the export
        model = SentenceTransformer(str(folder), device="cpu")
        model[2].linear.weight.data.mul_(2)  # (the Dense layer) different weights, different export
        model.save(str(folder))
        changed = SentenceTransformer(str(folder), device="cpu", backend="onnx")
        assert len(calls) == 2
        assert calls[0] != calls[1]
    np.testing.assert_allclose(changed.encode(TEXTS), model.encode(TEXTS), atol=1e-5)


def test_model_built_in_memory_exports(hf_checkpoints: dict[str, Path]) -> None:
    from sentkit import models

    modules = [models.Transformer(str(hf_checkpoints["bert"])), models.Pooling(32, "cls")]
    torch_model = SentenceTransformer(modules=modules, device="cpu")
    onnx_model = SentenceTransformer(modules=modules, device="cpu", backend="onnx")
    np.testing.assert_allclose(onnx_model.encode(TEXTS), torch_model.encode(TEXTS), atol=1e-5)


def test_unexportable_pipelines_say_so(hf_checkpoints: dict[str, Path]) -> None:
    from sentkit import models

    transformer = models.Transformer(str(hf_checkpoints["bert"]))
    routed = models.Router.for_query_document([transformer], [models.Pooling(32)])
    with pytest.raises(ConfigurationError, match="Router"):
        SentenceTransformer(modules=[routed, models.Pooling(32)], device="cpu", backend="onnx")
    with pytest.raises(ConfigurationError, match="include_prompt"):
        SentenceTransformer(modules=[transformer, models.Pooling(32, include_prompt=False)], backend="onnx")
    with pytest.raises(ConfigurationError, match="backend"):
        SentenceTransformer(modules=[transformer, models.Pooling(32)], backend="openvino")


def test_int8_export_stays_close(family_models: dict[str, Path]) -> None:
    folder = str(family_models["bert"])
    expected = SentenceTransformer(folder, device="cpu").encode(TEXTS)
    for method in ("int8", "int8-static"):
        quantized = OnnxEncoder.load(folder, quantization=method)
        assert quantized.quantization == method
        assert cosines(quantized.encode(TEXTS), expected).min() > 0.9
    assert json.loads((quantized.folder / "sentkit_onnx.json").read_text())["quantization"] == "int8-static"


def test_cached_encoder_imports_neither_torch_nor_transformers(family_models: dict[str, Path]) -> None:
    folder = str(family_models["bert"])
    expected = OnnxEncoder.load(folder).encode(TEXTS[:2])  # exports into the cache if needed
    script = (
        "import sys, json\n"
        "from sentkit.encoders.onnx_encoder import OnnxEncoder\n"
        f"vectors = OnnxEncoder.load({folder!r}).encode({TEXTS[:2]!r})\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules,"
        " 'vectors': vectors.tolist()}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=os.environ)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["torch"] is False
    assert report["transformers"] is False
    np.testing.assert_allclose(np.array(report["vectors"]), expected, atol=1e-6)


def test_cli_encode_on_onnx_equals_torch(
    family_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentkit.cli import main

    folder = str(family_models["bert"])
    texts = tmp_path / "texts.txt"
    texts.write_text(f"{TEXTS[0]}\n{TEXTS[2]}\n", encoding="utf-8")
    assert main(["encode", str(texts), "-m", folder, "--backend", "onnx"]) == 0
    rows = [json.loads(line)["embedding"] for line in capsys.readouterr().out.splitlines()]
    expected = SentenceTransformer(folder, device="cpu").encode([TEXTS[0], TEXTS[2]])
    np.testing.assert_allclose(np.array(rows), expected, atol=1e-5)


def test_bench_command_reports_every_engine(family_models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from sentkit.cli import main

    folder = str(family_models["bert"])
    args = ["bench", "-m", folder, "--engines", "sentkit-torch,sentkit-onnx", "--rounds", "1"]
    assert main([*args, "--latency-calls", "3", "--no-processes"]) == 0
    table = capsys.readouterr().out
    assert "| sentkit-torch |" in table
    assert "| sentkit-onnx |" in table
    assert "x)" in table  # ratios to the first engine
    assert main(["bench", "-m", folder, "--engines", "nope"]) == 1


def test_profiled_session_records_every_node(family_models: dict[str, Path], tmp_path: Path) -> None:
    from sentkit.encoders.onnx_encoder import MODEL_FILE
    from sentkit.inference.onnx.runtime import SessionRunner, create_session

    encoder = OnnxEncoder.load(family_models["bert"])
    expected = encoder.encode(TEXTS)
    encoder.runner = SessionRunner(create_session(encoder.folder / MODEL_FILE, profile_prefix=str(tmp_path / "run")))
    np.testing.assert_allclose(encoder.encode(TEXTS), expected, atol=1e-6)
    trace = Path(encoder.runner.session.end_profiling())
    assert trace.parent == tmp_path
    assert trace.name.startswith("run")
    operators = {event["args"]["op_name"] for event in json.loads(trace.read_text()) if event.get("cat") == "Node"}
    assert "Attention" in operators  # the fused graph ran, node by node
