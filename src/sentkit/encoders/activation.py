"""The activation a cross encoder applies to its logits: named by a dotted path in saved configs."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from inspect import isclass
from pathlib import Path
from typing import Any, cast

from torch import nn

from sentkit.errors import ModelFormatError

logger = logging.getLogger(__name__)

Activation = Callable[[Any], Any]


def default_activation(num_labels: int) -> Activation:
    """Sigmoid for one label (a relevance probability), identity for several (raw logits), as the reference."""
    return nn.Sigmoid() if num_labels == 1 else nn.Identity()


def activation_path(activation: Any) -> str:
    """The dotted path the reference writes for ``activation``: its class (``torch.nn.modules.activation.Sigmoid``)."""
    cls = activation if isclass(activation) else type(activation)
    module = cls.__module__
    if module is None or module == "builtins":
        return str(cls.__name__)
    return f"{module}.{cls.__name__}"


def resolve_activation(path: str, trust_remote_code: bool, source: str) -> Activation | None:
    """The activation named by ``path``, or None when ``path`` may not be imported.

    Only ``torch.*`` paths are imported unless ``trust_remote_code`` is set (as in the reference);
    others are skipped with a warning. A class is instantiated without arguments.

    Raises:
        ModelFormatError: a path that cannot be imported (names ``source``, the file it came from).
    """
    if not (trust_remote_code or path.startswith("torch.")):
        logger.warning(
            "Activation function %r in %s is not trusted; using the default activation instead. "
            "Load with trust_remote_code=True to allow it.",
            path,
            source,
        )
        return None
    module_path, _, name = path.rpartition(".")
    try:
        target = getattr(importlib.import_module(module_path), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ModelFormatError(f"Activation function {path!r} in {source} cannot be imported: {exc}") from exc
    if isclass(target):
        return cast(Activation, target())
    if callable(target):
        return cast(Activation, target)
    raise ModelFormatError(f"Activation function {path!r} in {source} is not callable.")


def saved_activation(hf_config: Any, settings: dict[str, Any], folder: Path, trust_remote_code: bool) -> Activation:
    """The activation a saved cross encoder names, newest format first; the default when none (or untrusted).

    Looked up in ``config_sentence_transformers.json`` (``activation_fn``, sentence-transformers 6),
    then the Hugging Face ``config.json``: ``sentence_transformers.activation_fn`` (versions 4 and 5)
    or ``sbert_ce_default_activation_function`` (older).
    """
    candidates: list[tuple[Any, str]] = [(settings.get("activation_fn"), "config_sentence_transformers.json")]
    saved = getattr(hf_config, "sentence_transformers", None)
    if isinstance(saved, dict) and "activation_fn" in saved:
        candidates.append((saved["activation_fn"], "config.json"))
    else:
        candidates.append((getattr(hf_config, "sbert_ce_default_activation_function", None), "config.json"))
    for path, source in candidates:
        if isinstance(path, str):
            resolved = resolve_activation(path, trust_remote_code, str(folder / source))
            if resolved is not None:
                return resolved
            if source == "config.json":
                break
    return default_activation(int(hf_config.num_labels))
