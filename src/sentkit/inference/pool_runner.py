"""The parent's side of a multi-process pool: hand out chunks, collect answers, notice dead workers.

Every wait is bounded: the parent waits on the workers' pipes and process sentinels together
(``multiprocessing.connection.wait`` with a poll interval), so a worker that dies is noticed at
once and a worker that stops answering is noticed after the pool's timeout. Requests carry a call
number, so an answer that arrives after its call was interrupted (Ctrl+C) is dropped, never
mistaken for an answer to the next call.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from tempfile import TemporaryDirectory
from typing import Any

from tqdm.auto import tqdm

from sentkit.errors import NumericalError, UnencodableTextError
from sentkit.inference.pool_worker import WorkerError, receive, send

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
"""Longest wait between checks of the workers' health (a death is seen at once through its sentinel)."""
STOP_GRACE_SECONDS = 5.0
"""How long :func:`shutdown_workers` lets workers exit on their own before terminating them."""
STARTUP = (0, -1, 0)
"""The ``busy`` marker of a worker that is still loading the model."""


@dataclass
class PoolWorker:
    """One worker process and the parent's end of its pipe.

    ``busy``: ``(call, chunk_id, first input index)`` of the request it works on, or None when idle.
    """

    name: str
    device: str
    process: BaseProcess
    connection: Connection
    busy: tuple[int, int, int] | None = STARTUP
    busy_since: float = field(default_factory=time.monotonic)
    pid: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.pid = self.process.pid  # kept: a closed process object no longer tells it

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid}, device {self.device})"


class _RemoteTraceback(Exception):
    """Carries a worker's traceback text as the cause of the exception re-raised in the parent."""

    def __str__(self) -> str:
        return str(self.args[0])


class WorkerPipes:
    """Request/answer traffic with a list of workers; ``on_failure`` stops the pool before a WorkerError."""

    def __init__(self, workers: list[PoolWorker], timeout: float | None, on_failure: Callable[[], None]) -> None:
        self.workers = workers
        self.timeout = timeout
        self._on_failure = on_failure
        self._call = 0

    def wait_ready(self) -> None:
        """Block until every worker has loaded the model; re-raise the first loading error."""
        while any(worker.busy == STARTUP for worker in self.workers):
            for worker, (_, _, status, payload) in self._receive():
                worker.busy = None
                if status == "failed":
                    exc, text = payload
                    self._on_failure()
                    raise exc from _RemoteTraceback(f"raised in pool worker {worker.describe()}:\n{text}")

    def run(self, chunks: list[list[str]], starts: list[int], kwargs: dict[str, Any], progress: bool) -> list[Any]:
        """Answers to ``chunks`` in chunk order; see :meth:`MultiProcessPool.run`."""
        self._call += 1
        call = self._call
        pending = deque(range(len(chunks)))
        results: list[Any] = [None] * len(chunks)
        failure: tuple[PoolWorker, int, Any] | None = None
        with tqdm(total=len(chunks), desc="Chunks", disable=not progress) as bar:
            while True:
                if failure is None:
                    self._dispatch(call, pending, chunks, starts, kwargs)
                in_flight = any(worker.busy is not None and worker.busy[0] == call for worker in self.workers)
                if not in_flight and (failure is not None or not pending):
                    break
                for worker, (answer_call, chunk_id, status, payload) in self._receive():
                    worker.busy = None
                    if answer_call != call:
                        continue  # a late answer to an interrupted call
                    if status == "ok":
                        results[chunk_id] = payload
                        bar.update()
                    elif failure is None:
                        failure = (worker, starts[chunk_id], payload)
        if failure is not None:
            _raise_chunk_error(*failure)
        return results

    def _dispatch(
        self, call: int, pending: deque[int], chunks: list[list[str]], starts: list[int], kwargs: dict[str, Any]
    ) -> None:
        for worker in self.workers:
            if worker.busy is None and pending:
                chunk_id = pending.popleft()
                worker.busy, worker.busy_since = (call, chunk_id, starts[chunk_id]), time.monotonic()
                try:
                    self._guarded(send, worker.connection, (call, chunk_id, chunks[chunk_id], kwargs))
                except OSError:
                    self._fail(worker, None)

    def _receive(self) -> list[tuple[PoolWorker, Any]]:
        """Wait up to POLL_SECONDS for answers; raise WorkerError for a dead or hung worker."""
        connections = {worker.connection: worker for worker in self.workers}
        sentinels = {worker.process.sentinel: worker for worker in self.workers}
        ready = set(wait([*connections, *sentinels], timeout=POLL_SECONDS))
        answers = []
        for connection, worker in connections.items():
            if connection in ready:
                try:
                    answers.append((worker, self._guarded(receive, connection)))
                except (EOFError, OSError):
                    self._fail(worker, None)
        for sentinel, worker in sentinels.items():
            if sentinel in ready and worker.connection not in ready:
                self._fail(worker, None)
        if self.timeout is not None:
            now = time.monotonic()
            for worker in self.workers:
                if worker.busy is not None and now - worker.busy_since > self.timeout:
                    self._fail(worker, f"did not answer within the pool's timeout of {self.timeout} s")
        return answers

    def _guarded(self, action: Callable[..., Any], *args: Any) -> Any:
        """Send or receive one message; if anything but a closed pipe interrupts it (Ctrl+C, a
        corrupt message), the pipe may hold half a message, so the pool is stopped before re-raising."""
        try:
            return action(*args)
        except (EOFError, OSError):
            raise
        except BaseException:
            self._on_failure()
            raise

    def _fail(self, worker: PoolWorker, reason: str | None) -> None:
        """Stop the pool and raise a WorkerError that names ``worker`` and what it was doing."""
        busy = worker.busy
        worker.process.join(timeout=1.0)  # a dead worker's exit code becomes readable
        if reason is None:
            reason = _exit_reason(worker.process.exitcode)
        self._on_failure()
        if busy == STARTUP:
            doing = " while loading the model"
        elif busy is not None:
            doing = f" while encoding the chunk that starts at input index {busy[2]}"
        else:
            doing = ""
        raise WorkerError(
            f"Pool worker {worker.describe()} {reason}{doing}. The pool has been stopped; "
            "start a new one with start_multi_process_pool() (lower batch_size or chunk_size if it ran out of memory)."
        )


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "closed its pipe without exiting"
    if exitcode < 0:
        try:
            return f"was killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited unexpectedly with code {exitcode}"


def _raise_chunk_error(worker: PoolWorker, start: int, payload: tuple[BaseException, str]) -> None:
    """Re-raise a worker's exception with input indices made relative to the whole input."""
    exc, text = payload
    cause = _RemoteTraceback(f"raised in pool worker {worker.describe()}:\n{text}")
    if isinstance(exc, UnencodableTextError):
        raise UnencodableTextError(start + exc.index) from cause
    if isinstance(exc, NumericalError):
        raise NumericalError(f"{exc} (Indices count from input index {start}, where this chunk starts.)") from cause
    raise exc from cause


def shutdown_workers(workers: list[PoolWorker], folder: TemporaryDirectory[str] | None) -> None:
    """End every worker: a stop message, then terminate, then kill, each with a bounded wait."""
    for worker in workers:
        with contextlib.suppress(OSError, ValueError):  # a worker already gone
            send(worker.connection, None)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for worker in workers:
        _quietly(worker.process.join, max(0.0, deadline - time.monotonic()))
    for worker in workers:
        if _quietly(worker.process.is_alive):
            _quietly(worker.process.terminate)
            _quietly(worker.process.join, 2.0)
        if _quietly(worker.process.is_alive):
            _quietly(worker.process.kill)
            _quietly(worker.process.join, 2.0)
    for worker in workers:
        _quietly(worker.connection.close)
        _quietly(worker.process.close)
    if folder is not None:
        _quietly(folder.cleanup)


def _quietly(action: Callable[..., Any], *args: Any) -> Any:
    """Run one shutdown step; a step that fails (process already closed) must not stop the others."""
    try:
        return action(*args)
    except (OSError, ValueError) as exc:
        logger.debug("pool shutdown step %s failed: %s", getattr(action, "__name__", action), exc)
        return None
