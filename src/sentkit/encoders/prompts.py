"""Prompts: named texts put before inputs, merged from the constructor and the saved config."""

from __future__ import annotations

import logging
from typing import Any

from sentkit.errors import ConfigurationError, InputError

logger = logging.getLogger(__name__)


def merge_prompts(defaults: dict[str, str | None], given: dict[str, str] | None, saved: Any) -> dict[str, str]:
    """``defaults`` updated by the ``given`` prompts, then saved prompts fill names still unset (None).

    As in the reference, a prompt passed to the constructor wins over the saved one of that name,
    and a name left None ends up as the empty prompt.
    """
    merged: dict[str, str | None] = {**defaults, **(given or {})}
    for name, text in (saved if isinstance(saved, dict) else {}).items():
        if merged.get(name) is None:
            merged[name] = text
    return {name: text or "" for name, text in merged.items()}


def check_default_prompt(prompts: dict[str, str], default_prompt_name: str | None) -> None:
    """Raises ConfigurationError if ``default_prompt_name`` names no prompt."""
    if default_prompt_name is not None and default_prompt_name not in prompts:
        raise ConfigurationError(
            f"default_prompt_name={default_prompt_name!r} is not among the prompts {list(prompts)}."
        )


def resolve_prompt(
    prompts: dict[str, str], default_prompt_name: str | None, prompt: str | None, prompt_name: str | None
) -> str | None:
    """The prompt text for a call: ``prompt``, else ``prompts[prompt_name]``, else the default prompt.

    Raises:
        InputError: a ``prompt_name`` that is not among ``prompts``.
    """
    if prompt is not None:
        if prompt_name is not None:
            logger.warning("Both prompt and prompt_name given; using prompt.")
        return prompt
    if prompt_name is not None:
        if prompt_name not in prompts:
            raise InputError(f"prompt_name={prompt_name!r} is not among the prompts {list(prompts)}.")
        return prompts[prompt_name]
    if default_prompt_name is not None:
        return prompts.get(default_prompt_name)
    return None
