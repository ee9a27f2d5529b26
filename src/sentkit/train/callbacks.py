"""Trainer callbacks: the training log (CSV and PNG), and gradient clean-up for loss parameters.

:class:`TrainingLogCallback` (added by every sentkit trainer) writes ``training_log.csv`` (one row
per logging step, evaluation and end-of-training summary: step, epoch, loss, learning rate,
``eval_*`` metrics, ...) each time the trainer logs, and ``training_curves.png`` (losses, evaluation
metrics and learning rate against the step) when training ends. The PNG needs matplotlib; without
it a warning says so and only the CSV is written.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from sentkit._optional import require
from sentkit.errors import MissingDependencyError

logger = logging.getLogger(__name__)

CSV_NAME = "training_log.csv"
PLOT_NAME = "training_curves.png"
# Logged numbers that are bookkeeping, not curves worth drawing.
_NOT_PLOTTED = ("runtime", "samples_per_second", "steps_per_second", "total_flos", "epoch", "step", "grad_norm")


class TrainingLogCallback(TrainerCallback):
    """Write the trainer's log history to a CSV on every log, and a PNG of the curves at the end.

    Args:
        folder: where to write; default: the trainer's ``output_dir``.
        plot: also draw ``training_curves.png`` at the end of training.
    """

    def __init__(self, folder: str | Path | None = None, plot: bool = True) -> None:
        self.folder = None if folder is None else Path(folder)
        self.plot = plot

    def _target(self, args: TrainingArguments) -> Path:
        return self.folder if self.folder is not None else Path(args.output_dir or ".")

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if not state.is_world_process_zero or not state.log_history:
            return control
        last = state.log_history[-1]
        if logs and all(last.get(key, value) == value for key, value in logs.items()):
            # Values that earlier callbacks added to this log (e.g. regulariser weights) join its row.
            last.update({key: value for key, value in logs.items() if key not in last})
        write_log_csv(state.log_history, self._target(args) / CSV_NAME)
        return control

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if not state.is_world_process_zero or not state.log_history:
            return control
        folder = self._target(args)
        write_log_csv(state.log_history, folder / CSV_NAME)
        if self.plot:
            try:
                plot_log(state.log_history, folder / PLOT_NAME)
            except MissingDependencyError as exc:
                logger.warning("Skipping %s: %s", PLOT_NAME, exc)
        return control


class ZeroLossGradientsCallback(TrainerCallback):
    """Clear the gradients of parameters that live in a loss (e.g. a classifier head).

    The Hugging Face trainer zeroes the model's gradients only; the optimizer covers both.
    """

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if kwargs.get("optimizer") is not None:
            kwargs["optimizer"].zero_grad()
        return control

    on_step_end = on_train_begin


def _columns(history: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {"step": None, "epoch": None}
    for row in history:
        seen.update(dict.fromkeys(row))
    first = [name for name in ("step", "epoch", "loss", "learning_rate", "grad_norm", "eval_loss") if name in seen]
    return first + [name for name in seen if name not in first]


def write_log_csv(history: list[dict[str, Any]], path: Path) -> None:
    """Write ``history`` (the trainer's ``state.log_history``) as a CSV; blank where a row lacks a column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = _columns(history)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        for row in history:
            writer.writerow({name: row.get(name, "") for name in columns})


def _series(history: list[dict[str, Any]], name: str) -> tuple[list[float], list[float]]:
    points = [
        (float(row["step"]), float(row[name]))
        for row in history
        if isinstance(row.get(name), (int, float)) and "step" in row
    ]
    return [step for step, _ in points], [value for _, value in points]


def _panels(history: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    names = [name for name in _columns(history) if not name.endswith(_NOT_PLOTTED) and not name.startswith("train_")]
    losses = [name for name in names if name == "loss" or name.endswith("loss")]
    metrics = [name for name in names if name.startswith("eval_") and name not in losses]
    panels = [("loss", losses), ("evaluation", metrics), ("learning rate", [n for n in names if n == "learning_rate"])]
    return [(title, curves) for title, curves in panels if any(_series(history, name)[0] for name in curves)]


def plot_log(history: list[dict[str, Any]], path: Path) -> None:
    """Draw the loss, evaluation-metric and learning-rate curves of ``history`` into a PNG.

    Uses matplotlib's object API (no pyplot, no global backend change).

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    require("matplotlib", "viz", "The training-curves plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = _panels(history)
    if not panels:
        return
    figure = Figure(figsize=(6.4, 3.2 * len(panels)))
    FigureCanvasAgg(figure)
    for row, (title, curves) in enumerate(panels, start=1):
        axes = figure.add_subplot(len(panels), 1, row)
        for name in curves:
            steps, values = _series(history, name)
            if steps:
                axes.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=name)
        axes.set_title(title)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


class SpladeRegularizerWeightSchedulerCallback(TrainerCallback):
    """Warm up a ``SpladeLoss``'s regulariser weights from 0 to their set values.

    Over the first ``warmup_ratio`` of the training steps the weights grow as ``(step / warmup)``
    (``"linear"``) or its square (``"quadratic"``, the default), then stay at the values the loss
    was built with. The weights are a function of the step, so a resumed run continues the ramp.
    The current weights are logged with the losses.

    Raises:
        ConfigurationError: an unknown ``scheduler_type``, a ratio outside (0, 1], or a loss without
            ``document_regularizer_weight``.
    """

    def __init__(self, loss: Any, scheduler_type: str = "quadratic", warmup_ratio: float = 1 / 3) -> None:
        from sentkit.errors import ConfigurationError

        if str(getattr(scheduler_type, "value", scheduler_type)).lower() not in ("linear", "quadratic"):
            raise ConfigurationError(f"scheduler_type={scheduler_type!r} is not 'linear' or 'quadratic'.")
        if not 0 < warmup_ratio <= 1:
            raise ConfigurationError(f"warmup_ratio must be in (0, 1]; got {warmup_ratio}.")
        if not hasattr(loss, "document_regularizer_weight"):
            raise ConfigurationError(f"{type(loss).__name__} has no regulariser weights; pass a SpladeLoss.")
        self.loss = loss
        self.scheduler_type = str(getattr(scheduler_type, "value", scheduler_type)).lower()
        self.warmup_ratio = warmup_ratio
        self.max_document_regularizer_weight = loss.document_regularizer_weight
        self.max_query_regularizer_weight = getattr(loss, "query_regularizer_weight", None)
        self.warmup_steps = 1

    def _weight(self, step: int, maximum: float | None) -> float | None:
        if maximum is None or step >= self.warmup_steps:
            return maximum
        ratio = step / self.warmup_steps
        return maximum * (ratio if self.scheduler_type == "linear" else ratio**2)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        self.warmup_steps = max(1, int(state.max_steps * self.warmup_ratio))
        return self.on_step_begin(args, state, control)

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        self.loss.document_regularizer_weight = self._weight(state.global_step, self.max_document_regularizer_weight)
        if self.max_query_regularizer_weight is not None:
            self.loss.query_regularizer_weight = self._weight(state.global_step, self.max_query_regularizer_weight)
        return control

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if logs is not None and "loss" in logs:
            logs["document_regularizer_weight"] = self.loss.document_regularizer_weight
            if self.max_query_regularizer_weight is not None:
                logs["query_regularizer_weight"] = self.loss.query_regularizer_weight
        return control
