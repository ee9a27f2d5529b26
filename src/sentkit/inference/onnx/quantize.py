"""int8 versions of an exported graph, with ONNX Runtime's quantization tools.

- ``"int8"``: dynamic quantization. Weights of the matrix products (and fused attention) are
  stored as int8 per output channel; activations are quantized on the fly per tensor, from their
  own range, at every call. No calibration data.
- ``"int8-static"``: static quantization. Activation ranges are fixed in advance from
  calibration texts (sentences shipped with sentkit's examples unless others are given);
  weights per channel. Saves the on-the-fly range computation but fixes the ranges.

Which to use is a measured choice (benchmarks/README.md, all-MiniLM-L6-v2 on a 2-core AVX2 CPU
without VNNI): dynamic int8 ran 1.77x sentence-transformers' fp32 with STS-B Spearman 81.75
(fp32: 82.03); static int8 kept 81.96 but ran at 0.86x, because its quantize/dequantize pairs
were not fused into integer kernels on that CPU. ``"int8"`` is the one to reach for on speed.

On a Xeon with AVX-512 VNNI and AMX (``python benchmarks/onnx_int8_variants.py``: STS-B sentences /
256-token paragraphs per second, lowest cosine to float32, Spearman) the dynamic variants were:
per channel with QAttention (``"int8"``) 1,894 / 69.3, 0.966, 81.75; per tensor 1,890 / 69.5,
0.799, 81.69; reduce_range 1,862 / 71.3, 0.962, 81.97; matrix products only, attention in
float32, 1,321 / 57.1, 0.977, 81.76; weight-only MatMulNBits with int8 compute 665 / 33.4 (8 bits)
and 618 / 32.1 (4 bits); float32 769 / 37.5. Per channel with QAttention stays: as fast as any,
and the best lowest cosine among the fast ones. On such a CPU the int8 graph spends most of its
time outside the integer products (fused attention's float32 softmax and products, ONNX Runtime's
one-element-at-a-time layer norms, GELU: about 60% of kernel time on 256-token paragraphs in
``benchmarks/profile_onnx.py --tokens 256``), which is why torch in bfloat16 beats it there
(``backend="auto"``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sentkit._optional import require
from sentkit.errors import ConfigurationError

logger = logging.getLogger(__name__)

_CALIBRATION_BATCH = 16
_CALIBRATION_LIMIT = 256  # texts; ranges settle well before this


def quantize(
    graph: Path,
    output: Path,
    method: str,
    model: Any,
    input_names: list[str],
    calibration_texts: list[str] | None = None,
) -> Path:
    """Write the ``method`` (``"int8"`` or ``"int8-static"``) quantization of ``graph`` to ``output``.

    ``model`` (the SentenceTransformer that was exported) tokenizes the calibration texts.

    Raises:
        ConfigurationError: an unknown method.
    """
    require("onnxruntime", "onnx", "backend='onnx' quantization")
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static

    # Shape inference cannot type the outputs of fused (contrib) operators; they are float.
    float_default = {"DefaultTensorType": TensorProto.FLOAT}

    quiet = logging.getLogger("root")  # the quantizer logs its progress on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method == "int8":
                quantize_dynamic(
                    graph, output, per_channel=True, weight_type=QuantType.QInt8, extra_options=float_default
                )
            elif method == "int8-static":
                reader = _CalibrationReader(model, input_names, calibration_texts or _default_calibration_texts())
                quantize_static(
                    graph,
                    output,
                    reader,
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8,
                    op_types_to_quantize=["MatMul", "Gemm"],
                    extra_options={**float_default, "ActivationSymmetric": False, "WeightSymmetric": True},
                )
            else:
                raise ConfigurationError(f"Unknown quantization {method!r}; use 'int8' or 'int8-static'.")
    finally:
        quiet.setLevel(level)
    return output


class _CalibrationReader:
    """Feeds tokenized calibration batches to ``quantize_static`` (its CalibrationDataReader protocol)."""

    def __init__(self, model: Any, input_names: list[str], texts: list[str]) -> None:
        self.batches = self._tokenize(model, input_names, texts[:_CALIBRATION_LIMIT])

    @staticmethod
    def _tokenize(model: Any, input_names: list[str], texts: list[str]) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(texts), _CALIBRATION_BATCH):
            features = model[0].tokenize(texts[start : start + _CALIBRATION_BATCH])
            yield {name: features[name].numpy() for name in input_names}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)

    def rewind(self) -> None:
        raise NotImplementedError("calibration data is read once")


def _default_calibration_texts() -> list[str]:
    from importlib import resources

    text = resources.files("sentkit.inference.onnx").joinpath("calibration.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]
