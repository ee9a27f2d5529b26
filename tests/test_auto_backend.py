"""backend="auto": the engine follows the CPU's instruction set and keeps cosine 0.9999 to float32."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from sentkit import SentenceTransformer
from sentkit._cpu import CpuInfo, parse_cpuinfo
from sentkit.errors import ConfigurationError
from sentkit.inference.auto import choose_engine
from sentkit.modules.native_bert import NativeBertModel
from sentkit.modules.packed_linear import packing_available
from tests.reference import TEXTS, lowest_cosine, reference_model

XEON = parse_cpuinfo("model name\t: Intel Xeon\nflags\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8\n")
EPYC = parse_cpuinfo("model name\t: AMD EPYC\nflags\t: avx avx2 fma\n")
VNNI_ONLY = parse_cpuinfo("model name\t: Intel Xeon (Cascade Lake)\nflags\t: avx2 avx512f avx512_vnni\n")


@pytest.mark.parametrize(
    ("cpu", "device", "native", "kernels", "onnx", "expected"),
    [
        (XEON, "cpu", True, True, True, ("torch", "bfloat16")),
        (XEON, "cpu", True, True, False, ("torch", "bfloat16")),
        (XEON, "cpu", True, False, True, ("onnx", "float32")),  # flags without oneDNN's bf16 kernels
        (XEON, "cpu", False, True, True, ("onnx", "float32")),
        (XEON, "cpu", False, True, False, ("torch", "float32")),
        (EPYC, "cpu", True, True, True, ("onnx", "float32")),
        (EPYC, "cpu", True, False, False, ("torch", "float32")),
        (VNNI_ONLY, "cpu", True, True, True, ("onnx", "float32")),  # int8 would be faster, but not within 0.9999
        (XEON, "cuda", True, True, True, ("torch", "float32")),
    ],
)
def test_the_choice_follows_the_instruction_set(
    cpu: CpuInfo, device: str, native: bool, kernels: bool, onnx: bool, expected: tuple[str, str]
) -> None:
    info = choose_engine(cpu, device, native_bert=native, bf16_kernels=kernels, onnx_ready=onnx)
    assert (info.backend, info.precision) == expected
    assert info.reason
    assert expected[0] in str(info)


@pytest.fixture(scope="module")
def bert_model(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = reference_model(hf_checkpoints["bert"], tmp_path_factory.mktemp("auto") / "model", dense=True)
    SentenceTransformer(str(folder), device="cpu")  # writes the tokenizer snapshot
    return folder


def test_bfloat16_cpu_runs_native_bert_products_in_bfloat16(
    bert_model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr("sentkit.encoders.engine_setup.cpu_info", lambda: XEON)
    monkeypatch.setattr("sentkit.encoders.engine_setup.packing_available", lambda dtype: True)
    full = SentenceTransformer(str(bert_model), device="cpu")
    assert (full.engine_info.backend, full.engine_info.precision) == ("torch", "float32")
    with caplog.at_level(logging.INFO, logger="sentkit.encoders.engine_setup"):
        model = SentenceTransformer(str(bert_model), device="cpu", backend="auto")
    assert "backend='auto': torch engine, bfloat16" in caplog.text
    assert (model.backend, model.engine_info.precision) == ("torch", "bfloat16")
    native = model[0].model
    assert isinstance(native, NativeBertModel)
    assert native.encoder.layer[0].intermediate.dense.compute_dtype == torch.bfloat16
    # The weights are untouched: only the products run in bfloat16, on packed copies.
    assert model.dtype == torch.float32
    for name, value in full.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    expected, got = full.encode(TEXTS), model.encode(TEXTS)
    assert got.dtype == np.float32
    assert model.encode(TEXTS[:2], convert_to_tensor=True).dtype == torch.float32
    assert lowest_cosine(got, expected) >= 0.9999
    if packing_available(torch.bfloat16):  # where the kernels exist, the products really are bfloat16
        assert not np.allclose(got, expected, atol=1e-6)
    model.save(str(tmp_path / "saved"))  # saves the float32 model it loaded
    np.testing.assert_allclose(
        SentenceTransformer(str(tmp_path / "saved"), device="cpu").encode(TEXTS), expected, atol=1e-6
    )


def test_other_cpus_keep_float32_numbers(bert_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sentkit.encoders.engine_setup.cpu_info", lambda: EPYC)
    expected = SentenceTransformer(str(bert_model), device="cpu").encode(TEXTS)
    model = SentenceTransformer(str(bert_model), device="cpu", backend="auto")
    assert model.dtype == torch.float32
    assert model.engine_info.precision == "float32"
    onnx_installed = all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))
    assert model.engine_info.backend == ("onnx" if onnx_installed else "torch")
    np.testing.assert_allclose(model.encode(TEXTS), expected, atol=1e-5)


def test_a_precision_the_caller_chose_is_kept(bert_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sentkit.encoders.engine_setup.cpu_info", lambda: XEON)
    for dtype in (torch.float32, torch.float16):
        model = SentenceTransformer(str(bert_model), device="cpu", backend="auto", model_kwargs={"torch_dtype": dtype})
        assert model.dtype == dtype
        assert (model.engine_info.backend, model.engine_info.precision) == ("torch", str(dtype).removeprefix("torch."))


def test_explicit_backends_report_what_they_run(bert_model: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = SentenceTransformer(str(bert_model), device="cpu", backend="onnx", model_kwargs={"quantization": "int8"})
    assert (model.engine_info.backend, model.engine_info.precision) == ("onnx", "int8")
    with pytest.raises(ConfigurationError, match="auto"):
        SentenceTransformer(str(bert_model), device="cpu", backend="fastest")


def test_cli_takes_auto(bert_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sentkit.cli import main
    from tests.test_server_support import optional_model

    texts = tmp_path / "texts.txt"
    texts.write_text("one\ntwo\n", encoding="utf-8")
    assert main(["encode", str(texts), "-m", str(bert_model), "--backend", "auto"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    optional_model("rerank", tmp_path / "ce")  # rerankers have one engine: auto runs torch
    outputs = []
    for backend in ("torch", "auto"):
        assert main(["rerank", "sunny", "one", "two", "--json", "-m", str(tmp_path / "ce"), "--backend", backend]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
