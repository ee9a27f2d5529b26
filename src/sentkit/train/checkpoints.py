"""Checkpoints of the trainers: model folders that sentkit and sentence-transformers both load.

A checkpoint folder (``output_dir/checkpoint-<step>``) holds the model in the sentence-transformers
format, the trainable parameters that losses own (``loss_state.safetensors``, when there are
any), and what the Hugging Face trainer adds: optimizer, scheduler, RNG states, trainer state.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

LOSS_STATE_NAME = "loss_state.safetensors"


class CheckpointMixin:
    """Saving and loading for :class:`~sentkit.train.base_trainer.BaseTrainer` (a Hugging Face Trainer)."""

    model: Any
    args: Any
    state: Any
    processing_class: Any

    def _losses(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def _loss_state(self) -> dict[str, torch.Tensor]:
        """Trainable parameters that the losses own (not the model's), keyed ``loss/name``."""
        model_parameters = {id(parameter) for parameter in self.model.parameters()}
        state = {}
        for loss_name, part in self._losses().items():
            for name, parameter in part.named_parameters():
                if parameter.requires_grad and id(parameter) not in model_parameters:
                    state[f"{loss_name}/{name}"] = parameter.detach().contiguous().cpu()
        return state

    def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
        """Save the model folder, the loss-owned state and the training arguments."""
        folder = Path(output_dir if output_dir is not None else self.args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder))
        if self.processing_class is not None:
            self.processing_class.save_pretrained(str(folder))
        if loss_state := self._loss_state():
            from safetensors.torch import save_file

            save_file(loss_state, str(folder / LOSS_STATE_NAME))
        torch.save(self.args, folder / "training_args.bin")

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        """Load a checkpoint folder's weights into the model, and the losses' own state if saved."""
        target = model if model is not None else self.model
        device = next(target.parameters()).device
        loaded = type(target)(resume_from_checkpoint, device=str(device))
        target.load_state_dict(loaded.state_dict())
        path = Path(resume_from_checkpoint) / LOSS_STATE_NAME
        if not path.is_file():
            return
        from safetensors.torch import load_file

        saved = load_file(str(path), device=str(device))
        for loss_name, part in self._losses().items():
            values = {key.split("/", 1)[1]: value for key, value in saved.items() if key.startswith(f"{loss_name}/")}
            if values:
                part.load_state_dict(values, strict=False)

    def _load_best_model(self) -> None:
        logger.info("Loading the best model from %s (%s).", self.state.best_model_checkpoint, self.state.best_metric)
        if self.state.best_model_checkpoint:
            self._load_from_checkpoint(self.state.best_model_checkpoint)
