"""Load test of ``sentkit serve``: N concurrent clients for T seconds, micro-batching on and off.

Usage:
    python benchmarks/load_test_server.py [--model all-MiniLM-L6-v2] [--clients 8] [--seconds 10] [--threads N]

For each mode the script starts ``python -m sentkit serve`` on 127.0.0.1 (a free port, loopback
only), waits for ``/health``, then runs ``--clients`` concurrent clients (asyncio + httpx) that
each send one sentence per ``POST /v1/embeddings`` request, back to back, for ``--seconds``
seconds (and at most ``--max-requests`` requests in all). Every returned vector is compared with
the library's ``model.encode`` of the same sentence (max abs difference <= 1e-6).

Prints, per mode: requests, requests/s, p50 / p99 latency, errors (must be 0), vectors that
differ; then the ratio of micro-batching on to off. Then two fault phases on a fresh server:
overload (``--clients`` x 4 clients sending 8 sentences each at a server with ``--max-queue 32``:
answers 200 or 429 with Retry-After, and the slowest answer bounds any hang) and SIGTERM with 50
requests in flight (every one answered 200, the port closed, the time the process took to exit).
Sentences come from ``examples/corpus.txt``. Exits 0 with a message when the server extra, httpx
or the model is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "examples" / "corpus.txt"
TOLERANCE = 1e-6
START_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    mismatches: int = 0
    max_difference: float = 0.0
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    model: str, port: int, batching: bool, device: str, threads: int | None, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "sentkit", "serve", "-m", model, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--device", device, "--log-level", "warning"] + ([] if batching else ["--no-batching"])
    command += [] if threads is None else ["--threads", str(threads)]
    command += list(extra)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server did not become healthy within {START_TIMEOUT_S:.0f} s")


async def client_loop(
    client: Any,
    model: str,
    sentences: list[str],
    expected: Any,
    index: int,
    stop_at: float,
    budget: list[int],
    out: Outcome,
) -> None:
    import numpy as np

    position = index
    while time.monotonic() < stop_at and budget[0] > 0:
        budget[0] -= 1
        text_index = position % len(sentences)
        position += 7  # clients walk the pool with different offsets
        body = {"input": sentences[text_index], "model": model, "encoding_format": "base64"}
        started = time.perf_counter()
        try:
            reply = await client.post("/v1/embeddings", json=body)
        except Exception:  # any transport failure is an error of the run
            out.errors += 1
            continue
        if reply.status_code != 200:
            out.errors += 1
            continue
        out.latencies.append(time.perf_counter() - started)
        vector = np.frombuffer(base64.b64decode(reply.json()["data"][0]["embedding"]), dtype="<f4")
        difference = float(np.abs(vector - expected[text_index]).max())
        out.max_difference = max(out.max_difference, difference)
        out.mismatches += difference > TOLERANCE


async def run_load(url: str, model: str, sentences: list[str], expected: Any, args: argparse.Namespace) -> Outcome:
    import httpx

    out = Outcome()
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        warm = {"input": sentences[0], "model": model}
        for _ in range(3):
            await client.post("/v1/embeddings", json=warm)
        budget = [args.max_requests]
        started = time.monotonic()
        stop_at = started + args.seconds
        await asyncio.gather(
            *(client_loop(client, model, sentences, expected, i, stop_at, budget, out) for i in range(args.clients))
        )
        out.elapsed = time.monotonic() - started
    return out


def measure(batching: bool, sentences: list[str], expected: Any, args: argparse.Namespace) -> Outcome:
    port = free_port()
    process = start_server(args.model, port, batching, args.device, args.threads)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        return asyncio.run(run_load(url, args.model, sentences, expected, args))
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def overload(url: str, sentences: list[str], clients: int) -> bool:
    """Many clients, 8 sentences each, at a small queue: 200 or 429 with Retry-After, never a hang.
    Whether that held (some 429s among the answers, each with Retry-After)."""
    import httpx

    statuses: dict[int, int] = {}
    retry_after: set[str | None] = set()
    slowest = 0.0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:

        async def one(index: int) -> None:
            nonlocal slowest
            started = time.perf_counter()
            reply = await client.post(
                "/embed", json={"inputs": [sentences[(index + k) % len(sentences)] for k in range(8)]}
            )
            slowest = max(slowest, time.perf_counter() - started)
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
            if reply.status_code == 429:
                retry_after.add(reply.headers.get("retry-after"))

        await asyncio.gather(*(one(index) for index in range(clients)))
    held = set(statuses) == {200, 429} and retry_after == {"1"}
    print(
        f"overload           {clients} requests of 8 texts at a queue of 32: answers {dict(sorted(statuses.items()))}, "
        f"Retry-After on each of the {statuses.get(429, 0)} 429s: {retry_after == {'1'}}, "
        f"slowest answer {slowest * 1000:.0f} ms"
    )
    return held


async def drain(url: str, process: subprocess.Popen[bytes], sentences: list[str], expected: Any) -> bool:
    """SIGTERM with 50 requests in flight: all must be answered (and right), then the port closes.
    Whether that held."""
    import httpx
    import numpy as np

    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        requests = [
            asyncio.ensure_future(client.post("/embed", json={"inputs": [sentences[i % len(sentences)]] * 8}))
            for i in range(50)
        ]
        await asyncio.sleep(0.2)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.1)
        try:
            async with httpx.AsyncClient(timeout=5) as late:
                refused = (await late.post(f"{url}/embed", json={"inputs": "late"})).status_code == 503
        except httpx.TransportError:
            refused = True
        replies = await asyncio.gather(*requests, return_exceptions=True)
    answered = [reply for reply in replies if not isinstance(reply, BaseException) and reply.status_code == 200]
    right = sum(
        float(
            np.abs(
                np.asarray(reply.json()[0], dtype=np.float32)
                - expected[i % len(sentences)] / np.linalg.norm(expected[i % len(sentences)])
            ).max()
        )
        <= 1e-5
        for i, reply in enumerate(replies)
        if not isinstance(reply, BaseException) and reply.status_code == 200
    )
    exit_code = process.wait(60)
    print(
        f"SIGTERM drain      50 requests in flight: {len(answered)} answered 200 ({right} equal to encode), "
        f"new connections refused: {refused}, exited (code {exit_code}) "
        f"{time.monotonic() - signalled:.2f} s after SIGTERM"
    )
    return right == 50 and refused and exit_code in (0, -signal.SIGTERM)


def faults(sentences: list[str], expected: Any, args: argparse.Namespace) -> bool:
    """The overload phase (on a server with a queue of 32) and the drain phase (default limits);
    whether both held."""
    held = True
    for limits in (("--max-queue", "32", "--max-items", "8"), ()):
        port = free_port()
        process = start_server(args.model, port, True, args.device, args.threads, limits)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, process)
            if limits:
                held &= asyncio.run(overload(url, sentences, 4 * args.clients))
            else:
                held &= asyncio.run(drain(url, process, sentences, expected))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    return held


def report(name: str, outcome: Outcome) -> None:
    rate = len(outcome.latencies) / outcome.elapsed if outcome.elapsed else 0.0
    print(
        f"{name:<18} requests {outcome.requests:>6}  {rate:8.1f} req/s  "
        f"p50 {outcome.percentile(0.5) * 1000:7.1f} ms  p99 {outcome.percentile(0.99) * 1000:7.1f} ms  "
        f"errors {outcome.errors}  vectors off by >1e-6: {outcome.mismatches} (max diff {outcome.max_difference:.2e})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap on requests per mode")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads in the server")
    args = parser.parse_args()
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 600:
        parser.error("--clients must be 1..256 and --seconds 0..600 (the test is bounded)")
    try:
        import fastapi  # noqa: F401
        import httpx  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(f"Skipped: {exc.name} is not installed (pip install 'sentkit[server]' httpx).")
        return 0
    from sentkit import SentenceTransformer
    from sentkit.errors import ModelNotFoundError

    try:
        model = SentenceTransformer(args.model, device=args.device)
    except ModelNotFoundError as exc:
        print(f"Skipped: {exc}")
        return 0
    sentences = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    expected = [model.encode(sentence) for sentence in sentences]  # one by one: no padding at all
    del model
    print(
        f"{args.clients} clients x {args.seconds:g} s, one sentence per request, "
        f"model {args.model}, {os.cpu_count()} CPUs, server threads: {args.threads or 'default'}"
    )
    on = measure(True, sentences, expected, args)
    report("micro-batching on", on)
    off = measure(False, sentences, expected, args)
    report("micro-batching off", off)
    rate_on = len(on.latencies) / on.elapsed
    rate_off = len(off.latencies) / off.elapsed
    print(
        f"ratio on/off: {rate_on / rate_off:.2f}x requests/s, "
        f"p50 {on.percentile(0.5) / off.percentile(0.5):.2f}x, "
        f"p99 {on.percentile(0.99) / off.percentile(0.99):.2f}x"
    )
    faults_held = faults(sentences, expected, args)
    return 1 if on.errors or off.errors or on.mismatches or off.mismatches or not faults_held else 0


if __name__ == "__main__":
    raise SystemExit(main())
