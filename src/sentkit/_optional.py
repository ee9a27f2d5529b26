"""Import an optional dependency, or fail with the pip command that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from sentkit.errors import MissingDependencyError


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``; raise :class:`MissingDependencyError` naming ``extra``.

    Example: ``require("onnxruntime", "onnx", "backend='onnx'")``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the package {module!r}, which is not installed. "
            f"Install it with: pip install 'sentkit[{extra}]'"
        ) from exc
