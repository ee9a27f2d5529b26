"""Export a SentenceTransformer pipeline to ONNX, fuse it for ONNX Runtime, check it, cache it.

The whole pipeline (Transformer, Pooling, Dense, Normalize, ...) becomes one graph from token
arrays (``input_ids``, ``attention_mask``, ``token_type_ids`` where the model takes them) to
``sentence_embedding`` (B, D) and ``token_embeddings`` (B, T, H). It is traced with eager
attention (the form ONNX Runtime's fusions recognise), then ONNX Runtime's transformer optimizer
fuses attention, embedding and layer normalisation, and GELU. The result is checked against the
torch pipeline on texts of several lengths (padding included); if the fused graph disagrees, the
unfused one is kept, and if that disagrees too the export fails. The folder written holds
``model.onnx``, ``tokenizer.json`` and ``sentkit_onnx.json`` (what the torch-free encoder needs),
and the checksums of the three (:mod:`sentkit.io.integrity`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sentkit._optional import require
from sentkit.errors import ConfigurationError
from sentkit.inference.onnx.cache import MANIFEST, MODEL_FILE, TOKENIZER_FILE
from sentkit.inference.onnx.runtime import SessionRunner, create_session
from sentkit.io.integrity import checksummed
from sentkit.modules import Pooling, Router, Transformer

logger = logging.getLogger(__name__)

OUTPUTS = ["sentence_embedding", "token_embeddings"]
_OPSET = 17
_MIN_COSINE = {None: 0.99999, "int8": 0.9, "int8-static": 0.9}  # int8: catches broken graphs, not quality
_CHECK_TEXTS = [
    "Hi",
    "A man is playing a guitar on the street.",
    "ONNX Runtime and torch must agree on every row of this batch, whatever its padding.",
]


def check_exportable(model: Any) -> Transformer:
    """The pipeline's Transformer, if the pipeline can run as one ONNX graph.

    Raises:
        ConfigurationError: the pipeline does not start with a Transformer, routes inputs, or
            pools without the prompt (which needs the prompt length at run time).
    """
    modules = list(model)
    first = modules[0] if modules else None
    if type(first) is not Transformer:
        raise ConfigurationError(
            f"backend='onnx' runs pipelines that start with a Transformer module; this one starts with "
            f"{type(first).__name__}. Use backend='torch'."
        )
    for module in modules:
        if isinstance(module, Router):
            raise ConfigurationError("backend='onnx' does not run Router/Asym pipelines; use backend='torch'.")
        if isinstance(module, Pooling) and not module.include_prompt:
            raise ConfigurationError(
                "backend='onnx' does not run Pooling with include_prompt=False; use backend='torch'."
            )
    return first


def export_pipeline(
    model: Any, target: Path, quantization: str | None = None, calibration_texts: list[str] | None = None
) -> Path:
    """Write the ONNX export of ``model`` (a SentenceTransformer) to the folder ``target``.

    ``quantization``: None (fp32), ``"int8"`` (dynamic, per-channel weights) or ``"int8-static"``
    (weights and activations, calibrated on ``calibration_texts``). The folder is written under a
    temporary name and renamed, so a crash never leaves a half-written export behind.

    Raises:
        MissingDependencyError: onnx or onnxruntime is not installed.
        ConfigurationError: the pipeline cannot be exported, or its export disagrees with torch.
    """
    require("onnx", "onnx", "backend='onnx'")
    transformer = check_exportable(model)
    names = input_names(transformer)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        raw = work / "raw.onnx"
        with eager_attention(transformer.auto_model), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shapes and deprecations
            _trace(model, names, raw)
        expected = _torch_outputs(model, _CHECK_TEXTS)
        candidates = [_fuse(raw, transformer, work / "fused.onnx"), raw]
        graph = _first_agreeing([path for path in candidates if path is not None], model, expected, None)
        if quantization is not None:
            from sentkit.inference.onnx.quantize import quantize

            graph = quantize(graph, work / "quantized.onnx", quantization, model, names, calibration_texts)
            graph = _first_agreeing([graph], model, expected, quantization)
        staged = work / "export"
        with checksummed(staged):  # OnnxEncoder checks the files against these on load
            shutil.move(str(graph), staged / MODEL_FILE)
            transformer.tokenizer.save_backend(staged / TOKENIZER_FILE)
            _write_manifest(model, transformer, names, quantization, expected.shape[1], staged / MANIFEST)
        if not target.exists():
            os.replace(staged, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


class _Graph(nn.Module):
    """The pipeline as a function of positional token tensors, for tracing."""

    def __init__(self, model: nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *arrays: Tensor) -> tuple[Tensor, Tensor]:
        features = self.model.forward(dict(zip(self.input_names, arrays, strict=True)))
        return features["sentence_embedding"], features["token_embeddings"]


def input_names(transformer: Transformer) -> list[str]:
    """The token arrays ``transformer``'s model takes, in graph input order."""
    features = transformer.tokenize(["a"])
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in features]
    return [name for name in names if name in transformer._forward_params]


def _trace(model: Any, input_names: list[str], path: Path) -> None:
    features = model[0].tokenize(_CHECK_TEXTS)
    device = model.device
    arrays = tuple(features[name].to(device) for name in input_names)
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    axes.update({"sentence_embedding": {0: "batch"}, "token_embeddings": {0: "batch", 1: "tokens"}})
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            _Graph(model, input_names).eval(),
            arrays,
            str(path),
            input_names=input_names,
            output_names=OUTPUTS,
            dynamic_axes=axes,
            opset_version=_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


@contextlib.contextmanager
def eager_attention(hf_model: Any) -> Iterator[None]:
    """Trace with eager attention (SDPA traces to a graph the fusions do not recognise)."""
    config = getattr(hf_model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    switched = False
    if previous not in (None, "eager") and hasattr(hf_model, "set_attn_implementation"):
        try:
            hf_model.set_attn_implementation("eager")
            switched = True
        except (ValueError, ImportError, AttributeError):
            logger.info("Tracing with %s attention (eager is not available for this model).", previous)
    try:
        yield
    finally:
        if switched:
            hf_model.set_attn_implementation(previous)


def _fuse(raw: Path, transformer: Transformer, output: Path) -> Path | None:
    """ONNX Runtime's transformer fusions, or None when the optimizer cannot handle the graph."""
    require("onnxruntime", "onnx", "backend='onnx'")
    from onnxruntime.transformers.optimizer import optimize_model

    config = transformer.auto_model.config
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    quiet = logging.getLogger("onnxruntime.transformers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fused = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
            fused.save_model_to_file(str(output))
    except Exception as exc:  # the optimizer raises many kinds of errors on graphs it does not know
        logger.info("ONNX Runtime's transformer optimizer failed (%s); keeping the unfused graph.", exc)
        return None
    finally:
        quiet.setLevel(level)
    return output


def _torch_outputs(model: Any, texts: list[str]) -> np.ndarray:
    with torch.inference_mode():
        features = model.tokenize(texts)
        features = {k: v.to(model.device) if isinstance(v, Tensor) else v for k, v in features.items()}
        return model.forward(features)["sentence_embedding"].float().cpu().numpy()


def _first_agreeing(paths: list[Path], model: Any, expected: np.ndarray, quantization: str | None) -> Path:
    """The first graph whose sentence embeddings agree with torch's (cosine per row)."""
    features = model[0].tokenize(_CHECK_TEXTS)
    arrays = {name: value.numpy() for name, value in features.items() if isinstance(value, Tensor)}
    worst = 0.0
    for path in paths:
        runner = SessionRunner(create_session(path, providers=["CPUExecutionProvider"]))
        got = runner(arrays, ["sentence_embedding"])[0]
        cosine = np.sum(got * expected, axis=1) / (
            np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1) + 1e-12
        )
        worst = float(np.min(cosine))
        if got.shape == expected.shape and worst >= _MIN_COSINE[quantization]:
            return path
        logger.info("The ONNX graph %s disagrees with torch (cosine %.6f); trying the next.", path.name, worst)
    raise ConfigurationError(
        f"The ONNX export of this model disagrees with the torch pipeline (lowest cosine {worst:.6f}); "
        "use backend='torch'."
    )


# What the torch-free encoder's TextTokenizer reads from the manifest.
_TOKENIZER_SETTINGS = ("pad_token_id", "pad_token", "pad_token_type_id", "padding_side", "truncation_side")


def _write_manifest(
    model: Any, transformer: Transformer, input_names: list[str], quantization: str | None, dimension: int, path: Path
) -> None:
    settings = transformer.tokenizer.call_settings()
    manifest = {
        "inputs": input_names,
        "outputs": OUTPUTS,
        "quantization": quantization,
        "max_seq_length": transformer.max_seq_length,
        "max_positions": transformer.model_max_positions,
        **{key: settings[key] for key in _TOKENIZER_SETTINGS},
        "dimension": dimension,
        "prompts": model.prompts,
        "default_prompt_name": model.default_prompt_name,
        "similarity_fn_name": model.similarity_fn_name,
        "truncate_dim": model.truncate_dim,
    }
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def cached_export(
    model: Any,
    source_folder: Path | None,
    quantization: str | None = None,
    calibration_texts: list[str] | None = None,
    load_settings: dict[str, Any] | None = None,
) -> Path:
    """The cache folder of ``model``'s export, exporting it first if it is not there yet.

    The key is the content of ``source_folder`` (the folder the model was loaded from) plus
    ``load_settings`` (the keyword arguments it was loaded with), or, for a model built in
    memory, its module configs, weights and tokenizer.
    """
    from sentkit.inference.onnx.cache import export_folder, folder_key, is_complete

    check_exportable(model)
    key = folder_key(source_folder) if source_folder is not None else pipeline_key(model)
    target = export_folder(key, quantization, load_settings)
    if not is_complete(target):
        export_pipeline(model, target, quantization, calibration_texts)
    return target


def pipeline_key(model: Any) -> str:
    """A hash of a pipeline held in memory: module types and configs, weights, tokenizer."""
    import hashlib

    digest = hashlib.sha256()
    for name, module in model.named_children():
        config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
        digest.update(f"{name}:{type(module).__name__}:{json.dumps(config, sort_keys=True, default=str)}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(model[0].tokenizer.hf_tokenizer.backend_tokenizer.to_str().encode())
    return digest.hexdigest()
