"""Run an app with uvicorn: graceful shutdown (in-flight requests finish) on SIGINT / SIGTERM."""

from __future__ import annotations

from typing import Any

from sentkit._optional import require


def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
    graceful_shutdown_s: int = 30,
) -> None:
    """Serve ``app`` until interrupted.

    On SIGINT or SIGTERM uvicorn stops accepting connections, waits up to ``graceful_shutdown_s``
    for the requests in flight to be answered, then runs the app's shutdown (which finishes the
    batchers' queued work).

    Raises:
        MissingDependencyError: uvicorn is not installed (``pip install 'sentkit[server]'``).
        OSError: the address is in use or cannot be bound.
    """
    uvicorn = require("uvicorn", "server", "sentkit serve")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_shutdown_s,
        access_log=log_level == "debug",
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run()
    if getattr(server, "started", True) is False:
        raise OSError(f"Could not start the server on {host}:{port} (is the port in use?).")
