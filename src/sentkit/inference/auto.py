"""``backend="auto"``: the fastest engine that keeps every embedding within cosine 0.9999 of float32.

The choice follows the instruction set of the CPU the code runs on (:mod:`sentkit._cpu`), never
figures measured on another machine:

1. Off the CPU (CUDA, MPS): the torch engine in the model's own precision.
2. A CPU that multiplies bfloat16 natively (AMX or AVX-512 BF16, with the oneDNN kernels in this
   torch build) and a BERT model that sentkit runs natively: the torch engine with its matrix
   products and attention in bfloat16, on packed copies of the weights. The weights stay float32
   (saving, training and ONNX export see the model as loaded), and so do the layer norms and the
   residual stream, which keeps it within cosine 0.9999 of float32 (all-MiniLM-L6-v2 on STS-B:
   lowest 0.99994, Spearman 82.04 against 82.03) while running 2.5x faster than float32 on a Xeon
   with AMX, and 2.9x on an AMD EPYC Zen 5 (AVX-512 BF16 without AMX), where it is also 1.6x ONNX
   Runtime float32. Outputs are float32. transformers' own bfloat16 (other model families) rounds
   everything and falls below 0.9999 (0.99986 on the same test), so it is never picked.
3. Otherwise ONNX Runtime in float32 when the ``onnx`` extra is installed and the pipeline exports:
   as fast as the torch engine on short texts on a Xeon with AVX-512, faster on AMD CPUs (1.4-1.5x
   on a Zen 1 with AVX2 only, 1.8x on a Zen 5), and a one-text latency a third of torch's or less.
   The first load of a model exports it (tens of seconds, with ``transformers`` imported); later
   loads find the export in the cache.
   An export that fails leaves the torch engine in float32, with the reason in the log.
4. Otherwise the torch engine in float32.

int8 is never picked: its lowest cosine to float32 is 0.96 on STS-B (``model_kwargs={"quantization":
"int8"}`` with ``backend="auto"`` asks for the ONNX int8 engine explicitly). A precision the caller
chose (``torch_dtype``) is kept. The choice is logged and kept on the model as :class:`EngineInfo`
(``model.engine_info``, as set up at load).
"""

from __future__ import annotations

from dataclasses import dataclass

from sentkit._cpu import CpuInfo

BACKENDS = ("torch", "onnx", "auto")
"""What ``SentenceTransformer(backend=...)`` and the command line's ``--backend`` take."""


@dataclass(frozen=True)
class EngineInfo:
    """The engine a model encodes with, and why."""

    backend: str  # "torch" or "onnx"
    precision: str  # "float32", "bfloat16", "float16", "int8", "int8-static"
    reason: str

    def __str__(self) -> str:
        return f"{self.backend} engine, {self.precision}: {self.reason}"


def choose_engine(cpu: CpuInfo, device: str, native_bert: bool, bf16_kernels: bool, onnx_ready: bool) -> EngineInfo:
    """The engine ``backend="auto"`` runs a model with (see the module docstring for the rules).

    ``native_bert``: the model's first module is a BERT that sentkit runs natively; ``bf16_kernels``:
    this torch build's oneDNN runs packed bfloat16 products (a VM can hide flags, a build can lack
    the kernels); ``onnx_ready``: onnxruntime and onnx are installed and the pipeline can be
    exported to one ONNX graph.
    """
    if device != "cpu":
        return EngineInfo("torch", "float32", f"the model runs on {device}, where the torch engine is the one")
    if cpu.bf16_matmul and bf16_kernels and native_bert:
        return EngineInfo(
            "torch",
            "bfloat16",
            f"{cpu.summary()} multiplies bfloat16 natively, and sentkit's BERT keeps float32 layer norms "
            "(cosine to float32 >= 0.9999)",
        )
    if onnx_ready:
        why = "no native bfloat16 products on this CPU" if native_bert else "no native bfloat16 path for this model"
        return EngineInfo("onnx", "float32", f"{why}; ONNX Runtime float32 on {cpu.summary()}")
    return EngineInfo("torch", "float32", f"{cpu.summary()}: float32 torch (install sentkit[onnx] for ONNX Runtime)")
