"""The training loop shared by the three trainers: Hugging Face's :class:`transformers.Trainer`.

The Hugging Face trainer (on accelerate) runs the loop: devices, DDP / FSDP / DeepSpeed,
gradient accumulation, mixed precision, progress bars, checkpoints (model, optimizer, scheduler,
RNG states), resuming, best-model selection and logging. This class plugs sentkit in:

- batches come from the sentkit collators and batch samplers (:mod:`sentkit.train.dataloaders`);
- the loss is a module ``loss(features, labels)`` (or a dict of them, one per dataset of a dict of
  datasets); losses that return a dict of parts are summed and each part is logged;
- evaluators run after each evaluation; their metrics are logged with the ``eval_`` prefix, so
  ``metric_for_best_model="eval_spearman_cosine"`` (or without the prefix) selects checkpoints;
- checkpoints are model folders in the sentence-transformers format (plus the parameters a loss
  owns, in ``loss_state.safetensors``), which sentkit and sentence-transformers both load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, ClassVar, cast

import torch
from torch import nn
from transformers import Trainer, TrainerCallback

from sentkit._optional import require
from sentkit.errors import ConfigurationError, InputError
from sentkit.train.callbacks import TrainingLogCallback, ZeroLossGradientsCallback
from sentkit.train.checkpoints import CheckpointMixin
from sentkit.train.dataloaders import build_dataloader, check_columns
from sentkit.train.model_card_callback import ModelCardCallback, write_trainer_model_card
from sentkit.train.optim import parameter_groups
from sentkit.train.wrapped_model import route_through, swap_model, unroute

logger = logging.getLogger(__name__)

LossSpec = nn.Module | Callable[[nn.Module], nn.Module]


class BaseTrainer(CheckpointMixin, Trainer):
    """Shared trainer; use :class:`~sentkit.train.SentenceTransformerTrainer`, ``CrossEncoderTrainer``
    or ``SparseEncoderTrainer``.

    Args:
        model: the sentkit model to train (or ``model_init``, a function that builds one).
        args: the family's training arguments (default: ``output_dir="tmp_trainer"``).
        train_dataset, eval_dataset: a ``datasets.Dataset`` (text columns in the order the loss
            reads them, and an optional label column), a dict / ``DatasetDict`` of them, or an
            ``IterableDataset``.
        loss: a loss module, a function ``model -> loss``, or a dict of either keyed like the
            dataset dict. Default: the family's usual loss.
        evaluator: an evaluator ``evaluator(model, output_path, epoch, steps) -> dict``, or a list.
        callbacks, optimizers, optimizer_cls_and_kwargs, ...: as for :class:`transformers.Trainer`.

    Raises:
        ConfigurationError: wrong argument types, evaluation asked for without data or evaluator,
            a loss dict whose keys do not cover the datasets.
        InputError: reserved column names (``dataset_name``, ``return_loss``) in a dataset.
    """

    training_args_class: ClassVar[type]
    data_collator_class: ClassVar[type]

    def __init__(
        self,
        model: nn.Module | None = None,
        args: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        loss: LossSpec | dict[str, LossSpec] | None = None,
        evaluator: Any = None,
        data_collator: Callable[..., Any] | None = None,
        processing_class: Any = None,
        model_init: Callable[..., nn.Module] | None = None,
        compute_metrics: Callable[..., Any] | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        optimizer_cls_and_kwargs: tuple[type[torch.optim.Optimizer], dict[str, Any]] | None = None,
        preprocess_logits_for_metrics: Callable[..., Any] | None = None,
        tokenizer: Any = None,
    ) -> None:
        require("accelerate", "train", f"{type(self).__name__}")
        args = self._check_args(args)
        if model is None and model_init is None:
            raise ConfigurationError(f"{type(self).__name__} needs a model or a model_init function.")
        if compute_metrics is not None:
            logger.warning("compute_metrics is not used by %s; pass an evaluator instead.", type(self).__name__)
        train_dataset, eval_dataset = self._as_datasets(train_dataset, eval_dataset)
        if eval_dataset is None and evaluator is None and args.eval_strategy != "no":
            raise ConfigurationError(
                f"eval_strategy={args.eval_strategy.value!r} needs an eval_dataset or an evaluator; "
                "pass one, or set eval_strategy='no'."
            )
        default_args_dict = self._default_args_dict()  # the card lists the arguments that differ from these
        super().__init__(
            model=None if model_init is not None else model,  # model_init wins, as in the reference
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            # The Hugging Face trainer wants an eval dataset to evaluate; an evaluator alone suffices here.
            eval_dataset=eval_dataset if eval_dataset is not None or evaluator is None else "evaluator-only",
            processing_class=processing_class if processing_class is not None else tokenizer,
            model_init=cast(Any, model_init),
            callbacks=callbacks,
            optimizers=optimizers,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
        )
        if isinstance(self.eval_dataset, str):
            self.eval_dataset = None
        if data_collator is None:
            self.data_collator = self.default_collator(self.model, args)
        self.can_return_loss = True
        self.loss = self._prepare_losses(loss, self.model, train_dataset, eval_dataset)
        self.evaluator = self._prepare_evaluator(evaluator)
        self._loss_parts: dict[str, dict[str, torch.Tensor]] = {"train": {}, "eval": {}}
        self._loss_takes_kwargs: dict[int, set[str]] = {}
        # Where evaluators write their CSV files (default: output_dir/eval).
        self.evaluator_output_dir: str | None = None
        if not any(isinstance(callback, TrainingLogCallback) for callback in self.callback_handler.callbacks):
            self.add_callback(TrainingLogCallback())
        self.add_callback(ZeroLossGradientsCallback())
        self.add_model_card_callback(default_args_dict)

    # ------------------------------------------------------------------------- set-up
    def _default_args_dict(self) -> dict[str, Any]:
        """The default training arguments as a dict, made on the accelerator state ``args`` set up
        (as the reference does), or on a state of their own when ``args`` configured none."""
        try:
            config = {"use_configured_state": True}
            return dict(self.training_args_class(output_dir="unused", accelerator_config=config).to_dict())
        except ValueError:  # no configured accelerator state to reuse
            return dict(self.training_args_class(output_dir="unused").to_dict())

    def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
        """Record data sets, losses, hyper-parameters and logs in ``model.model_card_data`` for the card
        (:mod:`sentkit.train.model_card_callback`); ``default_args_dict`` holds the default training
        arguments, so that the card lists those that differ. Override to leave the card data out."""
        callback = ModelCardCallback(default_args_dict)
        self.add_callback(callback)
        callback.on_init_end(self.args, self.state, self.control, model=self.model, trainer=self)

    def create_model_card(
        self,
        language: str | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
    ) -> None:
        """Write the sentence-transformers model card to ``args.output_dir`` (``push_to_hub`` calls this);
        the arguments after ``model_name`` are Hugging Face's and unused, as in the reference."""
        write_trainer_model_card(self, language, license, tags, model_name)

    def _as_datasets(self, train_dataset: Any, eval_dataset: Any) -> tuple[Any, Any]:
        """Plain dicts of datasets as ``DatasetDict``; reserved column names rejected."""
        datasets = require("datasets", "train", f"{type(self).__name__}")
        result = []
        for label, data in (("train", train_dataset), ("eval", eval_dataset)):
            if isinstance(data, dict) and not isinstance(data, datasets.DatasetDict):
                data = datasets.DatasetDict(data)
            if data is not None:
                check_columns(data, label)
            result.append(data)
        return result[0], result[1]

    def _check_args(self, args: Any) -> Any:
        if args is None:
            return self.training_args_class(output_dir="tmp_trainer")
        if not isinstance(args, self.training_args_class):
            raise ConfigurationError(
                f"args must be a {self.training_args_class.__name__}; got {type(args).__name__}. "
                f"Build one with {self.training_args_class.__name__}(output_dir=..., ...)."
            )
        return args

    def default_collator(self, model: nn.Module, args: Any) -> Callable[..., Any]:
        """The collator used when none is given: the family's, with ``args.prompts`` and ``router_mapping``."""
        preprocess = getattr(model, "preprocess", None) or model.tokenize
        return self.data_collator_class(preprocess, router_mapping=args.router_mapping, prompts=args.prompts)

    def default_loss(self, model: nn.Module) -> nn.Module:
        """The loss used when none is given."""
        raise NotImplementedError

    def _prepare_losses(self, loss: Any, model: nn.Module, train_dataset: Any, eval_dataset: Any) -> Any:
        if loss is None:
            loss = self.default_loss(model)
            logger.info("No loss given: training with %s.", type(loss).__name__)
        if not isinstance(loss, dict):
            return self.prepare_loss(loss, model)
        for label, data in (("train", train_dataset), ("eval", eval_dataset)):
            if data is None:
                continue
            if not isinstance(data, dict):
                raise ConfigurationError(f"loss is a dict, so the {label} dataset must be a dict of datasets too.")
            if missing := sorted(set(data) - set(loss)):
                raise ConfigurationError(f"The {label} datasets {missing} have no loss; loss has keys {sorted(loss)}.")
        return {name: self.prepare_loss(part, model) for name, part in loss.items()}

    def prepare_loss(self, loss: LossSpec, model: nn.Module) -> nn.Module:
        """``loss`` as a module on the model's device (a function is called with the model first)."""
        module = loss if isinstance(loss, nn.Module) else loss(model)
        if not isinstance(module, nn.Module):
            raise ConfigurationError(f"A loss must be an nn.Module or return one; got {type(module).__name__}.")
        return module.to(next(model.parameters()).device)

    def _prepare_evaluator(self, evaluator: Any) -> Any:
        if evaluator is None or not isinstance(evaluator, (list, tuple)):
            return evaluator
        from sentkit.train.evaluation import SequentialEvaluator

        return SequentialEvaluator(list(evaluator))

    def _losses(self) -> dict[str, nn.Module]:
        return (
            {f"loss_{i}": part for i, part in enumerate(self.loss.values())}
            if isinstance(self.loss, dict)
            else {"loss": self.loss}
        )

    def call_model_init(self, trial: Any = None) -> nn.Module:
        model = super().call_model_init(trial)
        if hasattr(self, "loss"):  # a new model from model_init: the losses must train it
            for part in self._losses().values():
                swap_model(part, self.model, model)
        return model

    # --------------------------------------------------------------------- optimizer
    def _trainable(self, model: nn.Module | None = None) -> nn.Module:
        """The model and the losses in one module: the optimizer also updates parameters that losses own."""
        return nn.ModuleDict({"model": model if model is not None else self.model, **self._losses()})

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is not None:
            return self.optimizer
        return super().create_optimizer(self._trainable(model))

    def get_optimizer_cls_and_kwargs(  # type: ignore[override]  # an instance method: it reads the losses
        self, args: Any, model: nn.Module | None = None
    ) -> tuple[Any, Any]:
        """Hugging Face's optimizer choice, with parameter groups that honour ``learning_rate_mapping``."""
        optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, cast(Any, model))
        if model is not None and not {"params", "model", "optimizer_dict"} & set(kwargs):
            kwargs["optimizer_dict"] = parameter_groups(
                model, set(self.get_decay_parameter_names(model)), args.weight_decay, args.learning_rate_mapping
            )
        return optimizer_cls, kwargs

    # ------------------------------------------------------------------------ data
    def _build(self, dataset: Any, batch_size: int, dataset_name: str | None = None) -> Any:
        labels = self._label_columns()
        return build_dataloader(dataset, batch_size, self.args, self.data_collator, labels, dataset_name)

    def _label_columns(self) -> list[str]:
        return list(getattr(self.data_collator, "valid_label_columns", ("label", "labels", "score", "scores")))

    def get_train_dataloader(self) -> Any:
        if self.train_dataset is None:
            raise ConfigurationError(f"Training needs a train_dataset; pass one to {type(self).__name__}.")
        self.accelerator.even_batches = False  # a dict of datasets must not borrow rows across datasets
        return self.accelerator.prepare(self._build(self.train_dataset, self._train_batch_size))

    def get_eval_dataloader(self, eval_dataset: Any = None) -> Any:
        if eval_dataset is None and self.eval_dataset is None:
            if self.evaluator is not None:
                return torch.utils.data.DataLoader(cast(Any, []))
            raise ConfigurationError(
                f"Evaluation needs an eval_dataset or an evaluator; pass one to {type(self).__name__}."
            )
        name = None
        if isinstance(eval_dataset, str):  # one dataset of a dict, evaluated with its own loss
            name, eval_dataset = eval_dataset, cast(Any, self.eval_dataset)[eval_dataset]
        data = eval_dataset if eval_dataset is not None else self.eval_dataset
        self.accelerator.even_batches = True
        return self.accelerator.prepare(self._build(data, self.args.eval_batch_size, name))

    def get_test_dataloader(self, test_dataset: Any) -> Any:
        self.accelerator.even_batches = True
        return self.accelerator.prepare(self._build(test_dataset, self.args.eval_batch_size))

    # ------------------------------------------------------------------------ loss
    def compute_loss(
        self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """The loss of one collated batch; a dict of loss parts is summed (and each part logged)."""
        dataset_name = inputs.pop("dataset_name", None)
        loss_fn = self.loss[dataset_name] if isinstance(self.loss, dict) and dataset_name else self.loss
        if isinstance(loss_fn, dict):
            raise InputError("loss is a dict, but the batch names no dataset; train on a dict of datasets.")
        if model is self.model_wrapped and model is not self.model:
            route_through(loss_fn, self.model, model)  # forward passes through the DDP / compile wrapper
        loss = self.call_loss(loss_fn, inputs)
        if isinstance(loss, dict):
            self._track_loss_parts(loss)
            loss = torch.stack(list(loss.values())).sum()
        return (loss, {}) if return_outputs else loss

    def call_loss(self, loss_fn: nn.Module, inputs: dict[str, Any]) -> Any:
        """Run ``loss_fn`` on a batch: ``loss_fn(features per column, labels)``."""
        features, labels = self.collect_features(inputs)
        return loss_fn(features, labels)

    def collect_features(self, inputs: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
        """Split a collated batch into one features dict per text column (in order) and the labels.

        A column ``c`` is recognised by its ``c_input_ids`` (or ``c_sentence_embedding``) key; each
        key goes to the longest column prefix it starts with.
        """
        prefixes: list[str] = []
        for key in inputs:
            for suffix in ("input_ids", "sentence_embedding", "pixel_values"):
                if key.endswith("_" + suffix) and key[: -len(suffix)] not in prefixes:
                    prefixes.append(key[: -len(suffix)])
                    break
        features: list[dict[str, Any]] = [{} for _ in prefixes]
        for key, value in inputs.items():
            owners = [i for i, prefix in enumerate(prefixes) if key.startswith(prefix)]
            if owners:
                owner = max(owners, key=lambda i: len(prefixes[i]))
                features[owner][key[len(prefixes[owner]) :]] = value
        return features, inputs.get("label")

    def _track_loss_parts(self, parts: dict[str, torch.Tensor]) -> None:
        store = self._loss_parts["train" if self.model.training else "eval"]
        for name, value in parts.items():
            value = value.detach()
            store[name] = store[name] + value if name in store else value
        count = store.get("__count__", torch.zeros((), device=value.device))
        store["__count__"] = count + 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Log as Hugging Face does, adding the mean of each loss part since the last log."""
        kind = "train" if "loss" in logs else "eval" if "eval_loss" in logs else None
        store = self._loss_parts.get(kind or "", {})
        if kind and "__count__" in store:
            logs = dict(logs)
            count = self.accelerator.gather(store.pop("__count__")).sum()
            for name, total in store.items():
                key = name if kind == "train" else f"eval_{name}"
                logs[key] = round(float(self.accelerator.gather(total).sum() / count), 4)
            store.clear()
        super().log(logs, start_time)

    # ------------------------------------------------------------------ evaluation
    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> Any:
        """Hugging Face's evaluation loss (if there is eval data), plus the evaluator's metrics (``eval_`` prefixed)."""
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        prefix = metric_key_prefix
        if self.evaluator is None:
            return output
        if self.is_in_train and isinstance(self.eval_dataset, dict) and prefix.startswith("eval_"):
            # Several eval datasets: run the evaluator once, with the first, under the plain prefix.
            if prefix[len("eval_") :] != next(iter(self.eval_dataset)):
                return output
            prefix = "eval"
        output_path = None
        if self.is_world_process_zero():
            output_path = self.evaluator_output_dir or os.path.join(self.args.output_dir, "eval")
            os.makedirs(output_path, exist_ok=True)
        self.model.eval()
        metrics = self.evaluator(
            self.model, output_path=output_path, epoch=self.state.epoch, steps=self.state.global_step
        )
        if not isinstance(metrics, dict):
            metrics = {"evaluator": metrics}
        logged = cast(dict[str, Any], output.metrics)  # always a dict after Hugging Face's loop
        for key, value in metrics.items():
            logged[key if key.startswith(f"{prefix}_") else f"{prefix}_{key}"] = value
        return output

    # ----------------------------------------------------------------- checkpoints
    def train(self, *args: Any, **kwargs: Any) -> Any:
        """Train (see :meth:`transformers.Trainer.train`); the model is left in eval mode."""
        try:
            return super().train(*args, **kwargs)
        finally:
            for part in self._losses().values():
                unroute(part)
            self.model.eval()
