"""Which int8 graph ONNX Runtime runs fastest on this CPU, and what each costs in quality.

Usage:
    python benchmarks/onnx_int8_variants.py --data ../shared/data [--rounds 3] [--variants a,b,...]

Builds quantized variants of the cached float32 export of all-MiniLM-L6-v2 (exporting it first if
needed) in a temporary folder and times each, in one process and alternating rounds, on the STS-B
test sentences (batch 32) and on 64 paragraphs of 256 tokens (batch 16), with the batching and
tokenization of ``OnnxEncoder``. Prints texts per second, the lowest and mean cosine to the
float32 graph and STS-B Spearman. Variants:

- ``fp32``: the float32 graph itself;
- ``per-channel`` (sentkit's ``"int8"``), ``per-tensor``, ``reduce-range``: dynamic quantization of
  the matrix products and the fused attention (QAttention);
- ``matmul-only``: dynamic quantization of the plain matrix products, attention left in float32;
- ``nbits8``, ``nbits4``: weight-only MatMulNBits with int8 compute (accuracy level 4), block 32;
  they need the ``onnx-ir`` package and are skipped without it.

Exits 0 with a message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench_speed import MODEL, PARAGRAPHS, read_stsb
from sentkit import OnnxEncoder, benchmarking
from sentkit.inference.onnx.cache import MODEL_FILE
from sentkit.inference.onnx.runtime import SessionRunner, create_session

VARIANTS = "fp32,per-channel,per-tensor,reduce-range,matmul-only,nbits8,nbits4"


def _dynamic(**options: object) -> Callable[[Path, Path], None]:
    def build(source: Path, target: Path) -> None:
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic

        extra = {"DefaultTensorType": TensorProto.FLOAT}
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, extra_options=extra, **options)

    return build


def _nbits(bits: int) -> Callable[[Path, Path], None]:
    def build(source: Path, target: Path) -> None:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

        config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=4, bits=bits)
        quantizer = MatMulNBitsQuantizer(onnx.load(source), algo_config=config)
        quantizer.process()
        quantizer.model.save_model_to_file(str(target), False)

    return build


BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "per-channel": _dynamic(per_channel=True),
    "per-tensor": _dynamic(per_channel=False),
    "reduce-range": _dynamic(per_channel=True, reduce_range=True),
    "matmul-only": _dynamic(per_channel=True, op_types_to_quantize=["MatMul"]),
    "nbits8": _nbits(8),
    "nbits4": _nbits(4),
}


def build_variants(names: list[str], source: Path, folder: Path) -> dict[str, Path]:
    """Graph path per variant; variants whose tools are missing are left out with a message."""
    paths = {}
    logging.getLogger("root").setLevel(logging.ERROR)  # the quantizers log every node on the root logger
    for name in names:
        if name == "fp32":
            paths[name] = source
            continue
        if name.startswith("nbits") and importlib.util.find_spec("onnx_ir") is None:
            print(f"{name}: skipped (MatMulNBits quantization needs `pip install onnx-ir`)")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            BUILDERS[name](source, folder / f"{name}.onnx")
        paths[name] = folder / f"{name}.onnx"
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=VARIANTS)
    args = parser.parse_args()
    if not (args.data / "stsb" / "sts-test.csv").is_file():
        print(f"STS-B not found under {args.data}; nothing to measure.")
        return 0
    from scipy.stats import spearmanr

    from sentkit.io.resolve import resolve_model_folder

    encoder = OnnxEncoder.load(str(resolve_model_folder(MODEL)))  # the cached float32 export
    first, second, gold = read_stsb(args.data)
    sentences = first + second
    paragraphs = benchmarking.paragraphs(sentences, 256, PARAGRAPHS, encoder.tokenizer.count_tokens)
    unknown = [name for name in args.variants.split(",") if name != "fp32" and name not in BUILDERS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {VARIANTS}")
    with tempfile.TemporaryDirectory() as folder:
        paths = build_variants(args.variants.split(","), encoder.folder / MODEL_FILE, Path(folder))
        runners = {name: SessionRunner(create_session(path)) for name, path in paths.items()}

        def encode(name: str, texts: list[str], batch_size: int, max_length: int) -> np.ndarray:
            encoder.runner, encoder.max_seq_length = runners[name], max_length
            return encoder.encode(texts, batch_size=batch_size)

        reference = encode("fp32", sentences, 32, 256) if "fp32" in runners else None
        timings: dict[str, dict[str, list[float]]] = {name: {"STS-B": [], "256-token": []} for name in runners}
        for name in runners:  # warm-up
            encode(name, sentences[:64], 32, 256)
        for _ in range(args.rounds):
            for name in runners:
                for setting, texts, batch_size in (("STS-B", sentences, 32), ("256-token", paragraphs, 16)):
                    started = time.perf_counter()
                    encode(name, texts, batch_size, 256)
                    timings[name][setting].append(time.perf_counter() - started)
        print("| variant | STS-B (/s) | 256-token (/s) | lowest cosine to fp32 | mean cosine | STS-B Spearman |")
        print("|---|---|---|---|---|---|")
        for name in runners:
            embeddings = encode(name, sentences, 32, 256)
            unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
            spearman = spearmanr(np.sum(unit[: len(first)] * unit[len(first) :], axis=1), gold).correlation
            cosine = "- | -"
            if reference is not None:
                rows = np.sum(unit * reference / np.linalg.norm(reference, axis=1, keepdims=True), axis=1)
                cosine = f"{rows.min():.5f} | {rows.mean():.6f}"
            rates = [
                len(texts) / statistics.median(timings[name][setting])
                for setting, texts in (("STS-B", sentences), ("256-token", paragraphs))
            ]
            print(f"| {name} | {rates[0]:.1f} | {rates[1]:.2f} | {cosine} | {100 * spearman:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
