"""Which engine a SentenceTransformer encodes with: ``backend="torch"``, ``"onnx"`` or ``"auto"``."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sentkit._cpu import cpu_info
from sentkit.errors import ConfigurationError
from sentkit.inference.auto import EngineInfo, choose_engine
from sentkit.inference.engine import Engine
from sentkit.inference.onnx.cache import QUANTIZATIONS
from sentkit.inference.torch_engine import TorchEngine
from sentkit.modules import Transformer
from sentkit.modules.native_bert import NativeBertModel
from sentkit.modules.packed_linear import packing_available

logger = logging.getLogger(__name__)

# model_kwargs that configure the ONNX backend rather than the Hugging Face model.
ONNX_OPTIONS = ("quantization", "calibration_texts", "provider", "threads")


def set_up_engine(
    model: Any,
    backend: str,
    folder: Path | None,
    onnx_options: dict[str, Any],
    load_settings: dict[str, Any],
    verify: bool = True,
) -> tuple[Engine | None, EngineInfo]:
    """The engine ``model`` (a loaded SentenceTransformer) runs on, None for its own torch engine.

    ``backend`` is one of :data:`sentkit.inference.auto.BACKENDS` (the encoder checks it before loading).
    ``backend="auto"`` may have a native BERT model run its products in bfloat16
    (:mod:`sentkit.inference.auto`); with an ONNX ``quantization`` it is ``"onnx"``.

    Raises:
        ConfigurationError: an unknown quantization, or a pipeline the ONNX backend cannot run.
    """
    if backend == "auto" and not onnx_options.get("quantization"):
        return _auto_engine(model, folder, onnx_options, load_settings, verify)
    if backend == "torch":
        return None, EngineInfo("torch", _dtype_name(model.dtype), "backend='torch'")
    quantization = onnx_options.get("quantization")
    engine = onnx_engine(model, folder, onnx_options, load_settings, verify)
    return engine, EngineInfo("onnx", quantization or "float32", f"backend={backend!r}")


def onnx_engine(
    model: Any, folder: Path | None, options: dict[str, Any], load_settings: dict[str, Any], verify: bool = True
) -> Engine:
    """The torch engine with its forward pass on the (cached) ONNX export of ``model``."""
    from sentkit.inference.onnx.export import cached_export
    from sentkit.inference.onnx.forward import OnnxForward

    quantization = options.get("quantization")
    if quantization not in QUANTIZATIONS:
        raise ConfigurationError(f"quantization={quantization!r} is not one of {QUANTIZATIONS}.")
    export = cached_export(model, folder, quantization, options.get("calibration_texts"), load_settings)
    provider = options.get("provider")
    forward = OnnxForward(export, options.get("threads"), [provider] if provider else None, verify=verify)
    return TorchEngine(model, forward)


def _auto_engine(
    model: Any, folder: Path | None, onnx_options: dict[str, Any], load_settings: dict[str, Any], verify: bool
) -> tuple[Engine | None, EngineInfo]:
    requested = load_settings.get("model_kwargs") or {}
    if model.dtype not in (None, torch.float32) or {"torch_dtype", "dtype"} & set(requested):
        # The caller chose a precision: keep it.
        info = EngineInfo(
            "torch", _dtype_name(model.dtype), "backend='auto' keeps the precision the model was loaded in"
        )
        logger.info("backend='auto': %s", info)
        return None, info
    native = _native_bert(model)
    info = choose_engine(
        cpu_info(),
        model.device.type,
        native_bert=native is not None,
        bf16_kernels=packing_available(torch.bfloat16),
        onnx_ready=_onnx_ready(model),
    )
    engine = None
    if info.precision == "bfloat16" and native is not None:
        native.set_compute_dtype(torch.bfloat16)  # the weights stay float32: saving and training are unchanged
    elif info.backend == "onnx":
        try:
            engine = onnx_engine(model, folder, onnx_options, load_settings, verify)
        except Exception as exc:  # auto is best effort: whatever stops the export, torch still runs
            info = EngineInfo("torch", "float32", f"the ONNX export failed ({type(exc).__name__}: {exc})")
    logger.info("backend='auto': %s", info)
    return engine, info


def _native_bert(model: nn.Module) -> Transformer | None:
    """The model's first module when it is a Transformer running sentkit's native BERT."""
    first = next(iter(model.children()), None)
    return first if isinstance(first, Transformer) and isinstance(first.model, NativeBertModel) else None


def _onnx_ready(model: Any) -> bool:
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        return False
    from sentkit.inference.onnx.export import check_exportable

    try:
        check_exportable(model)
    except ConfigurationError:
        return False
    return True


def _dtype_name(dtype: torch.dtype | None) -> str:
    return str(dtype or torch.float32).removeprefix("torch.")
