"""The classic ``model.fit(...)`` API, run on the trainers.

``SentenceTransformer.fit(train_objectives=[(DataLoader of InputExample, loss), ...], ...)`` and
``CrossEncoder.fit(train_dataloader, ...)`` turn their DataLoaders into Hugging Face datasets
(``sentence_0``, ``sentence_1``, ... and ``label``), build the optimizer and the named
learning-rate schedule as the old API did, and train with
:class:`~sentkit.train.SentenceTransformerTrainer` / :class:`~sentkit.train.CrossEncoderTrainer`:

- several objectives take turns, one batch each (round robin), until the smallest runs out;
- the evaluator runs every ``evaluation_steps`` steps (if > 0) and at the end of every epoch;
- ``output_path`` receives the best model by the evaluator's primary metric (``save_best_model``),
  or the final model (no evaluator, or ``save_best_model=False``), plus the training log CSV/PNG
  and the evaluator's files under ``eval/``;
- ``checkpoint_path`` receives checkpoints every ``checkpoint_save_steps`` steps, and
  ``resume_from_checkpoint=True`` continues from the latest one there.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from sentkit._optional import require
from sentkit.errors import InputError
from sentkit.train.callbacks import TrainingLogCallback
from sentkit.train.optim import fit_parameter_groups, named_scheduler
from sentkit.train.samplers import MultiDatasetBatchSamplers

if TYPE_CHECKING:
    from sentkit.train.base_trainer import BaseTrainer

logger = logging.getLogger(__name__)


@dataclass
class FitSettings:
    """The options of the classic ``fit`` (names and defaults as in sentence-transformers)."""

    epochs: int = 1
    steps_per_epoch: int | None = None
    scheduler: str = "WarmupLinear"
    warmup_steps: int = 10000
    optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW
    optimizer_params: dict[str, Any] = field(default_factory=lambda: {"lr": 2e-5})
    weight_decay: float = 0.01
    evaluation_steps: int = 0
    output_path: str | None = None
    save_best_model: bool = True
    max_grad_norm: float = 1.0
    use_amp: bool = False
    callback: Callable[[float, int, int], None] | None = None
    show_progress_bar: bool = True
    checkpoint_path: str | None = None
    checkpoint_save_steps: int = 500
    checkpoint_save_total_limit: int = 0
    resume_from_checkpoint: bool = False


class EvaluateEachEpochCallback(TrainerCallback):
    """Ask the trainer to evaluate at the end of every epoch (as the classic ``fit`` did)."""

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        control.should_evaluate = True
        return control


class BestModelCallback(TrainerCallback):
    """Save the model to ``output_path`` when the evaluator's primary metric improves; call ``callback``.

    With no evaluator (or ``save_best_model=False``), the model is saved when training ends.
    """

    def __init__(self, evaluator: Any, settings: FitSettings) -> None:
        self.evaluator = evaluator
        self.settings = settings
        self.best: float | None = None

    def _primary(self, metrics: dict[str, float]) -> float | None:
        key = getattr(self.evaluator, "primary_metric", None) or "evaluator"
        return next((value for name, value in metrics.items() if name.endswith(key)), None)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        model: Any = None,
        **kwargs: Any,
    ) -> TrainerControl:
        score = self._primary(metrics or {})
        if score is None:
            return control
        if self.settings.callback is not None:
            self.settings.callback(score, state.epoch, state.global_step)  # type: ignore[arg-type]
        greater = getattr(self.evaluator, "greater_is_better", True)
        improved = self.best is None or (score > self.best if greater else score < self.best)
        if improved:
            self.best = score
            if self.settings.save_best_model and self.settings.output_path and state.is_world_process_zero:
                model.save(self.settings.output_path)
        return control

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model: Any = None, **kwargs: Any
    ) -> TrainerControl:
        no_best = self.evaluator is None or not self.settings.save_best_model
        if no_best and self.settings.output_path and state.is_world_process_zero:
            model.save(self.settings.output_path)
        return control


class LogitsLoss(nn.Module):
    """A torch loss on CrossEncoder logits (``CrossEncoder.fit(loss_fct=...)``): pairs -> logits -> loss.

    One-label models get (B,) float logits and float labels; others (B, num_labels) and long labels.
    """

    def __init__(self, model: Any, loss_fct: nn.Module, activation_fct: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.loss_fct = loss_fct
        self.activation_fct = activation_fct if activation_fct is not None else nn.Identity()

    def forward(self, inputs: Sequence[Sequence[str]], labels: Tensor) -> Tensor:
        if len(inputs) != 2:
            raise InputError(f"CrossEncoder.fit needs InputExamples with 2 texts; got {len(inputs)}.")
        classifier = self.model[0]
        features = classifier.tokenize(list(zip(inputs[0], inputs[1], strict=True)))
        features = {k: v.to(self.model.device) if isinstance(v, Tensor) else v for k, v in features.items()}
        logits = self.activation_fct(self.model(features)["scores"])  # (B, num_labels)
        if self.model.num_labels == 1:
            return self.loss_fct(logits.view(-1), labels.float())
        return self.loss_fct(logits, labels.long())


def examples_to_dataset(examples: Iterable[Any]) -> Any:
    """InputExamples -> a ``datasets.Dataset`` with ``sentence_0``, ``sentence_1``, ... and ``label``.

    The label column is left out when every label is 0 (the InputExample default: no labels).

    Raises:
        InputError: no examples, an item without ``texts``, or examples with different text counts.
    """
    datasets = require("datasets", "train", "fit()")
    examples = list(examples)
    if not examples:
        raise InputError("The training DataLoader holds no examples.")
    if not all(hasattr(example, "texts") and hasattr(example, "label") for example in examples):
        bad = next(type(example).__name__ for example in examples if not hasattr(example, "texts"))
        raise InputError(f"fit() takes DataLoaders of InputExample; found a {bad}.")
    widths = {len(example.texts) for example in examples}
    if len(widths) != 1:
        raise InputError(f"All InputExamples of a DataLoader need the same number of texts; found {sorted(widths)}.")
    columns: dict[str, list[Any]] = {
        f"sentence_{i}": [example.texts[i] for example in examples] for i in range(widths.pop())
    }
    labels = [example.label.tolist() if hasattr(example.label, "tolist") else example.label for example in examples]
    if any(not isinstance(label, (int, float)) or label != 0 for label in labels):
        columns["label"] = labels
    return datasets.Dataset.from_dict(columns)


def _loader_batch_size(loader: Any) -> int:
    size = getattr(loader, "batch_size", None) or getattr(getattr(loader, "batch_sampler", None), "batch_size", None)
    return int(size or 8)


def _training_arguments(args_class: type, settings: FitSettings, output_dir: str, batch_size: int, steps: int) -> Any:
    amp = settings.use_amp and torch.cuda.is_available()
    if settings.use_amp and not amp:
        logger.warning("use_amp=True needs a CUDA GPU; training in full precision.")
    return args_class(
        output_dir=output_dir,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.ROUND_ROBIN,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        num_train_epochs=settings.epochs,
        max_steps=settings.steps_per_epoch if settings.steps_per_epoch and settings.epochs == 1 else -1,
        eval_strategy="steps" if settings.evaluation_steps > 0 else "no",
        eval_steps=settings.evaluation_steps or None,
        max_grad_norm=settings.max_grad_norm,
        fp16=amp,
        disable_tqdm=not settings.show_progress_bar,
        save_strategy="steps" if settings.checkpoint_path else "no",
        save_steps=settings.checkpoint_save_steps,
        save_total_limit=settings.checkpoint_save_total_limit or None,
        logging_steps=max(1, steps // 50),
        report_to="none",
    )


def _latest_checkpoint(folder: str) -> str | None:
    steps = [p for p in Path(folder).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    if not steps:
        logger.warning("resume_from_checkpoint=True, but %s holds no checkpoint; starting from scratch.", folder)
        return None
    return str(max(steps, key=lambda p: int(p.name.split("-")[-1])))


def run_fit(
    model: nn.Module,
    trainer_class: type[BaseTrainer],
    train_dataset: Any,
    loss: Any,
    evaluator: Any,
    settings: FitSettings,
    batch_size: int,
    steps_per_epoch: int,
) -> None:
    """Build the optimizer, schedule, arguments and callbacks of a classic ``fit`` and train."""
    losses = loss if isinstance(loss, dict) else {"loss": loss}
    total_steps = steps_per_epoch * settings.epochs * len(losses)
    if settings.steps_per_epoch and settings.epochs == 1:
        total_steps = settings.steps_per_epoch
    named = nn.ModuleDict({"model": model, **{f"loss_{i}": part for i, part in enumerate(losses.values())}})
    optimizer = settings.optimizer_class(
        fit_parameter_groups(named.named_parameters(), settings.weight_decay), **settings.optimizer_params
    )
    schedule = named_scheduler(optimizer, settings.scheduler, settings.warmup_steps, total_steps)
    with tempfile.TemporaryDirectory(prefix="sentkit-fit-") as scratch:
        output_dir = settings.checkpoint_path or scratch
        if evaluator is None:
            settings.evaluation_steps = 0  # nothing to run at those steps
        args = _training_arguments(trainer_class.training_args_class, settings, output_dir, batch_size, total_steps)
        log_folder = settings.output_path or settings.checkpoint_path
        callbacks: list[TrainerCallback] = [BestModelCallback(evaluator, settings)]
        if evaluator is not None:
            callbacks.append(EvaluateEachEpochCallback())
        callbacks.append(TrainingLogCallback(folder=log_folder))
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=train_dataset,
            loss=loss,
            evaluator=evaluator,
            optimizers=(optimizer, schedule),
            callbacks=callbacks,
        )
        if log_folder is None:
            trainer.remove_callback(TrainingLogCallback)
        eval_folder = settings.output_path or scratch
        trainer.evaluator_output_dir = os.path.join(eval_folder, "eval")
        resume = None
        if settings.resume_from_checkpoint and settings.checkpoint_path:
            resume = _latest_checkpoint(settings.checkpoint_path)
        trainer.train(resume_from_checkpoint=resume)


def fit_sentence_transformer(
    model: nn.Module,
    train_objectives: Iterable[tuple[Any, nn.Module]],
    evaluator: Any = None,
    epochs: int = 1,
    steps_per_epoch: int | None = None,
    scheduler: str = "WarmupLinear",
    warmup_steps: int = 10000,
    optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW,
    optimizer_params: dict[str, Any] | None = None,
    weight_decay: float = 0.01,
    evaluation_steps: int = 0,
    output_path: str | None = None,
    save_best_model: bool = True,
    max_grad_norm: float = 1,
    use_amp: bool = False,
    callback: Callable[[float, int, int], None] | None = None,
    show_progress_bar: bool = True,
    checkpoint_path: str | None = None,
    checkpoint_save_steps: int = 500,
    checkpoint_save_total_limit: int = 0,
    resume_from_checkpoint: bool = False,
) -> None:
    """``SentenceTransformer.fit``: train on ``[(DataLoader of InputExample, loss), ...]``.

    Args:
        train_objectives: pairs of a DataLoader over :class:`~sentkit.train.InputExample` (its
            ``batch_size`` is used; its collate function and shuffling are not) and a loss.
        evaluator: run every ``evaluation_steps`` (if > 0) and after each epoch.
        epochs, steps_per_epoch: training length (``steps_per_epoch`` only with ``epochs=1``).
        scheduler, warmup_steps: ``constantlr``, ``warmupconstant``, ``warmuplinear``,
            ``warmupcosine`` or ``warmupcosinewithhardrestarts``, and its warmup.
        optimizer_class, optimizer_params, weight_decay, max_grad_norm: the optimizer (default
            AdamW with lr 2e-5; no decay for biases and LayerNorm weights).
        output_path, save_best_model: where the best (or final) model is saved.
        use_amp: fp16 mixed precision (CUDA only; ignored with a warning elsewhere).
        callback: ``callback(score, epoch, steps)`` after each evaluation.
        checkpoint_path, checkpoint_save_steps, checkpoint_save_total_limit, resume_from_checkpoint:
            checkpoints, and resuming from the latest one.

    Raises:
        InputError: an empty DataLoader, items that are not InputExamples, mixed text counts.
        ConfigurationError: an unknown scheduler name.
    """
    datasets = require("datasets", "train", "SentenceTransformer.fit")
    from sentkit.train.trainer import SentenceTransformerTrainer

    objectives = list(train_objectives)
    if not objectives:
        raise InputError("fit() needs at least one (DataLoader, loss) pair in train_objectives.")
    sizes = [_loader_batch_size(loader) for loader, _ in objectives]
    parts = {f"_dataset_{i}": examples_to_dataset(loader.dataset) for i, (loader, _) in enumerate(objectives, 1)}
    losses = {f"_dataset_{i}": loss for i, (_, loss) in enumerate(objectives, 1)}
    if steps_per_epoch and epochs > 1:
        logger.warning("steps_per_epoch is used only with epochs=1; training on the full data each epoch.")
        steps_per_epoch = None
    settings = FitSettings(
        epochs, steps_per_epoch, scheduler, warmup_steps, optimizer_class, dict(optimizer_params or {"lr": 2e-5}),
        weight_decay, evaluation_steps, output_path, save_best_model, max_grad_norm, use_amp, callback,
        show_progress_bar, checkpoint_path, checkpoint_save_steps, checkpoint_save_total_limit, resume_from_checkpoint,
    )  # fmt: skip
    per_epoch = steps_per_epoch or max(1, min(len(part) // sizes[-1] for part in parts.values()))
    train_dataset = datasets.DatasetDict(parts)
    run_fit(model, SentenceTransformerTrainer, train_dataset, losses, evaluator, settings, sizes[-1], per_epoch)


def fit_cross_encoder(
    model: nn.Module,
    train_dataloader: Any,
    evaluator: Any = None,
    epochs: int = 1,
    loss_fct: nn.Module | None = None,
    activation_fct: nn.Module | None = None,
    scheduler: str = "WarmupLinear",
    warmup_steps: int = 10000,
    optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW,
    optimizer_params: dict[str, Any] | None = None,
    weight_decay: float = 0.01,
    evaluation_steps: int = 0,
    output_path: str | None = None,
    save_best_model: bool = True,
    max_grad_norm: float = 1,
    use_amp: bool = False,
    callback: Callable[[float, int, int], None] | None = None,
    show_progress_bar: bool = True,
) -> None:
    """``CrossEncoder.fit``: train on a DataLoader of InputExample pairs.

    ``loss_fct`` is a torch loss on the logits (default: ``BCEWithLogitsLoss`` for one label,
    ``CrossEntropyLoss`` otherwise), ``activation_fct`` is applied to the logits first (default:
    none). The other arguments are those of :func:`fit_sentence_transformer`.

    Raises:
        InputError: an empty DataLoader, items that are not InputExamples of two texts.
    """
    from sentkit.train.cross_encoder_trainer import CrossEncoderTrainer

    dataset = examples_to_dataset(train_dataloader.dataset)
    batch_size = _loader_batch_size(train_dataloader)
    if loss_fct is None:
        loss_fct = nn.BCEWithLogitsLoss() if getattr(model, "num_labels", 1) == 1 else nn.CrossEntropyLoss()
    settings = FitSettings(
        epochs, None, scheduler, warmup_steps, optimizer_class, dict(optimizer_params or {"lr": 2e-5}),
        weight_decay, evaluation_steps, output_path, save_best_model, max_grad_norm, use_amp, callback,
        show_progress_bar,
    )  # fmt: skip
    loss = LogitsLoss(model, loss_fct, activation_fct)
    per_epoch = max(1, len(dataset) // batch_size)
    run_fit(model, CrossEncoderTrainer, dataset, loss, evaluator, settings, batch_size, per_epoch)
