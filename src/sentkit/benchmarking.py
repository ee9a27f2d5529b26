"""Side-by-side speed and memory measurements of encoders, for ``sentkit bench`` and ``benchmarks/``.

An *engine* is a named way to load a model: a few lines of Python that bind ``model`` for a
model path ``MODEL`` (see :data:`ENGINES`). The same lines run in this process for throughput
and latency, where engines alternate round by round so that machine noise hits all alike, and in
fresh processes for cold start and peak memory. Nothing here is a test: figures depend on the
machine, and only ratios within one run are compared.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sentkit.errors import InputError

ENGINES: dict[str, str] = {
    "sentence-transformers": (
        "from sentence_transformers import SentenceTransformer\nmodel = SentenceTransformer(MODEL, device='cpu')"
    ),
    "sentkit-torch": "from sentkit import SentenceTransformer\nmodel = SentenceTransformer(MODEL, device='cpu')",
    "sentkit-onnx": "from sentkit import OnnxEncoder\nmodel = OnnxEncoder.load(MODEL)",
    "sentkit-onnx-int8": "from sentkit import OnnxEncoder\nmodel = OnnxEncoder.load(MODEL, quantization='int8')",
    "sentkit-onnx-int8-static": (
        "from sentkit import OnnxEncoder\nmodel = OnnxEncoder.load(MODEL, quantization='int8-static')"
    ),
}
REFERENCE = "sentence-transformers"


@dataclass
class EngineResult:
    """What was measured for one engine (seconds; memory in MiB); None where not measured."""

    throughput: dict[str, float] = field(default_factory=dict)  # setting -> inputs per second
    tokens_per_second: dict[str, float] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    cold_start_s: float | None = None
    peak_rss_mib: float | None = None


def load_engine(name: str, model: str, max_seq_length: int | None = None) -> Any:
    """Run the loading lines of engine ``name`` here and return the model object.

    Raises:
        InputError: an unknown engine name.
    """
    if name not in ENGINES:
        raise InputError(f"Unknown engine {name!r}; known: {', '.join(ENGINES)}.")
    scope: dict[str, Any] = {"MODEL": model}
    exec(ENGINES[name], scope)  # only the fixed loading lines of ENGINES run here
    loaded = scope["model"]
    if max_seq_length is not None:
        loaded.max_seq_length = max_seq_length
    return loaded


def alternate(
    models: dict[str, Any], work: Callable[[Any], object], rounds: int, warmup: Callable[[Any], object] | None = None
) -> dict[str, list[float]]:
    """Seconds that ``work(model)`` took, per engine and round; engines take turns each round."""
    for model in models.values():
        (warmup or work)(model)
    timings: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            started = time.perf_counter()
            work(model)
            timings[name].append(time.perf_counter() - started)
    return timings


def throughput(models: dict[str, Any], texts: list[str], batch_size: int, rounds: int) -> dict[str, float]:
    """Inputs per second (median over alternating rounds) of encoding ``texts`` in batches."""
    timings = alternate(
        models,
        lambda model: model.encode(texts, batch_size=batch_size),
        rounds,
        warmup=lambda model: model.encode(texts[: 2 * batch_size], batch_size=batch_size),
    )
    return {name: len(texts) / statistics.median(seconds) for name, seconds in timings.items()}


def latency(models: dict[str, Any], texts: list[str], calls: int) -> dict[str, tuple[float, float]]:
    """(p50, p99) milliseconds of one ``encode(text)`` call per text; engines take turns per call."""
    samples: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        model.encode(texts[0])
    for index in range(calls):
        text = texts[index % len(texts)]
        for name, model in models.items():
            started = time.perf_counter()
            model.encode(text)
            samples[name].append(1000 * (time.perf_counter() - started))
    return {name: (_percentile(values, 50), _percentile(values, 99)) for name, values in samples.items()}


def cold_start(engine: str, model: str, rounds: int = 3) -> float:
    """Median seconds for a new process to import, load ``model`` and encode one sentence."""
    script = f"MODEL = {model!r}\n{ENGINES[engine]}\nmodel.encode('A first sentence.')\n"
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def peak_rss(engine: str, model: str, texts: list[str], batch_size: int = 32) -> float:
    """Peak resident memory (MiB) of a new process that loads ``model`` and encodes ``texts``."""
    script = (
        "import json, resource, sys\n"
        f"MODEL = {model!r}\n{ENGINES[engine]}\n"
        "texts = json.load(sys.stdin)\n"
        f"model.encode(texts, batch_size={batch_size})\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(texts), check=True, capture_output=True, text=True
    )
    return int(result.stdout.strip().splitlines()[-1]) / 1024  # Linux reports KiB


def paragraphs(sentences: list[str], tokens: int, count: int, count_tokens: Callable[[str], int]) -> list[str]:
    """``count`` paragraphs of at least ``tokens`` tokens each, made by joining ``sentences`` in turn."""
    if not sentences:
        raise InputError("paragraphs needs sentences to join.")
    result: list[str] = []
    position = 0
    while len(result) < count:
        parts: list[str] = []
        while count_tokens(" ".join(parts)) < tokens:
            parts.append(sentences[position % len(sentences)])
            position += 1
        result.append(" ".join(parts))
    return result


def format_table(results: dict[str, EngineResult], reference: str | None = REFERENCE) -> str:
    """A Markdown table: one row per engine, each figure with its ratio to ``reference`` if present."""
    settings = list(dict.fromkeys(key for result in results.values() for key in result.throughput))
    header = ["engine", *(f"{setting} (/s)" for setting in settings)]
    header += ["p50 ms", "p99 ms", "cold start s", "peak RSS MiB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    base = results.get(reference) if reference else None
    for name, result in results.items():
        cells = [name]
        for setting in settings:
            cells.append(_cell(result.throughput.get(setting), base.throughput.get(setting) if base else None))
        cells.append(_cell(result.latency_p50_ms, base.latency_p50_ms if base else None))
        cells.append(_cell(result.latency_p99_ms, base.latency_p99_ms if base else None))
        cells.append(_cell(result.cold_start_s, base.cold_start_s if base else None, digits=2))
        cells.append(_cell(result.peak_rss_mib, base.peak_rss_mib if base else None, digits=0))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: float | None, base: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return f"{text} ({value / base:.2f}x)" if base else text


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * (len(ordered) - 1))))
    return ordered[index]
