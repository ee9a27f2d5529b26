"""Helpers for the server tests: a real uvicorn server on 127.0.0.1 in a thread, and a model wrapper
whose calls a test can hold, slow down or break. (No tests here.)"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class LiveServer:
    """A uvicorn server running ``app`` on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any, graceful_s: int = 10) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=graceful_s
        )
        self.app = app
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(STOP_TIMEOUT_S)
        self.socket.close()


@contextlib.contextmanager
def live_server(models: dict[str, Any], **settings: Any) -> Iterator[LiveServer]:
    """Serve ``models`` with ``ServerSettings(**settings)`` for the duration of the block."""
    from sentkit.server import ServerSettings, create_app

    server = LiveServer(create_app(models, ServerSettings(**settings))).start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` every 10 ms for at most ``timeout`` seconds; whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def queued(running: LiveServer, name: str) -> int:
    """Items waiting in the batcher of the served model ``name``."""
    return int(running.app.state.sentkit.models[name].batcher.queued_items)


class Controlled:
    """Wraps a model: every ``encode`` / ``predict`` call is recorded, waits for ``gate``, sleeps
    ``delay`` seconds, and fails (InputError) when a text equals ``fail_on``; the rest is delegated."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.delay = 0.0
        self.fail_on: str | None = None
        self.calls: list[list[Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _hold(self, items: list[Any]) -> None:
        from sentkit.errors import InputError

        self.calls.append(list(items))
        self.entered.set()
        if not self.gate.wait(STOP_TIMEOUT_S):
            raise TimeoutError("the test never opened the gate")
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in items:
            raise InputError(f"refusing {self.fail_on!r}")

    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        self._hold(texts)
        return self._model.encode(texts, **kwargs)


def tiny_dense_model(hf_checkpoints: dict[str, Path]) -> Any:
    from sentkit import SentenceTransformer

    return SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")


def optional_model(kind: str, folder: Path) -> Any:
    """A tiny CrossEncoder / SparseEncoder, or a skip while that class or its test builder is missing."""
    try:
        import sentkit
        from tests import tiny_models

        cls = getattr(sentkit, "CrossEncoder" if kind == "rerank" else "SparseEncoder")
        builder = getattr(tiny_models, "build_sequence_classifier" if kind == "rerank" else "build_masked_lm")
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"{kind} models are not available yet: {exc}")
    return cls(str(builder(folder)), device="cpu")
