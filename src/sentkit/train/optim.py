"""Optimizer parameter groups and learning-rate schedules for the trainers and ``fit``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from sentkit.errors import ConfigurationError

# Parameter-name parts that the classic ``fit`` API exempts from weight decay.
FIT_NO_DECAY = ("bias", "LayerNorm.bias", "LayerNorm.weight")
SCHEDULERS = ("constantlr", "warmupconstant", "warmuplinear", "warmupcosine", "warmupcosinewithhardrestarts")


def parameter_groups(
    module: nn.Module, decay_names: set[str], weight_decay: float, learning_rate_mapping: dict[str, float] | None
) -> list[dict[str, Any]]:
    """Trainable parameters of ``module`` in optimizer groups.

    Parameters named in ``decay_names`` get ``weight_decay``, the others 0. Parameters whose name
    matches a ``learning_rate_mapping`` pattern (``re.search``; the first pattern wins) get that
    pattern's learning rate in groups of their own.

    Raises:
        ConfigurationError: a pattern that matches no parameter.
    """
    named = [(name, parameter) for name, parameter in module.named_parameters() if parameter.requires_grad]
    mapping = dict(learning_rate_mapping or {})
    for pattern in mapping:
        if not any(re.search(pattern, name) for name, _ in named):
            raise ConfigurationError(f"learning_rate_mapping pattern {pattern!r} matches no parameter.")
    groups: dict[tuple[float | None, bool], list[nn.Parameter]] = {}
    for name, parameter in named:
        lr = next((rate for pattern, rate in mapping.items() if re.search(pattern, name)), None)
        groups.setdefault((lr, name in decay_names), []).append(parameter)
    result = []
    for (lr, decays), parameters in groups.items():
        group: dict[str, Any] = {"params": parameters, "weight_decay": weight_decay if decays else 0.0}
        if lr is not None:
            group["lr"] = lr
        result.append(group)
    return result


def fit_parameter_groups(named: Iterable[tuple[str, nn.Parameter]], weight_decay: float) -> list[dict[str, Any]]:
    """The two groups of the classic ``fit``: names containing a :data:`FIT_NO_DECAY` part get no decay."""
    named = list(named)
    return [
        {"params": [p for n, p in named if not any(part in n for part in FIT_NO_DECAY)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if any(part in n for part in FIT_NO_DECAY)], "weight_decay": 0.0},
    ]


def named_scheduler(optimizer: torch.optim.Optimizer, scheduler: str, warmup_steps: int, total_steps: int) -> Any:
    """A learning-rate schedule by its classic ``fit`` name (case-insensitive): see :data:`SCHEDULERS`.

    Raises:
        ConfigurationError: an unknown name.
    """
    import transformers

    name = scheduler.lower()
    if name == "constantlr":
        return transformers.get_constant_schedule(optimizer)
    if name == "warmupconstant":
        return transformers.get_constant_schedule_with_warmup(optimizer, num_warmup_steps=warmup_steps)
    builders: dict[str, Any] = {
        "warmuplinear": transformers.get_linear_schedule_with_warmup,
        "warmupcosine": transformers.get_cosine_schedule_with_warmup,
        "warmupcosinewithhardrestarts": transformers.get_cosine_with_hard_restarts_schedule_with_warmup,
    }
    if name not in builders:
        raise ConfigurationError(f"scheduler={scheduler!r} is not known; use one of {list(SCHEDULERS)}.")
    return builders[name](optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)
