"""Module weights on disk: safetensors first, a ``.bin`` only through ``weights_only`` loading."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from sentkit.errors import ModelFormatError

SAFETENSORS_NAME = "model.safetensors"
PICKLE_NAME = "pytorch_model.bin"


def check_safetensors(path: Path) -> None:
    """Raise :class:`ModelFormatError` if ``path`` is not a complete safetensors file."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except (SafetensorError, OSError) as exc:
        raise ModelFormatError(
            f"{path} is not a valid safetensors file ({exc}). It may be truncated or corrupt: "
            "download or copy it again."
        ) from exc


def load_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """Read the weights saved in ``folder``.

    Raises:
        ModelFormatError: no weights file, or one that is truncated or corrupt.
    """
    safetensors_path = folder / SAFETENSORS_NAME
    if safetensors_path.is_file():
        check_safetensors(safetensors_path)
        try:
            return load_file(str(safetensors_path))
        except (SafetensorError, OSError) as exc:
            raise ModelFormatError(f"Cannot read weights from {safetensors_path}: {exc}") from exc
    pickle_path = folder / PICKLE_NAME
    if pickle_path.is_file():
        try:
            state = torch.load(pickle_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several unrelated types for a bad file
            raise ModelFormatError(
                f"Cannot read weights from {pickle_path} (loaded with weights_only=True): {exc}"
            ) from exc
        if not isinstance(state, dict):
            raise ModelFormatError(f"{pickle_path} does not hold a state dict.")
        return state
    raise ModelFormatError(f"No weights in {folder}: expected {SAFETENSORS_NAME} or {PICKLE_NAME}.")


def load_weights_into(module: torch.nn.Module, folder: Path) -> None:
    """Load the weights in ``folder`` into ``module``; every key must match, shapes included.

    Raises:
        ModelFormatError: missing, unexpected or mis-shaped weights, named.
    """
    state = load_state_dict(folder)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{key} {tuple(state[key].shape)} vs {tuple(expected[key].shape)}"
        for key in set(state) & set(expected)
        if state[key].shape != expected[key].shape
    )
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    if mismatched:
        problems.append(f"wrong shape (file vs config) {mismatched}")
    if problems:
        raise ModelFormatError(
            f"The weights in {folder} do not match the {type(module).__name__} config: " + "; ".join(problems)
        )
    module.load_state_dict(state)


def save_weights(module: torch.nn.Module, folder: Path, safe_serialization: bool = True) -> None:
    """Write ``module``'s state dict to ``folder`` (safetensors unless asked otherwise)."""
    state = {key: value.detach().contiguous() for key, value in module.state_dict().items()}
    if safe_serialization:
        save_file(state, str(folder / SAFETENSORS_NAME))
    else:
        torch.save(state, folder / PICKLE_NAME)
