"""The server's settings: limits, micro-batching, auth and CORS, as one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

from sentkit.errors import ConfigurationError


@dataclass(frozen=True)
class ServerSettings:
    """What a ``sentkit serve`` process allows and how it batches.

    Limits (each answered with a JSON error, never a dropped connection):
        max_items_per_request: texts (or rerank documents) in one request; more -> 413.
        max_chars_per_item: characters in one text; longer -> 413.
        max_payload_bytes: request body size; larger -> 413 (checked before the body is parsed).
        max_queue_items: texts waiting for a model, over all requests; past it -> 429 with Retry-After.
        request_timeout_s: how long one request may wait for its results; past it -> 503 with Retry-After.

    Micro-batching (one worker thread per served model runs the model calls off the event loop):
        micro_batching: False runs each request on its own (the "off" side of the load test).
        max_batch_tokens: token budget of one model call: requests are merged until their texts
            hold this many tokens (one text longer than the budget runs alone).
        max_wait_ms: how long the worker waits for more requests once one is queued, while the
            budget is not full. Short: the worker is busy during a model call anyway, and requests
            that arrive meanwhile join the next call.
        encode_batch_size: ``batch_size`` passed to ``encode`` / ``predict`` for a merged call.

    Access:
        api_key: when set, every endpoint but ``GET /health`` needs ``Authorization: Bearer <key>``
            (compared in constant time).
        cors_origins: origins allowed by CORS; empty (the default) adds no CORS headers at all.

    Raises (at construction):
        ConfigurationError: a non-positive limit, or ``max_items_per_request > max_queue_items``
            (such a request could never be queued).
    """

    max_items_per_request: int = 2048
    max_chars_per_item: int = 100_000
    max_payload_bytes: int = 16 * 1024 * 1024
    max_queue_items: int = 16_384
    request_timeout_s: float = 60.0
    micro_batching: bool = True
    max_batch_tokens: int = 16_384
    max_wait_ms: float = 2.0
    encode_batch_size: int = 32
    retry_after_s: int = 1
    health_timeout_s: float = 10.0
    api_key: str | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        positive = {
            "max_items_per_request": self.max_items_per_request,
            "max_chars_per_item": self.max_chars_per_item,
            "max_payload_bytes": self.max_payload_bytes,
            "max_queue_items": self.max_queue_items,
            "request_timeout_s": self.request_timeout_s,
            "max_batch_tokens": self.max_batch_tokens,
            "encode_batch_size": self.encode_batch_size,
            "retry_after_s": self.retry_after_s,
            "health_timeout_s": self.health_timeout_s,
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"ServerSettings.{name} must be a positive number, got {value!r}.")
        if self.max_wait_ms < 0:
            raise ConfigurationError(f"ServerSettings.max_wait_ms must be >= 0, got {self.max_wait_ms!r}.")
        if self.max_items_per_request > self.max_queue_items:
            raise ConfigurationError(
                f"max_items_per_request ({self.max_items_per_request}) exceeds max_queue_items "
                f"({self.max_queue_items}); such a request could never be queued. Raise max_queue_items."
            )
        if self.api_key is not None and not self.api_key:
            raise ConfigurationError("api_key is empty; pass None to serve without a key.")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
