"""Plain ASGI middleware: request metrics, API-key auth, and the request body size limit.

They answer refusals themselves with the server's JSON error body, before any routing or body
parsing happens, and pass every non-HTTP scope (lifespan) through untouched.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sentkit.server.metrics import Registry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    501: "not_implemented",
    503: "service_unavailable",
    504: "timeout",
}

PUBLIC_PATHS = frozenset({"/health"})


def error_body(status: int, message: str) -> bytes:
    """The JSON error every refusal carries: ``{"error": {"message", "type", "code"}}`` (OpenAI's shape)."""
    error = {"message": message, "type": ERROR_TYPES.get(status, "error"), "code": status}
    return json.dumps({"error": error}).encode()


async def send_error(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = error_body(status, message)
    base = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": base + (headers or [])})
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Counts requests by endpoint and status, times them, and tracks how many are in flight."""

    def __init__(self, app: ASGIApp, metrics: Registry, endpoints: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in self.endpoints else "other"
        status = {"code": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        started = time.perf_counter()
        self.metrics.in_flight.inc(1)
        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.in_flight.inc(-1)
            self.metrics.latency.observe(time.perf_counter() - started, endpoint=endpoint)
            self.metrics.requests.inc(endpoint=endpoint, status=str(status["code"]))


class AuthMiddleware:
    """Requires ``Authorization: Bearer <api_key>`` on every path but ``/health`` (and CORS preflights)."""

    def __init__(self, app: ASGIApp, api_key: str, metrics: Registry) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        provided = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                provided = value
                break
        if not hmac.compare_digest(provided, self.expected):
            self.metrics.rejected.inc(reason="auth")
            message = "Missing or wrong API key; send the header 'Authorization: Bearer <key>'."
            await send_error(send, 401, message, [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413: by Content-Length when given, else while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Registry) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                declared = int(value) if value.isdigit() else None
                break
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, declared)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body up to the limit, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send, size)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: int) -> None:
        self.metrics.rejected.inc(reason="payload_too_large")
        message = f"The request body ({size} bytes or more) exceeds the limit of {self.max_bytes} bytes."
        await send_error(send, 413, message)
