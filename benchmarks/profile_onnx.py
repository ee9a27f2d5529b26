"""Where the ONNX engine spends its time: each operator type's share of ONNX Runtime's kernel time.

Usage:
    python benchmarks/profile_onnx.py --data ../shared/data [--quantizations fp32,int8] [--tokens 256]

Encodes the STS-B test sentences (batch 32), or with ``--tokens N`` 64 paragraphs of N tokens
(batch 16), with ``OnnxEncoder`` on all-MiniLM-L6-v2 and ONNX Runtime's profiler on, once per
quantization, and prints texts per second (the profiler slows it a little) and the kernel time of
each operator type. Comparing fp32 with int8 shows whether the integer matrix products
(``DynamicQuantizeMatMul``, ``QAttention``) beat the float ones (``MatMul``, ``Attention``) on
this CPU. Exits 0 with a message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench_speed import MODEL, PARAGRAPHS, read_stsb
from sentkit import OnnxEncoder, benchmarking
from sentkit.inference.onnx.cache import MODEL_FILE
from sentkit.inference.onnx.runtime import SessionRunner, create_session


def profile(model: str, quantization: str | None, texts: list[str], batch_size: int, tokens: int | None) -> None:
    encoder = OnnxEncoder.load(model, quantization=quantization)
    if tokens is not None:
        encoder.max_seq_length = tokens
    encoder.encode(texts[: 2 * batch_size], batch_size=batch_size)  # warm-up, outside the profile
    with tempfile.TemporaryDirectory() as folder:
        encoder.runner = SessionRunner(create_session(encoder.folder / MODEL_FILE, profile_prefix=f"{folder}/run"))
        started = time.perf_counter()
        encoder.encode(texts, batch_size=batch_size)
        seconds = time.perf_counter() - started
        events = json.loads(Path(encoder.runner.session.end_profiling()).read_text(encoding="utf-8"))
    kernel: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            kernel[event["args"]["op_name"]] += event["dur"]  # microseconds
    total = sum(kernel.values())
    print(f"\n{quantization or 'fp32'}: {len(texts) / seconds:.1f} texts/s, kernel time {total / 1e6:.2f} s")
    for op, microseconds in kernel.most_common():
        if microseconds >= total / 1000:
            print(f"  {op:28s} {microseconds / 1e6:7.3f} s  {100 * microseconds / total:5.1f}%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--quantizations", default="fp32,int8")
    parser.add_argument("--tokens", type=int, default=None, help="profile N-token paragraphs instead of sentences")
    args = parser.parse_args()
    if not (args.data / "stsb" / "sts-test.csv").is_file():
        print(f"STS-B not found under {args.data}; nothing to profile.")
        return 0
    from sentkit.io.resolve import resolve_model_folder

    model = str(resolve_model_folder(MODEL))
    first, second, _ = read_stsb(args.data)
    texts, batch_size = first + second, 32
    if args.tokens is not None:
        counter = OnnxEncoder.load(model)
        texts = benchmarking.paragraphs(texts, args.tokens, PARAGRAPHS, counter.tokenizer.count_tokens)
        batch_size = 16
    for name in args.quantizations.split(","):
        profile(model, None if name.strip() == "fp32" else name.strip(), texts, batch_size, args.tokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
