"""Micro-batching: texts from many concurrent requests run through the model in shared calls.

A :class:`MicroBatcher` owns one worker thread, so model calls never block the event loop.
Requests queue their items; the worker takes items from the head of the queue (first come, first
served, split across calls when a request is larger than the budget) until ``max_batch_tokens``
is reached or, when the queue runs dry, until ``max_wait_s`` has passed, and runs them in one call.
Only requests with the same ``key`` (e.g. the same prompt) share a call. Each request gets its
own items' results back, in its order.

A call that fails while holding several requests is run again request by request, so one bad
request cannot fail its neighbours. The queue is bounded in items: :meth:`MicroBatcher.enqueue`
returns ``None`` instead of queueing past ``max_queue_items``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentkit.server.metrics import Registry

logger = logging.getLogger(__name__)

RunBatch = Callable[[Hashable, list[Any]], Sequence[Any]]


@dataclass
class _Job:
    """One request's items, the part already handed to the worker, and where its results go."""

    items: list[Any]
    tokens: list[int]
    key: Hashable
    future: asyncio.Future[list[Any]]
    loop: asyncio.AbstractEventLoop
    results: list[Any] = field(default_factory=list)
    taken: int = 0
    done: int = 0
    abandoned: bool = False

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)


@dataclass
class _Slice:
    job: _Job
    start: int
    stop: int


class MicroBatcher:
    """Merge concurrent requests into shared model calls on one worker thread.

    Args:
        run_batch: ``run_batch(key, items) -> results``, one result per item in order; called on
            the worker thread only.
        name: used in the thread name and as the ``model`` label of the metrics.
        max_batch_tokens: token budget of one call (at least one item per call).
        max_wait_s: how long to wait for more items while the budget is not full.
        max_queue_items: items queued at most; :meth:`enqueue` refuses past it.
        enabled: False makes every request its own call (no merging), for comparison.
        metrics: where batch sizes, tokens and queue depth are recorded.
    """

    def __init__(
        self,
        run_batch: RunBatch,
        *,
        name: str,
        max_batch_tokens: int,
        max_wait_s: float,
        max_queue_items: int,
        enabled: bool = True,
        metrics: Registry | None = None,
    ) -> None:
        self._run_batch = run_batch
        self.name = name
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue_items = max_queue_items
        self.enabled = enabled
        self._metrics = metrics or Registry()
        self._pending: deque[_Job] = deque()
        self._queued_items = 0
        self._queued_tokens = 0
        self._condition = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    # --------------------------------------------------------------------------- event loop side
    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def queued_items(self) -> int:
        return self._queued_items

    def enqueue(self, items: list[Any], tokens: list[int], key: Hashable = None) -> asyncio.Future[list[Any]] | None:
        """Queue ``items`` (with their token counts); call from a running event loop.

        Returns a future that resolves to the results in item order (or raises what the model
        call raised), or ``None`` when the queue is full or the batcher is closed. Cancelling
        the future (e.g. by a timeout) drops the items not yet run.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        job = _Job(list(items), list(tokens), key, future, loop)
        if not job.items:
            future.set_result([])
            return future
        with self._condition:
            if self._closing or self._queued_items + len(job.items) > self.max_queue_items:
                return None
            self._ensure_started()
            self._pending.append(job)
            self._queued_items += len(job.items)
            self._queued_tokens += sum(job.tokens)
            self._metrics.queue_depth.set(self._queued_items, model=self.name)
            self._condition.notify()
        future.add_done_callback(lambda done: self._abandon(job, done))
        return future

    def _abandon(self, job: _Job, future: asyncio.Future[list[Any]]) -> None:
        """A cancelled request (its caller timed out or left): free its queued items now."""
        if not future.cancelled():
            return
        with self._condition:
            if job.abandoned:
                return
            job.abandoned = True
            self._forget(job, job.taken, len(job.items))  # items already running finish; the rest never run
            job.taken = len(job.items)
            self._pending = deque(other for other in self._pending if other is not job)
            self._metrics.queue_depth.set(self._queued_items, model=self.name)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking requests, finish the queued ones, and join the worker thread."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _ensure_started(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"sentkit-batcher-{self.name}", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------------------ worker side
    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._run(batch)

    def _next_batch(self) -> list[_Slice] | None:
        """Block until items are queued; gather up to the budget; None once closed and drained."""
        with self._condition:
            while not self._pending:
                if self._closing:
                    return None
                self._condition.wait()
            if self.enabled and self.max_wait_s > 0:
                deadline = time.monotonic() + self.max_wait_s
                while self._queued_tokens < self.max_batch_tokens and not self._closing:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
            batch = self._take()
            self._metrics.queue_depth.set(self._queued_items, model=self.name)
            return batch

    def _take(self) -> list[_Slice]:
        """Remove the next call's items from the queue (lock held): same key as the head, FIFO."""
        batch: list[_Slice] = []
        budget = self.max_batch_tokens
        key: Hashable = None
        kept: deque[_Job] = deque()
        while self._pending:
            job = self._pending.popleft()  # abandoned jobs have left the queue already (_abandon, _fail)
            if batch and (job.key != key or budget <= 0 or not self.enabled):
                kept.append(job)
                continue
            key = job.key
            start = stop = job.taken
            while stop < len(job.items) and (self._fits(job, stop, budget) or (stop == start and not batch)):
                budget -= job.tokens[stop]
                stop += 1
            if stop == start:
                kept.append(job)
                continue
            self._forget(job, start, stop)
            job.taken = stop
            batch.append(_Slice(job, start, stop))
            if stop < len(job.items):
                kept.append(job)
        kept.extend(self._pending)
        self._pending = kept
        return batch

    def _fits(self, job: _Job, index: int, budget: int) -> bool:
        return not self.enabled or job.tokens[index] <= budget

    def _forget(self, job: _Job, start: int, stop: int) -> None:
        self._queued_items -= stop - start
        self._queued_tokens -= sum(job.tokens[start:stop])

    def _run(self, batch: list[_Slice]) -> None:
        items = [item for part in batch for item in part.job.items[part.start : part.stop]]
        tokens = sum(sum(part.job.tokens[part.start : part.stop]) for part in batch)
        self._metrics.batch_size.observe(len(items), model=self.name)
        self._metrics.batch_tokens.observe(tokens, model=self.name)
        self._metrics.items.inc(len(items), model=self.name)
        self._metrics.tokens.inc(tokens, model=self.name)
        try:
            results = list(self._run_batch(batch[0].job.key, items))
            if len(results) != len(items):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(items)} items.")
        except Exception as exc:  # the model call failed: isolate the failing request
            if len({id(part.job) for part in batch}) > 1:
                for part in batch:
                    self._run([part])
                return
            logger.debug("Model call failed for %s: %r", self.name, exc)
            self._fail(batch[0].job, exc)
            return
        position = 0
        for part in batch:
            count = part.stop - part.start
            part.job.results[part.start : part.stop] = results[position : position + count]
            position += count
            part.job.done += count
            if part.job.done == len(part.job.items):
                _settle(part.job, part.job.results, None)

    def _fail(self, job: _Job, exc: BaseException) -> None:
        with self._condition:
            if not job.abandoned and job.taken < len(job.items):
                self._forget(job, job.taken, len(job.items))
                job.taken = len(job.items)
                self._pending = deque(other for other in self._pending if other is not job)
            job.abandoned = True
        _settle(job, None, exc)


def _settle(job: _Job, results: list[Any] | None, exc: BaseException | None) -> None:
    """Hand a job's outcome to its event loop (the loop may already be closed at shutdown)."""

    def apply() -> None:
        if job.future.done():
            return
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(list(results or []))

    try:
        job.loop.call_soon_threadsafe(apply)
    except RuntimeError:
        logger.debug("Event loop closed before a result of %s could be delivered.", job.key)
