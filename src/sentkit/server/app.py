"""The app factory: ``create_app({"name": model, ...}, ServerSettings(...))`` -> a FastAPI app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sentkit._optional import require

require("fastapi", "server", "The sentkit server")

from fastapi import FastAPI, Request, Response  # noqa: E402 - after the extra is checked
from fastapi.exceptions import RequestValidationError  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

from sentkit.errors import ConfigurationError  # noqa: E402
from sentkit.server.endpoints import ServerState, router  # noqa: E402
from sentkit.server.metrics import Registry  # noqa: E402
from sentkit.server.middleware import AuthMiddleware, BodyLimitMiddleware, MetricsMiddleware, error_body  # noqa: E402
from sentkit.server.runners import ServedModel  # noqa: E402
from sentkit.server.settings import ServerSettings  # noqa: E402

logger = logging.getLogger(__name__)

SHUTDOWN_JOIN_S = 30.0


def create_app(
    models: dict[str, Any], settings: ServerSettings | None = None, indexes: dict[str, Any] | None = None
) -> FastAPI:
    """Build the HTTP app serving ``models`` (served name -> SentenceTransformer, SparseEncoder or CrossEncoder).

    ``indexes`` (served name -> :class:`sentkit.index.VectorIndex`) are searched by ``POST /search``.

    Each model gets a micro-batcher (a worker thread, started on first use) that runs its calls
    off the event loop. The app's lifespan shutdown finishes the queued work and stops the
    workers; uvicorn runs it after the in-flight requests have been answered.

    Raises:
        ConfigurationError: no models, an empty name, an object that is no servable model, or an
            index without ``search``.
    """
    settings = settings or ServerSettings()
    if not models:
        raise ConfigurationError("create_app needs at least one model: {'name': model}.")
    metrics = Registry()
    served: dict[str, ServedModel] = {}
    for name, model in models.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"Model names must be non-empty strings, got {name!r}.")
        served[name] = ServedModel(name, model, settings, metrics)
    for name, index in (indexes or {}).items():
        if not isinstance(name, str) or not name or not callable(getattr(index, "search", None)):
            raise ConfigurationError(f"Indexes must be {{'name': VectorIndex}}, got {name!r}: {type(index).__name__}.")
    state = ServerState(served, settings, metrics, dict(indexes or {}))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.gather(*(asyncio.to_thread(model.batcher.close, SHUTDOWN_JOIN_S) for model in served.values()))

    app = FastAPI(title="sentkit", lifespan=lifespan)
    app.state.sentkit = state
    app.include_router(router)
    _add_error_handlers(app)
    endpoints = frozenset(route.path for route in router.routes if hasattr(route, "path"))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_payload_bytes, metrics=metrics)
    if settings.api_key is not None:
        app.add_middleware(AuthMiddleware, api_key=settings.api_key, metrics=metrics)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics, endpoints=endpoints)  # outermost: sees every answer
    return app


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(status, message), status_code=status, media_type="application/json", headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        exc = cast(HTTPException, exc)  # registered for HTTPException only
        return _error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def validation_error(request: Request, exc: Exception) -> Response:
        parts = []
        for error in cast(RequestValidationError, exc).errors():
            location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
        return _error_response(422, "Invalid request: " + "; ".join(parts) + ".")

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        logger.exception("Unhandled error on %s", request.url.path, exc_info=exc)
        return _error_response(500, f"Internal server error ({type(exc).__name__}).")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
