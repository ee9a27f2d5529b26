"""ONNX Runtime sessions for exported pipelines (imports onnxruntime and numpy, never torch)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sentkit._optional import require
from sentkit.errors import ModelFormatError


def physical_cores() -> int:
    """Physical CPU cores this process may use (hyper-threads share a core's matrix units)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or available
    except ImportError:
        physical = available
    return max(1, min(available, physical))


def create_session(
    path: Path, threads: int | None = None, providers: list[str] | None = None, profile_prefix: str | None = None
) -> Any:
    """An inference session on ``path`` with every graph optimization and ``threads`` intra-op threads.

    ``threads`` defaults to :func:`physical_cores`; ``providers`` to CUDA when onnxruntime-gpu
    offers it, else the CPU. With ``profile_prefix``, ONNX Runtime records every node's run and
    ``session.end_profiling()`` writes them to a JSON file named from that prefix.

    Raises:
        MissingDependencyError: onnxruntime is not installed.
        ModelFormatError: the file is missing or not a valid ONNX model.
    """
    ort = require("onnxruntime", "onnx", "backend='onnx'")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    if providers is None:
        available = ort.get_available_providers()
        providers = [name for name in ("CUDAExecutionProvider", "CPUExecutionProvider") if name in available]
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ModelFormatError(f"Cannot load the ONNX model {path}: {exc}") from exc


class SessionRunner:
    """Feeds token arrays to a session: int64 inputs by name, named outputs back as numpy arrays."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_names = [node.name for node in session.get_inputs()]

    def __call__(self, arrays: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        """Run on ``arrays`` (each (B, T); missing ``token_type_ids`` are zeros)."""
        feed = {}
        for name in self.input_names:
            value = arrays.get(name)
            if value is None:
                value = np.zeros_like(arrays["input_ids"])
            feed[name] = np.ascontiguousarray(value, dtype=np.int64)
        return list(self.session.run(outputs, feed))
