"""Side-by-side speed and memory measurements of encoders, for ``sentkit bench`` and ``benchmarks/``.

An *engine* is a named way to load a model: a few lines of Python that bind ``model`` for a
model path ``MODEL`` (see :data:`ENGINES`). For throughput and latency each engine runs in a
worker process of its own (:class:`Worker`) and the workers take turns, round by round, so that
machine noise hits all alike and no two thread pools compete; cold start and peak memory are
measured in fresh processes. Nothing here is a test: figures depend on the
machine, and only ratios within one run are compared.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sentkit.errors import InputError

ENGINES: dict[str, str] = {
    "sentence-transformers": (
        "from sentence_transformers import SentenceTransformer\nmodel = SentenceTransformer(MODEL, device='cpu')"
    ),
    "sentence-transformers-bf16": (
        "import torch\nfrom sentence_transformers import SentenceTransformer\n"
        "model = SentenceTransformer(MODEL, device='cpu', model_kwargs={'torch_dtype': torch.bfloat16})"
    ),
    "sentkit-torch": "from sentkit import SentenceTransformer\nmodel = SentenceTransformer(MODEL, device='cpu')",
    "sentkit-torch-bf16": (
        "from sentkit import SentenceTransformer\n"
        "model = SentenceTransformer(MODEL, device='cpu', model_kwargs={'torch_dtype': 'bfloat16'})"
    ),
    "sentkit-auto": (
        "from sentkit import SentenceTransformer\nmodel = SentenceTransformer(MODEL, device='cpu', backend='auto')"
    ),
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


class Worker:
    """One engine loaded in its own process, running work on request.

    Engines never share a process: the thread pools of torch and ONNX Runtime would compete
    for the cores and slow each other down. The parent asks one worker at a time.
    """

    def __init__(self, engine: str, model: str) -> None:
        self.engine = engine
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sentkit.benchmarking", engine, model],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._read()  # "ready" once the model is loaded

    def call(self, **command: Any) -> Any:
        """Send one command (see :func:`_serve`) and return its result."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.process.wait(timeout=60)

    def _read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"The {self.engine} benchmark worker exited (code {self.process.wait()}).")
        return json.loads(line)


def start_workers(engines: list[str], model: str) -> dict[str, Worker]:
    return {name: Worker(name, model) for name in engines}


def throughput(
    workers: dict[str, Worker], texts: list[str], batch_size: int, rounds: int, max_seq_length: int | None = None
) -> dict[str, float]:
    """Inputs per second (median over rounds) of encoding ``texts``; workers take turns each round."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "texts.json"
        path.write_text(json.dumps(texts), encoding="utf-8")
        command = {"op": "encode", "texts": str(path), "batch_size": batch_size, "max_seq_length": max_seq_length}
        for worker in workers.values():
            worker.call(**command, limit=2 * batch_size)  # warm-up
        timings: dict[str, list[float]] = {name: [] for name in workers}
        for _ in range(rounds):
            for name, worker in workers.items():
                timings[name].append(worker.call(**command))
    return {name: len(texts) / statistics.median(seconds) for name, seconds in timings.items()}


def latency(workers: dict[str, Worker], texts: list[str], calls: int, turn: int = 25) -> dict[str, tuple[float, float]]:
    """(p50, p99) milliseconds of one ``encode(text)`` call; workers take turns of ``turn`` calls."""
    samples: dict[str, list[float]] = {name: [] for name in workers}
    for start in range(0, calls, turn):
        chunk = [texts[i % len(texts)] for i in range(start, min(calls, start + turn))]
        for name, worker in workers.items():
            samples[name] += worker.call(op="latency", texts=chunk)
    return {name: (_percentile(values, 50), _percentile(values, 99)) for name, values in samples.items()}


def embeddings(worker: Worker, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """(N, D) float32 embeddings of ``texts`` computed by ``worker``."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "texts.json", Path(folder) / "embeddings.npy"
        source.write_text(json.dumps(texts), encoding="utf-8")
        worker.call(op="save", texts=str(source), batch_size=batch_size, output=str(target))
        return np.load(target)


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


def encoder_flops_per_token(config: dict[str, Any], sequence_length: int) -> float:
    """Floating-point operations per token of one forward pass of a BERT-style encoder.

    Counts the matrix products only (a multiply-add is 2 operations): per layer the query, key,
    value and output projections (4 h^2), the feed-forward pair (2 h i) and attention's two
    products over ``sequence_length`` positions (2 s h). Layer norms, activations and softmax
    are a few percent on top. ``config`` is a Hugging Face ``config.json`` with ``hidden_size``,
    ``intermediate_size`` and ``num_hidden_layers``.

    Raises:
        InputError: the config lacks one of those fields.
    """
    try:
        hidden, inner, layers = (int(config[key]) for key in ("hidden_size", "intermediate_size", "num_hidden_layers"))
    except KeyError as exc:
        raise InputError(f"Cannot count encoder FLOPs: the config has no {exc.args[0]!r}.") from exc
    return 2.0 * layers * (4 * hidden * hidden + 2 * hidden * inner + 2 * sequence_length * hidden)


def gemm_peak_gflops(size: int = 2048, rounds: int = 5, dtype: str = "float32") -> float:
    """This machine's matrix-product speed (GFLOP/s) in ``dtype``: the best of ``rounds`` torch products.

    Three shapes, all-MiniLM-L6-v2's feed-forward products over ``size`` tokens and a square one,
    with torch's default threads: the practical ceiling an encoder's forward pass can approach.
    ``dtype`` is "float32" or "bfloat16" (AMX or AVX-512 BF16 kernels where the CPU has them).
    """
    import torch

    shapes = [(size, 384, 1536), (size, 1536, 384), (size, size, size)]
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=getattr(torch, dtype)), torch.randn(k, n, dtype=getattr(torch, dtype))
        torch.mm(a, b)  # warm-up
        for _ in range(rounds):
            started = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2.0 * m * k * n / (time.perf_counter() - started) / 1e9)
    return best


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


def _serve(engine: str, model: str) -> None:
    """The worker loop: load the engine, then answer one JSON command per stdin line."""
    loaded = load_engine(engine, model)
    default_length = loaded.max_seq_length
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        result: Any = None
        if command["op"] == "encode":
            texts = json.loads(Path(command["texts"]).read_text(encoding="utf-8"))[: command.get("limit")]
            loaded.max_seq_length = command.get("max_seq_length") or default_length
            started = time.perf_counter()
            loaded.encode(texts, batch_size=command["batch_size"])
            result = time.perf_counter() - started
        elif command["op"] == "latency":
            result = []
            for text in command["texts"]:
                started = time.perf_counter()
                loaded.encode(text)
                result.append(1000 * (time.perf_counter() - started))
        elif command["op"] == "save":
            texts = json.loads(Path(command["texts"]).read_text(encoding="utf-8"))
            np.save(command["output"], np.asarray(loaded.encode(texts, batch_size=command["batch_size"])))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
