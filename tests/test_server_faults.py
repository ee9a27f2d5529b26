"""The server under load and faults, as a real process on 127.0.0.1 (tests/server_process.py).

Sustained load with every vector checked, overload (429 + Retry-After, never a hang), request
timeouts (503 that frees the queue), SIGTERM with requests in flight, and a broken model that
fails /health and recovers. Every wait is bounded, so a hang fails the test instead of CI.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from sentkit import SentenceTransformer  # noqa: E402
from tests.reference import reference_model  # noqa: E402
from tests.test_server_support import wait_until  # noqa: E402
from tests.tiny_models import corpus_lines  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0
SUSTAINED_S = float(os.environ.get("SENTKIT_LOAD_TEST_SECONDS", "30"))
TOLERANCE = 1e-5


class ServerProcess:
    """``tests/server_process.py`` running in a subprocess, with its faults file."""

    def __init__(self, model: Path, folder: Path, **settings: Any) -> None:
        self.faults = folder / "faults.json"
        self.faults.write_text("{}", encoding="utf-8")
        options = [item for key, value in settings.items() for item in (f"--{key.replace('_', '-')}", str(value))]
        command = [sys.executable, "-m", "tests.server_process", str(model), str(self.faults), *options]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{self._read_port()}"

    def _read_port(self) -> int:
        found: list[int] = []
        reader = threading.Thread(target=lambda: found.extend(_port_lines(self.process)), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        if not found:
            self.stop()
            raise RuntimeError("the server process did not start")
        return found[0]

    def set_faults(self, **faults: Any) -> None:
        staged = self.faults.with_name("faults.json.tmp")
        staged.write_text(json.dumps(faults), encoding="utf-8")
        os.replace(staged, self.faults)  # the server never reads half a file

    @property
    def started(self) -> Path:
        """Created by the server when a slowed model call begins."""
        return self.faults.with_name(self.faults.name + ".started")

    def metric(self, name: str) -> float:
        """The value of one ``/metrics`` series of the model ("tiny"), 0 when absent."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        values = [line.split()[-1] for line in text.splitlines() if line.startswith(f'{name}{{model="tiny"}}')]
        return float(values[0]) if values else 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _port_lines(process: subprocess.Popen[str]) -> Iterator[int]:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("PORT "):
            yield int(line.split()[1])
            return


@pytest.fixture(scope="module")
def model_folder(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reference_model(hf_checkpoints["bert"], tmp_path_factory.mktemp("faults") / "model")


@pytest.fixture(scope="module")
def expected(model_folder: Path) -> dict[str, np.ndarray]:
    """What ``encode`` gives for every corpus line (normalized, as /embed answers by default)."""
    texts = corpus_lines()[:40]
    vectors = SentenceTransformer(str(model_folder), device="cpu").encode(texts, normalize_embeddings=True)
    return dict(zip(texts, vectors, strict=True))


@pytest.fixture
def server(model_folder: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    running = ServerProcess(model_folder, tmp_path, **getattr(request, "param", {}))
    try:
        yield running
    finally:
        running.stop()


def _refused(url: str) -> bool:
    """Whether a new request is refused: no connection, or 503 while the server shuts down."""
    try:
        return httpx.post(f"{url}/embed", json={"inputs": ["late"]}, timeout=5).status_code == 503
    except httpx.TransportError:
        return True


def _check_vectors(reply: Any, texts: list[str], expected: dict[str, np.ndarray]) -> None:
    assert reply.status_code == 200, reply.text
    got = np.array(reply.json(), dtype=np.float32)
    want = np.stack([expected[text] for text in texts])
    assert np.abs(got - want).max() <= TOLERANCE


def test_sustained_load_returns_what_encode_returns(server: ServerProcess, expected: dict[str, np.ndarray]) -> None:
    texts = list(expected)
    counts: list[int] = []
    failures: list[str] = []

    def client(seed: int, ready: threading.Barrier, seconds: float) -> None:
        chooser = random.Random(seed)
        done = 0
        with httpx.Client(base_url=server.url, timeout=30) as http:
            ready.wait(60)  # every client exists before the clock starts
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                batch = chooser.sample(texts, chooser.randint(1, 4))
                reply = http.post("/embed", json={"inputs": batch})
                try:
                    _check_vectors(reply, batch, expected)
                except AssertionError as error:
                    failures.append(str(error)[:200])
                    return
                done += 1
        counts.append(done)

    started = time.monotonic()
    for clients in (8, 32):  # half the time at each load
        ready = threading.Barrier(clients)
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients), [ready] * clients, [SUSTAINED_S / 2] * clients))
    elapsed = time.monotonic() - started
    assert failures == []
    assert len(counts) == 40
    assert all(count > 0 for count in counts)
    rate = sum(counts) / elapsed
    print(f"sustained load: {sum(counts)} requests in {elapsed:.1f} s ({rate:.0f}/s), all equal to encode")


@pytest.mark.parametrize("server", [{"max_queue_items": 8, "max_items_per_request": 4}], indirect=True)
def test_overload_answers_429_with_retry_after_and_never_hangs(
    server: ServerProcess, expected: dict[str, np.ndarray]
) -> None:
    server.set_faults(delay=0.2)
    texts = list(expected)[:4]
    started = time.monotonic()
    with ThreadPoolExecutor(40) as pool, httpx.Client(base_url=server.url, timeout=30) as http:
        replies = list(pool.map(lambda _: http.post("/embed", json={"inputs": texts}), range(40)))
    assert time.monotonic() - started < 30
    statuses = sorted({reply.status_code for reply in replies})
    assert statuses == [200, 429]
    for reply in replies:
        if reply.status_code == 429:
            assert reply.headers["retry-after"] == "1"
            assert "is full" in reply.json()["error"]["message"]
        else:
            _check_vectors(reply, texts, expected)


@pytest.mark.parametrize(
    "server", [{"max_queue_items": 4, "max_items_per_request": 4, "request_timeout_s": 2.0}], indirect=True
)
def test_a_request_timeout_answers_503_and_frees_its_place(
    server: ServerProcess, expected: dict[str, np.ndarray]
) -> None:
    texts = list(expected)[:4]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/embed", json={"inputs": texts}).status_code == 200  # warm: the worker thread exists
        server.set_faults(delay=3)
        with ThreadPoolExecutor(2) as pool:
            running = pool.submit(http.post, "/embed", json={"inputs": texts})  # holds the model 3 s
            assert wait_until(server.started.exists, 20)
            queued = pool.submit(http.post, "/embed", json={"inputs": texts})  # fills the queue
            assert wait_until(lambda: server.metric("sentkit_queue_depth") == 4, 20)
            full = http.post("/embed", json={"inputs": texts})
            server.set_faults()  # the call in progress keeps its 3 s; later calls are quick
            timed_out = queued.result(30)  # at 2.3 s, while the model is still busy
            # Its items left the queue at once: a new request fits, and runs when the model is free (3 s).
            freed = http.post("/embed", json={"inputs": texts})
            first = running.result(30)
    assert full.status_code == 429
    assert timed_out.status_code == 503
    assert timed_out.headers["retry-after"] == "1"
    assert "did not finish within 2 s" in timed_out.json()["error"]["message"]
    assert first.status_code == 503  # it timed out too, while its call was running
    _check_vectors(freed, texts, expected)


def test_sigterm_finishes_every_request_in_flight_and_refuses_new_ones(
    server: ServerProcess, expected: dict[str, np.ndarray]
) -> None:
    server.set_faults(delay=0.3)
    texts = list(expected)
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    with ThreadPoolExecutor(50) as pool, httpx.Client(base_url=server.url, timeout=60, limits=limits) as http:
        futures = [pool.submit(http.post, "/embed", json={"inputs": [texts[i % len(texts)]]}) for i in range(50)]
        # Every request has reached the model or its queue (items run + items waiting).
        assert wait_until(lambda: server.metric("sentkit_items_total") + server.metric("sentkit_queue_depth") >= 50, 60)
        server.process.send_signal(signal.SIGTERM)
        assert wait_until(lambda: _refused(server.url), 20)  # the listening socket closes
        replies = [future.result(60) for future in futures]
    for index, reply in enumerate(replies):
        _check_vectors(reply, [texts[index % len(texts)]], expected)
    # uvicorn re-raises SIGTERM once it has drained, so the process ends as terminated by it.
    assert server.process.wait(60) in (0, -signal.SIGTERM)


def test_a_broken_model_fails_health_and_recovers(server: ServerProcess, expected: dict[str, np.ndarray]) -> None:
    texts = list(expected)[:2]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/health").status_code == 200
        server.set_faults(fail=True)
        health = http.get("/health")
        embed = http.post("/embed", json={"inputs": texts})
        server.set_faults()
        recovered = http.get("/health")
        again = http.post("/embed", json={"inputs": texts})
    assert health.status_code == 503
    assert "tiny" in health.json()["models"]
    assert embed.status_code == 500
    assert "RuntimeError" in embed.json()["error"]["message"]
    assert recovered.status_code == 200
    _check_vectors(again, texts, expected)
