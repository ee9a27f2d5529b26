"""The entry point of a multi-process pool worker (see :mod:`sentkit.inference.pool`).

A worker is a fresh interpreter started by ``multiprocessing``'s "spawn" context with
:func:`serve` as its target. It imports only sentkit (never the parent's ``__main__``), loads the
model from the folder named in its :class:`WorkerSpec`, and then answers requests on its own pipe
until it receives ``None`` or the pipe closes.

Wire protocol (every message is a ``pickle``d tuple sent with ``send_bytes``, so tensors travel by
value and never through torch's shared-memory reducers):

- worker -> parent, once: ``(0, -1, "ready", pid)`` or ``(0, -1, "failed", (exception, traceback))``;
- parent -> worker: ``(call, chunk_id, texts, encode_kwargs)``, or ``None`` to stop;
- worker -> parent: ``(call, chunk_id, "ok", result)`` or ``(call, chunk_id, "error", (exception, traceback))``.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from sentkit.errors import WorkerError


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to rebuild the model: a class to import and a folder to load.

    ``class_module`` / ``class_name``: where the model class lives (never ``__main__``).
    ``folder``: a saved model folder. ``dtype``: the parent's parameter dtype (``"float16"``...),
    applied after loading. ``method``: the model method that a request calls (``"encode"``).
    """

    class_module: str
    class_name: str
    folder: str
    dtype: str | None = None
    method: str = "encode"


def send(connection: Connection, message: Any) -> None:
    connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def receive(connection: Connection) -> Any:
    return pickle.loads(connection.recv_bytes())


def portable_error(exc: BaseException) -> tuple[BaseException, str]:
    """``(exception, traceback text)``; an exception that does not survive pickling becomes a WorkerError."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return WorkerError(f"{type(exc).__name__}: {exc}"), text
    return exc, text


def to_cpu(value: Any) -> Any:
    """``value`` with every tensor (also inside lists, tuples and dicts) moved to the CPU.

    Token embeddings and feature dicts stay on the worker's device after ``encode``; a CUDA tensor
    sent as it is would be rebuilt on the GPU in the parent.
    """
    if hasattr(value, "is_cuda") and hasattr(value, "cpu"):
        return value.cpu()
    if isinstance(value, dict):
        return {key: to_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(item) for item in value)
    return value


def load_model(spec: WorkerSpec, device: str, threads: int | None) -> Any:
    """Import the model class named in ``spec`` and load ``spec.folder`` onto ``device``."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    model_class: Any = importlib.import_module(spec.class_module)
    for part in spec.class_name.split("."):
        model_class = getattr(model_class, part)
    model = model_class(spec.folder, device=device)
    if spec.dtype is not None:
        model.to(getattr(torch, spec.dtype))
    return model


def serve(spec: WorkerSpec, device: str, threads: int | None, connection: Connection) -> None:
    """Load the model, report ready, then answer requests until ``None`` or a closed pipe."""
    # Ctrl+C reaches the whole process group; the parent decides what happens to the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        model = load_model(spec, device, threads)
    except Exception as exc:
        send(connection, (0, -1, "failed", portable_error(exc)))
        return
    send(connection, (0, -1, "ready", os.getpid()))
    method = getattr(model, spec.method)
    while True:
        try:
            request = receive(connection)
        except (EOFError, OSError):
            return  # the parent is gone
        if request is None:
            return
        call, chunk_id, texts, kwargs = request
        try:
            reply = (call, chunk_id, "ok", to_cpu(method(texts, **kwargs)))
        except Exception as exc:
            reply = (call, chunk_id, "error", portable_error(exc))
        try:
            send(connection, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # a result that cannot be pickled
            send(connection, (call, chunk_id, "error", portable_error(exc)))
