"""``sentkit bench``: throughput, latency, cold start and memory of sentkit's engines on your machine."""

from __future__ import annotations

import argparse
from typing import Any

from sentkit.cli.common import DEFAULT_MODEL, add_input_options, positive_int

DEFAULT_ENGINES = "sentkit-torch,sentkit-auto,sentkit-onnx,sentkit-onnx-int8"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure encoding speed and memory on this machine",
        description=(
            "Encode texts with each engine in turn (alternating rounds) and print inputs per second, "
            "one-text latency p50/p99, cold start (new process: import, load, encode one text) and peak "
            "memory. Add 'sentence-transformers' to --engines (if installed) to get ratios against it."
        ),
    )
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL, help=f"model name or folder (default: {DEFAULT_MODEL})")
    parser.add_argument("--texts", default=None, help="texts file (default: sentences shipped with sentkit)")
    parser.add_argument("--engines", default=DEFAULT_ENGINES, help=f"comma-separated (default: {DEFAULT_ENGINES})")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="texts per batch (default: 32)")
    parser.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds (default: 3)")
    parser.add_argument("--latency-calls", type=positive_int, default=100, help="one-text calls (default: 100)")
    parser.add_argument("--no-processes", action="store_true", help="skip cold start and peak memory")
    add_input_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentkit import benchmarking
    from sentkit.cli.common import require_texts
    from sentkit.cli.textio import read_texts
    from sentkit.errors import InputError
    from sentkit.io.resolve import resolve_model_folder

    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in engines if name not in benchmarking.ENGINES]
    if unknown:
        raise InputError(f"Unknown engines {unknown}; known: {', '.join(benchmarking.ENGINES)}.")
    texts = require_texts(read_texts(args.texts, args.input_format, args.field) if args.texts else _shipped(), "texts")
    model = str(resolve_model_folder(args.model))  # a folder, so every engine loads the same files offline
    workers = benchmarking.start_workers(engines, model)
    results = {name: benchmarking.EngineResult() for name in engines}
    try:
        for name, rate in benchmarking.throughput(workers, texts, args.batch_size, args.rounds).items():
            results[name].throughput["texts"] = rate
        for name, (p50, p99) in benchmarking.latency(workers, texts, args.latency_calls).items():
            results[name].latency_p50_ms, results[name].latency_p99_ms = p50, p99
    finally:
        for worker in workers.values():
            worker.close()
    if not args.no_processes:
        for name in engines:
            results[name].cold_start_s = benchmarking.cold_start(name, model)
            results[name].peak_rss_mib = benchmarking.peak_rss(name, model, texts, args.batch_size)
    print(f"{len(texts)} texts, batch size {args.batch_size}, model {args.model}")
    reference = benchmarking.REFERENCE if benchmarking.REFERENCE in engines else engines[0]
    print(benchmarking.format_table(results, reference=reference if len(engines) > 1 else None))
    return 0


def _shipped() -> list[str]:
    from importlib import resources

    text = resources.files("sentkit.inference.onnx").joinpath("calibration.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]
