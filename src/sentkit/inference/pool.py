"""Multi-process encoding: a pool of worker processes, each with its own copy of the model.

Usage (the ``SentenceTransformer`` methods of the same names delegate here)::

    pool = start_multi_process_pool(model, ["cpu", "cpu"])  # or None: every CUDA device, else 4 CPUs
    embeddings = encode_with_pool(model, sentences, pool)   # = model.encode(sentences, pool=pool)
    stop_multi_process_pool(pool)

    with start_multi_process_pool(model) as pool:            # context-manager form: stops on exit
        embeddings = encode_with_pool(model, sentences, pool)

Why it never hangs:

- Workers are started with the "spawn" context, their target lives in sentkit's own entry module
  (:mod:`sentkit.inference.pool_worker`), and the parent's ``__main__`` is hidden while they start,
  so a worker never re-imports the user's script or notebook. (Spawn normally re-runs the
  parent's main script in every child: a script without an ``if __name__ == "__main__"`` guard then
  starts pools from its children, and classes defined in a notebook cannot be unpickled there;
  both make sentence-transformers' pool fail or hang, its issue #1127.)
- The model travels as a folder: the pool saves it once (``model.save``) to a temporary folder that
  every worker loads, so workers hold exactly the parent's in-memory model (changed
  ``max_seq_length``, prompts, fine-tuned weights included) and nothing needs unpickling from
  ``__main__``. The parent's model is left where it is (the reference moves it to the CPU).
- Each worker has its own pipe; the parent waits on the pipes and on the process sentinels
  together, so a worker that dies (SIGKILL, out of memory, segfault) is seen within a poll and
  reported by name as a :class:`WorkerError`; the pool is then stopped.
- :func:`stop_multi_process_pool` always ends every worker: a stop message, then ``terminate``, then
  ``kill``, each with a bounded wait. A pool left unstopped is stopped when garbage-collected or at
  interpreter exit.

Results equal single-process ``encode`` (to float rounding: chunks are padded per batch), in input
order. int8/uint8 ranges are computed over all embeddings, as single-process ``encode`` does.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import sys
import tempfile
import threading
import types
import weakref
from multiprocessing.process import BaseProcess
from typing import Any

from sentkit.errors import ConfigurationError, InputError, InputTypeError
from sentkit.inference.pool_runner import PoolWorker, WorkerPipes, shutdown_workers
from sentkit.inference.pool_worker import WorkerError, WorkerSpec, serve

__all__ = [
    "MultiProcessPool",
    "WorkerError",
    "default_target_devices",
    "encode_with_pool",
    "multi_process_pool",
    "start_multi_process_pool",
    "stop_multi_process_pool",
]

logger = logging.getLogger(__name__)

_MAIN_SWAP_LOCK = threading.Lock()
"""Serialises the moments in which ``sys.modules['__main__']`` is replaced (see :func:`_start_detached`)."""


class MultiProcessPool:
    """Worker processes that each hold a copy of one model; made by :func:`start_multi_process_pool`.

    A context manager (``with start_multi_process_pool(model) as pool:`` stops it on exit).
    ``pool["processes"]`` gives the worker processes, as in the reference's pool dict. One encode
    runs on a pool at a time (a lock serialises callers); :meth:`stop` may be called from any
    thread, any number of times.
    """

    def __init__(
        self,
        model: Any,
        workers: list[PoolWorker],
        folder: tempfile.TemporaryDirectory[str],
        timeout: float | None,
    ) -> None:
        self._model_ref = weakref.ref(model)
        self._folder = folder.name
        self._finalizer = weakref.finalize(self, shutdown_workers, workers, folder)
        # The finalizer, not a bound method, so that a dropped pool is freed (and stopped) at once.
        self._pipes = WorkerPipes(workers, timeout, self._finalizer)
        self._lock = threading.Lock()

    @property
    def workers(self) -> list[PoolWorker]:
        return self._pipes.workers

    @property
    def processes(self) -> list[BaseProcess]:
        return [worker.process for worker in self.workers]

    @property
    def target_devices(self) -> list[str]:
        return [worker.device for worker in self.workers]

    @property
    def model_folder(self) -> str:
        """The temporary folder holding the copy of the model that the workers loaded (removed on stop)."""
        return self._folder

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __getitem__(self, key: str) -> Any:
        if key == "processes":
            return self.processes
        raise KeyError(f"{key!r}: a sentkit pool exposes only 'processes' by key; use its methods otherwise.")

    def __len__(self) -> int:
        return len(self.workers)

    def __enter__(self) -> MultiProcessPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self.closed else "running"
        return f"MultiProcessPool({state}, devices={self.target_devices})"

    def stop(self) -> None:
        """End every worker (stop message, then terminate, then kill) and remove the model copy."""
        self._finalizer()

    def check_model(self, model: Any) -> None:
        """Raise InputError unless this pool was started from ``model`` (else it would encode with another)."""
        if self._model_ref() is not model:
            raise InputError(
                "This pool was started from another model; its workers would encode with that one. "
                "Start a pool from this model: model.start_multi_process_pool()."
            )

    def run(self, chunks: list[list[str]], starts: list[int], kwargs: dict[str, Any], progress: bool) -> list[Any]:
        """Send each chunk of texts to a free worker; return the results in chunk order.

        Raises:
            WorkerError: the pool is stopped, or a worker died or hung (the pool is then stopped).
            Exception: the first error a worker raised on a chunk (indices made relative to the input).
        """
        with self._lock:
            if self.closed:
                raise WorkerError("This pool has been stopped; start a new one with start_multi_process_pool().")
            return self._pipes.run(chunks, starts, kwargs, progress)


def default_target_devices() -> list[str]:
    """Every CUDA device, else four CPU workers (as the reference)."""
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    logger.info("CUDA is not available; starting 4 CPU workers.")
    return ["cpu"] * 4


def start_multi_process_pool(
    model: Any, target_devices: list[Any] | None = None, *, timeout: float | None = None
) -> MultiProcessPool:
    """Start one worker process per entry of ``target_devices`` and wait until each has loaded the model.

    ``target_devices``: e.g. ``["cuda:0", "cuda:1"]`` or ``["cpu"] * 2``; ``None`` gives every CUDA
    device, else four CPU workers. CPU workers share the cores: each gets
    ``max(1, cpu_count // number_of_cpu_workers)`` torch threads (the reference leaves every
    worker at all cores, which oversubscribes). ``timeout``: seconds a worker may take to load the
    model or to encode one chunk before it counts as hung (``None``: no limit; death is always
    detected).

    Raises:
        InputError: an empty device list. ConfigurationError: a model that cannot be saved.
        WorkerError: a worker died while starting. Any error a worker raised while loading.
    """
    devices = default_target_devices() if target_devices is None else [str(device) for device in target_devices]
    if not devices:
        raise InputError("target_devices is empty; pass e.g. ['cpu', 'cpu'] or None for the default devices.")
    folder = tempfile.TemporaryDirectory(prefix="sentkit-pool-")
    workers: list[PoolWorker] = []
    try:
        spec = _snapshot(model, folder.name)
        threads = max(1, (os.cpu_count() or 1) // max(1, devices.count("cpu")))
        context = multiprocessing.get_context("spawn")
        for index, device in enumerate(devices):
            workers.append(_start_worker(context, spec, index, device, threads if device == "cpu" else None))
    except BaseException:
        shutdown_workers(workers, folder)
        raise
    logger.info("Started a multi-process pool on devices: %s", ", ".join(devices))
    pool = MultiProcessPool(model, workers, folder, timeout)
    try:
        pool._pipes.wait_ready()
    except BaseException:
        pool.stop()
        raise
    return pool


def multi_process_pool(model: Any, target_devices: list[Any] | None = None, **options: Any) -> MultiProcessPool:
    """Same as :func:`start_multi_process_pool`; reads well as ``with multi_process_pool(model) as pool:``."""
    return start_multi_process_pool(model, target_devices, **options)


def stop_multi_process_pool(pool: MultiProcessPool) -> None:
    """Stop every worker of ``pool``; safe to call more than once.

    Raises:
        InputTypeError: ``pool`` is not a pool made by :func:`start_multi_process_pool`.
    """
    if not isinstance(pool, MultiProcessPool):
        raise InputTypeError(f"Expected a pool from start_multi_process_pool(), got {type(pool).__name__}.")
    pool.stop()


def encode_with_pool(
    model: Any, sentences: Any, pool: MultiProcessPool | None = None, chunk_size: int | None = None, **kwargs: Any
) -> Any:
    """``model.encode(sentences, **kwargs)`` computed by the workers of ``pool``, in input order.

    Takes every ``encode`` argument. With ``pool=None``, ``device`` must be a list of devices: a
    temporary pool is started on them and stopped afterwards (``encode(device=[...])``); with a
    pool, ``device`` is ignored. ``chunk_size``: texts per request, default
    ``max(1, min(ceil(N / workers / 10), 5000))`` as in the reference. Returns what ``encode``
    returns for the same arguments.

    Raises:
        InputError: a bad ``chunk_size``, a pool started from another model, and every argument
            error ``encode`` raises (checked in this process before any work is sent).
        WorkerError: a worker died or hung (the message names it); the pool is then stopped.
    """
    if pool is None:
        devices = kwargs.get("device")
        if not isinstance(devices, (list, tuple)) or not devices:
            raise InputError("Pass pool= (from start_multi_process_pool) or device=[...] to encode with processes.")
        with start_multi_process_pool(model, list(devices)) as temporary:
            return encode_with_pool(model, sentences, temporary, chunk_size, **kwargs)
    if not isinstance(pool, MultiProcessPool):
        raise InputTypeError(f"pool must come from start_multi_process_pool(), got {type(pool).__name__}.")
    pool.check_model(model)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0):
        raise InputError(f"chunk_size must be a positive int, got {chunk_size!r}.")
    from sentkit.inference.pool_request import PoolRequest

    request = PoolRequest.build(model, sentences, kwargs)
    if not request.texts:
        return model.encode(request.texts, **request.local_kwargs())
    size = chunk_size or max(1, min(math.ceil(len(request.texts) / len(pool) / 10), 5000))
    starts = list(range(0, len(request.texts), size))
    parts = pool.run([request.texts[s : s + size] for s in starts], starts, request.worker_kwargs, request.progress)
    return request.assemble(parts)


def _snapshot(model: Any, folder: str) -> WorkerSpec:
    """Save ``model`` into ``folder`` and describe how a worker rebuilds it."""
    save = getattr(model, "save", None)
    if not callable(save):
        raise ConfigurationError(f"A {type(model).__name__} cannot be saved, so it cannot be sent to pool workers.")
    try:
        save(folder, create_model_card=False)
    except ConfigurationError as exc:
        raise ConfigurationError(f"The pool sends the model to its workers as a saved folder: {exc}") from exc
    model_class = _importable_class(type(model))
    parameter = next(model.parameters(), None)
    dtype = None if parameter is None else str(parameter.dtype).removeprefix("torch.")
    return WorkerSpec(model_class.__module__, model_class.__qualname__, folder, dtype)


def _importable_class(cls: type) -> type:
    """``cls``, or its nearest base class that a fresh process can import (not from ``__main__``)."""
    for candidate in cls.__mro__:
        module = sys.modules.get(candidate.__module__)
        from_main = candidate.__module__ in ("__main__", "__mp_main__") or "<locals>" in candidate.__qualname__
        if not from_main and module is not None and getattr(module, "__spec__", None) is not None:
            return candidate
    raise ConfigurationError(f"No importable class found for {cls.__qualname__}.")


def _start_worker(context: Any, spec: WorkerSpec, index: int, device: str, threads: int | None) -> PoolWorker:
    parent_end, child_end = context.Pipe(duplex=True)
    name = f"sentkit-pool-worker-{index}"
    process = context.Process(target=serve, args=(spec, device, threads, child_end), name=name, daemon=True)
    try:
        _start_detached(process)
    finally:
        child_end.close()  # the child holds its own copy; ours must close so that its death reads as EOF
    return PoolWorker(name, device, process, parent_end)


def _start_detached(process: BaseProcess) -> None:
    """Start ``process`` with ``__main__`` hidden, so that spawn does not re-run the user's script in it.

    Spawn records the parent's main module (its file, or its name under ``python -m``) and
    re-executes it in the child; with a bare module in its place there is nothing to re-run. The
    swap lasts only while ``start`` writes the child's preparation data.
    """
    with _MAIN_SWAP_LOCK:
        user_main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            process.start()
        finally:
            sys.modules["__main__"] = user_main
