"""A real sentkit server in its own process on 127.0.0.1, with faults a test can switch on (no tests here).

Run as ``python -m tests.server_process MODEL_FOLDER FAULTS_FILE [--setting value ...]``: serves the
model as "tiny" with ``ServerSettings(...)`` from the options, on a free loopback port that it
prints as ``PORT <n>`` once listening. Before every model call it reads ``FAULTS_FILE`` (JSON):
``{"delay": seconds}`` slows each call (and marks its start with the file ``FAULTS_FILE.started``),
``{"fail": true}`` makes it raise, so a test can make the model slow or broken, and well again,
without restarting the server. SIGTERM shuts it down the way
``sentkit serve`` does (uvicorn's graceful shutdown).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any


class FaultyModel:
    """Delegates to ``model``; each ``encode`` first applies the faults in ``faults_file``, and a
    slowed call first creates ``faults_file`` + ``.started`` (so a test knows the model is busy)."""

    def __init__(self, model: Any, faults_file: Path) -> None:
        self._model = model
        self._faults_file = faults_file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        try:
            faults = json.loads(self._faults_file.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            faults = {}
        delay = float(faults.get("delay", 0))
        if delay:
            self._faults_file.with_name(self._faults_file.name + ".started").touch()
        time.sleep(delay)
        if faults.get("fail"):
            raise RuntimeError("injected fault: the model is broken")
        return self._model.encode(texts, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("faults")
    parser.add_argument("--max-queue-items", type=int, default=1024)
    parser.add_argument("--max-items-per-request", type=int, default=64)
    parser.add_argument("--request-timeout-s", type=float, default=30.0)
    parser.add_argument("--graceful-s", type=int, default=30)
    args = parser.parse_args()

    import uvicorn

    from sentkit import SentenceTransformer
    from sentkit.server import ServerSettings, create_app

    model = FaultyModel(SentenceTransformer(args.model, device="cpu"), Path(args.faults))
    settings = ServerSettings(
        max_queue_items=args.max_queue_items,
        max_items_per_request=args.max_items_per_request,
        request_timeout_s=args.request_timeout_s,
        health_timeout_s=5.0,
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app({"tiny": model}, settings),
        log_level="warning",
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=args.graceful_s,
    )
    server = uvicorn.Server(config)
    original_startup = server.startup

    async def startup(sockets: Any = None) -> None:
        await original_startup(sockets=sockets)
        print(f"PORT {listener.getsockname()[1]}", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[listener])
    sys.exit(0)


if __name__ == "__main__":
    main()
