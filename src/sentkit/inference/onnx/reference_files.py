"""ONNX files in sentence-transformers' layout: ``export_optimized_onnx_model`` and
``export_dynamic_quantized_onnx_model``.

sentkit's own ONNX engine exports the whole pipeline (:mod:`sentkit.inference.onnx.export`).
These two functions instead write what sentence-transformers' ``backend="onnx"`` loads: the
Transformer alone, from token arrays (``input_ids``, ``attention_mask``, ``token_type_ids`` where
the model takes them) to ``last_hidden_state`` (B, T, H), or ``logits`` for cross-encoder and
masked-language (SPLADE) models, saved as ``<folder>/onnx/model_<suffix>.onnx``. Load it there
with ``SentenceTransformer(folder, backend="onnx", model_kwargs={"file_name": "onnx/model_O3.onnx"})``.

Optimization levels, as Optimum defines them: ``"O1"`` basic graph optimizations; ``"O2"`` adds
ONNX Runtime's extended optimizations and transformer fusions (attention, layer norm, GELU);
``"O3"`` adds the fast GELU approximation; ``"O4"`` adds fp16, for GPUs only, and is refused here.
Quantization configurations name the CPU the int8 weights are laid out for: ``"arm64"``,
``"avx2"`` (unsigned weights), ``"avx512"``, ``"avx512_vnni"``; dynamic, per channel.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sentkit._optional import require
from sentkit.errors import InputError
from sentkit.inference.onnx.export import eager_attention, input_names
from sentkit.modules import Transformer
from sentkit.modules.task_transformer import TaskTransformer

logger = logging.getLogger(__name__)

OPTIMIZATION_LEVELS = ("O1", "O2", "O3", "O4")
# configuration -> (weights are signed, reduce_range); activations are uint8 everywhere, as in Optimum.
QUANTIZATION_CONFIGS = {
    "arm64": (True, False),
    "avx2": (False, False),
    "avx512": (True, False),
    "avx512_vnni": (True, False),
}
_OPSET = 17
Writer = Callable[[Path, Path], None]  # (traced graph, output file)


def export_optimized_onnx_model(
    model: Any,
    optimization_config: str,
    model_name_or_path: str,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str | None = None,
) -> None:
    """Write ``<model_name_or_path>/onnx/model_<file_suffix>.onnx``, optimized at ``optimization_config``.

    Args:
        model: a SentenceTransformer, SparseEncoder or CrossEncoder whose first module is a Transformer.
        optimization_config: ``"O1"``, ``"O2"`` or ``"O3"`` (``"O4"`` needs a GPU).
        model_name_or_path: the model folder to write into, or the hub repository with ``push_to_hub``.
        push_to_hub: upload the file to the hub repository ``model_name_or_path`` instead.
        create_pr: open a pull request with the upload.
        file_suffix: defaults to the level (``model_O3.onnx``).

    Raises:
        InputError: an unknown level or a model that does not start with a Transformer.
        MissingDependencyError: onnx or onnxruntime is not installed.
    """
    if optimization_config not in OPTIMIZATION_LEVELS:
        raise InputError(
            f"optimization_config must be one of {', '.join(OPTIMIZATION_LEVELS)}, got {optimization_config!r}."
        )
    if optimization_config == "O4":
        raise InputError("optimization_config 'O4' converts to fp16, which runs on GPUs only; use 'O3' on a CPU.")
    suffix = file_suffix or optimization_config

    def write(raw: Path, output: Path) -> None:
        _optimize(raw, output, model[0], optimization_config)

    _export_and_place(model, write, model_name_or_path, suffix, push_to_hub, create_pr)


def export_dynamic_quantized_onnx_model(
    model: Any,
    quantization_config: str,
    model_name_or_path: str,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str | None = None,
) -> None:
    """Write ``<model_name_or_path>/onnx/model_<file_suffix>.onnx`` with int8 dynamic quantization.

    Args:
        model: a SentenceTransformer, SparseEncoder or CrossEncoder whose first module is a Transformer.
        quantization_config: ``"arm64"``, ``"avx2"``, ``"avx512"`` or ``"avx512_vnni"``.
        model_name_or_path: the model folder to write into, or the hub repository with ``push_to_hub``.
        push_to_hub: upload the file to the hub repository ``model_name_or_path`` instead.
        create_pr: open a pull request with the upload.
        file_suffix: defaults to the weight type and configuration (``model_qint8_avx512_vnni.onnx``).

    Raises:
        InputError: an unknown configuration or a model that does not start with a Transformer.
        MissingDependencyError: onnx or onnxruntime is not installed.
    """
    if quantization_config not in QUANTIZATION_CONFIGS:
        raise InputError(
            f"quantization_config must be one of {', '.join(QUANTIZATION_CONFIGS)}, got {quantization_config!r}."
        )
    signed, reduce_range = QUANTIZATION_CONFIGS[quantization_config]
    suffix = file_suffix or f"{'qint8' if signed else 'quint8'}_{quantization_config}"

    def write(raw: Path, output: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pre-processing advice printed by the quantizer
            quantize_dynamic(
                str(raw),
                str(output),
                per_channel=True,
                reduce_range=reduce_range,
                weight_type=QuantType.QInt8 if signed else QuantType.QUInt8,
            )

    _export_and_place(model, write, model_name_or_path, suffix, push_to_hub, create_pr)


class _HiddenStates(nn.Module):
    """The Hugging Face model as a function of positional token tensors, for tracing."""

    def __init__(self, hf_model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.hf_model = hf_model
        self.names = names

    def forward(self, *arrays: Tensor) -> Tensor:
        return self.hf_model(**dict(zip(self.names, arrays, strict=True)), return_dict=True)[0]


def _export_and_place(
    model: Any, write: Writer, destination: str, suffix: str, push_to_hub: bool, create_pr: bool
) -> None:
    """Trace ``model``'s Transformer, let ``write(raw, output)`` produce the file, put it in place."""
    require("onnxruntime", "onnx", "export_*_onnx_model")
    transformer = _first_transformer(model)
    work = Path(tempfile.mkdtemp(prefix="sentkit-onnx-"))
    try:
        raw = work / "raw" / "model.onnx"
        raw.parent.mkdir()
        _trace(transformer, raw)
        output = work / "onnx" / f"model_{suffix}.onnx"
        output.parent.mkdir()
        write(raw, output)
        if push_to_hub:
            _upload(output, destination, create_pr)
        else:
            target = Path(destination) / "onnx"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(output, target / output.name)
            logger.info("Saved %s", target / output.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def output_name(transformer: Transformer) -> str:
    """``logits`` for task heads (classification, masked LM), ``last_hidden_state`` otherwise."""
    return "logits" if isinstance(transformer, TaskTransformer) else "last_hidden_state"


def _first_transformer(model: Any) -> Transformer:
    modules = list(model) if isinstance(model, nn.Sequential) else []
    if not modules or not isinstance(modules[0], Transformer):
        first = type(modules[0]).__name__ if modules else type(model).__name__
        raise InputError(
            f"ONNX export takes a SentenceTransformer, SparseEncoder or CrossEncoder whose first module is a "
            f"Transformer; got one starting with {first}."
        )
    return modules[0]


def _trace(transformer: Transformer, path: Path) -> None:
    names = input_names(transformer)
    features = transformer.tokenize(["A short text.", "A somewhat longer text, so that the batch has padding."])
    hf_model = transformer.auto_model
    arrays = tuple(features[name].to(hf_model.device) for name in names)
    output = output_name(transformer)
    axes = {name: {0: "batch_size", 1: "sequence_length"} for name in [*names, output]}
    if transformer.transformer_task == "sequence-classification":
        axes[output] = {0: "batch_size"}  # (B, num_labels)
    with eager_attention(hf_model), warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shapes and deprecations
        torch.onnx.export(
            _HiddenStates(hf_model, names).eval(),
            arrays,
            str(path),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _optimize(raw: Path, output: Path, transformer: Transformer, level: str) -> None:
    """ONNX Runtime's graph optimizations (O1) plus its transformer fusions (O2, O3)."""
    if level == "O1":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(output)
        ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
        return
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = transformer.auto_model.config
    fusion = FusionOptions("bert")
    fusion.enable_gelu_approximation = level == "O3"
    quiet = logging.getLogger("onnxruntime.transformers")
    previous = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            optimization_options=fusion,
            opt_level=2,
        )
        optimized.save_model_to_file(str(output))
    finally:
        quiet.setLevel(previous)


def _upload(path: Path, repo_id: str, create_pr: bool) -> None:
    require("huggingface_hub", "huggingface_hub", "push_to_hub")
    from huggingface_hub import HfApi

    HfApi().upload_file(
        path_or_fileobj=str(path),
        path_in_repo=f"onnx/{path.name}",
        repo_id=repo_id,
        commit_message=f"Add exported ONNX model {path.name!r}",
        create_pr=create_pr,
    )
