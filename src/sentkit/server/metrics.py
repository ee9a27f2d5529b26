"""Prometheus metrics without a client library: counters, gauges and histograms, text format 0.0.4.

Every metric is thread-safe (the batcher's worker threads and the event loop both record).
:meth:`Registry.render` writes the exposition text that ``GET /metrics`` returns.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Sequence

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536)


def _label_key(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    items = list(labels) + ([extra] if extra else [])
    if not items:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in items) + "}"


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.documentation}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up, per label set."""

    kind = "counter"

    def __init__(self, name: str, documentation: str) -> None:
        super().__init__(name, documentation)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _label_key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(_label_key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_format_labels(key)} {_format_value(value)}" for key, value in items]


class Gauge(Counter):
    """A value that goes up and down, per label set."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        with self._lock:
            self._values[_label_key(labels)] = float(value)


class Histogram(_Metric):
    """Observations counted into cumulative ``le`` buckets, with ``_sum`` and ``_count``."""

    kind = "histogram"

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        super().__init__(name, documentation)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = _label_key(labels)
        position = bisect.bisect_left(self.buckets, value)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            counts[position] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        with self._lock:
            return sum(self._counts.get(_label_key(labels), []))

    def samples(self) -> list[str]:
        lines = []
        with self._lock:
            items = sorted((key, list(counts), self._sums[key]) for key, counts in self._counts.items())
        for key, counts, total in items:
            cumulative = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += count
                lines.append(f"{self.name}_bucket{_format_labels(key, ('le', _format_value(bound)))} {cumulative}")
            lines.append(f"{self.name}_sum{_format_labels(key)} {_format_value(total)}")
            lines.append(f"{self.name}_count{_format_labels(key)} {cumulative}")
        return lines


class Registry:
    """The metrics one server exposes."""

    def __init__(self) -> None:
        self.requests = Counter("sentkit_requests_total", "HTTP requests answered, by endpoint and status code.")
        self.latency = Histogram(
            "sentkit_request_duration_seconds", "Time from request to response, by endpoint.", LATENCY_BUCKETS
        )
        self.in_flight = Gauge("sentkit_requests_in_flight", "HTTP requests being handled.")
        self.batch_size = Histogram(
            "sentkit_batch_size", "Items per model call (after micro-batching), by model.", BATCH_BUCKETS
        )
        self.batch_tokens = Histogram("sentkit_batch_tokens", "Tokens per model call, by model.", TOKEN_BUCKETS)
        self.queue_depth = Gauge("sentkit_queue_depth", "Items waiting for a model call, by model.")
        self.tokens = Counter("sentkit_tokens_total", "Tokens processed, by model.")
        self.items = Counter("sentkit_items_total", "Texts or pairs processed, by model.")
        self.rejected = Counter("sentkit_rejected_total", "Requests refused before a model call, by reason.")

    def all(self) -> list[_Metric]:
        return [
            self.requests,
            self.latency,
            self.in_flight,
            self.batch_size,
            self.batch_tokens,
            self.queue_depth,
            self.tokens,
            self.items,
            self.rejected,
        ]

    def render(self) -> str:
        """The Prometheus text exposition of every metric (format version 0.0.4)."""
        lines: list[str] = []
        for metric in self.all():
            lines += metric.header() + metric.samples()
        return "\n".join(lines) + "\n"
