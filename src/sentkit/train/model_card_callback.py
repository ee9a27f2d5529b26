"""What the trainers record in ``model.model_card_data`` for the model card, as sentence-transformers does.

:class:`ModelCardCallback` is added by :class:`~sentkit.train.base_trainer.BaseTrainer`:

- at set-up (:meth:`~ModelCardCallback.on_init_end`): the ``generated_from_trainer`` tag, the
  training and evaluation data sets (name, split, size, columns, column statistics, three samples,
  the loss and its settings; a ``dataset_size:N`` tag), the losses (``loss:Name`` tags, citations)
  and widget / usage examples taken from the data;
- when training starts: all and the non-default hyper-parameters, and the clock;
- on each log and evaluation: the training log table (training and validation losses; evaluators
  add their primary metric themselves through ``set_evaluation_metrics``);
- at the end: the step of the best checkpoint, when it was loaded.

The data set helpers take ``datasets.Dataset`` objects; the card data itself
(:mod:`sentkit.io.model_card_data`) only holds plain values.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from textwrap import indent
from typing import Any

from torch import nn
from transformers import TrainerCallback

from sentkit.io.model_card_format import config_code, fullname, markdown_table

logger = logging.getLogger(__name__)

IGNORED_ARGUMENTS = frozenset(
    {
        "output_dir",
        "logging_dir",
        "logging_strategy",
        "logging_first_step",
        "logging_steps",
        "evaluation_strategy",
        "eval_strategy",
        "eval_steps",
        "eval_delay",
        "save_strategy",
        "save_steps",
        "save_total_limit",
        "metric_for_best_model",
        "greater_is_better",
        "report_to",
        "samples_per_label",
        "show_progress_bar",
        "do_train",
        "do_eval",
        "do_test",
        "run_name",
        "hub_token",
        "push_to_hub_token",
    }
)
"""Arguments about where and how often to log and save: not worth a line in the card."""
STATISTICS_ROWS = 100
EXAMPLE_ROWS = 3


class ModelCardCallback(TrainerCallback):
    """Fill the trained model's ``model_card_data`` (see the module docstring).

    Args:
        default_arguments: ``to_dict()`` of the training arguments with their defaults; arguments
            that differ are listed as non-default in the card.
    """

    def __init__(self, default_arguments: dict[str, Any]) -> None:
        super().__init__()
        self.default_arguments = default_arguments

    def on_init_end(
        self, args: Any, state: Any, control: Any, model: Any = None, trainer: Any = None, **_: Any
    ) -> None:
        card = getattr(model, "model_card_data", None)
        if card is None or trainer is None:
            return
        card.add_tags("generated_from_trainer")
        if getattr(args, "hub_model_id", None) and not card.model_id:
            card.set_model_id(args.hub_model_id)
        mapping = getattr(args, "router_mapping", None) or {}
        if trainer.train_dataset is not None:
            card.train_datasets = dataset_metadata(
                card, model, trainer.train_dataset, card.train_datasets, trainer.loss, "train", mapping
            )
        if trainer.eval_dataset is not None:
            card.eval_datasets = dataset_metadata(
                card, model, trainer.eval_dataset, card.eval_datasets, trainer.loss, "eval", mapping
            )
        card.set_losses(all_losses(trainer.loss))
        dataset = trainer.eval_dataset if trainer.eval_dataset is not None else trainer.train_dataset
        if not card.widget and dataset is not None:
            set_widget_examples(card, dataset)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any) -> None:
        card = getattr(model, "model_card_data", None)
        if card is None:
            return
        arguments = args.to_dict()
        card.all_hyperparameters = {key: value for key, value in arguments.items() if key not in IGNORED_ARGUMENTS}
        card.non_default_hyperparameters = {
            key: value
            for key, value in arguments.items()
            if key not in IGNORED_ARGUMENTS and key in self.default_arguments and value != self.default_arguments[key]
        }
        card.start_training_clock()

    def on_evaluate(
        self, args: Any, state: Any, control: Any, model: Any = None, metrics: dict[str, Any] | None = None, **_: Any
    ) -> None:
        card = getattr(model, "model_card_data", None)
        if card is None or metrics is None:
            return
        losses = {
            " ".join(key.split("_")[1:]): value
            for key, value in metrics.items()
            if key.startswith("eval_") and key.endswith("_loss")
        }
        if list(losses) == ["loss"]:
            losses = {"Validation Loss": losses["loss"]}
        card.evaluation_duration += float(metrics.get("eval_runtime", 0.0))
        _log_row(card, state, losses)

    def on_log(
        self, args: Any, state: Any, control: Any, model: Any = None, logs: dict[str, Any] | None = None, **_: Any
    ) -> None:
        card = getattr(model, "model_card_data", None)
        if card is not None and logs and "loss" in logs:
            _log_row(card, state, {"Training Loss": logs["loss"]})

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any) -> None:
        card = getattr(model, "model_card_data", None)
        checkpoint = getattr(state, "best_model_checkpoint", None)
        if card is not None and checkpoint and getattr(args, "load_best_model_at_end", False):
            step = str(checkpoint).rsplit("-", 1)[-1]
            if step.isdigit():
                card.set_best_model_step(int(step))


def _log_row(card: Any, state: Any, values: dict[str, Any]) -> None:
    """Add ``values`` to the training log row of the current step (a new row for a new step)."""
    if card.training_logs and card.training_logs[-1]["Step"] == state.global_step:
        card.training_logs[-1].update(values)
    else:
        card.training_logs.append({"Epoch": state.epoch, "Step": state.global_step, **values})


def all_losses(loss: Any) -> list[nn.Module]:
    """The losses of ``loss`` (a module or a dict of them), with the losses they wrap (``loss``,
    ``document_regularizer``, ``query_regularizer`` attributes), each once."""
    losses = list(loss.values()) if isinstance(loss, dict) else [loss]
    index = 0
    while index < len(losses):
        for name in ("loss", "document_regularizer", "query_regularizer"):
            inner = getattr(losses[index], name, None)
            if isinstance(inner, nn.Module) and all(inner is not known for known in losses):
                losses.append(inner)
        index += 1
    return losses


def dataset_metadata(
    card: Any,
    model: Any,
    dataset: Any,
    given: list[dict[str, Any]],
    loss: Any,
    kind: str,
    router_mapping: dict[str, Any],
) -> list[dict[str, Any]]:
    """One metadata dict per data set of ``dataset`` (a Dataset or a dict of them), for the card.

    ``given`` (the card's own list) supplies names and ids when it has one entry per data set.
    """
    parts = dict(dataset) if isinstance(dataset, dict) else {None: dataset}
    if given and len(given) != len(parts):
        logger.warning(
            "The model card lists %d %s datasets, the trainer has %d; the card's list is replaced.",
            len(given),
            kind,
            len(parts),
        )
        given = []
    per_dataset = isinstance(next(iter(router_mapping.values()), None), dict)
    result = []
    for position, (name, part) in enumerate(parts.items()):
        info = dict(given[position]) if given else _infer_dataset(part, name)
        part_loss = loss[name] if isinstance(loss, dict) and name in loss else loss
        mapping = router_mapping.get(name or "", {}) if per_dataset else router_mapping
        result.append(_describe(model, part, info, part_loss, mapping))
    if kind == "train":
        size = sum(int(info.get("size") or 0) for info in result)
        if size:
            card.add_tags(f"dataset_size:{size}")
        columns = {column for part in parts.values() for column in (getattr(part, "column_names", None) or [])}
        if card.ir_model is None and {"query", "question"} & columns:
            card.ir_model = True
    return list(card.validate_datasets(result))


def _infer_dataset(dataset: Any, name: str | None) -> dict[str, Any]:
    if name and re.fullmatch(r"_dataset_\d+", name):
        name = None  # the made-up names of the classic fit() API
    info = getattr(dataset, "info", None)
    out: dict[str, Any] = {"name": name or getattr(info, "dataset_name", None)}
    split = getattr(dataset, "split", None)
    out["split"] = str(split)
    splits = getattr(info, "splits", None)
    if splits and split in splits:
        out["size"] = splits[split].num_examples
    checksums = getattr(dataset, "download_checksums", None) or {}
    source = next(iter(checksums), "")
    if source.startswith("hf://datasets/") and "@" in source:
        dataset_id, rest = source[len("hf://datasets/") :].split("@", 1)
        out["id"] = dataset_id
        revision = rest.split("/")[0]
        if len(revision) == 40:
            out["revision"] = revision
    return out


def _describe(model: Any, dataset: Any, info: dict[str, Any], loss: Any, mapping: dict[str, Any]) -> dict[str, Any]:
    """Size, columns, column statistics, samples and loss of one data set (a ``datasets.Dataset``)."""
    columns = [column for column in (getattr(dataset, "column_names", None) or []) if column != "dataset_name"]
    info["columns"] = [f"<code>{column}</code>" for column in columns]
    if hasattr(dataset, "__len__") and len(dataset) > 0:
        info["size"] = len(dataset)
        head = dataset[:STATISTICS_ROWS]
        stats = {column: column_statistics(model, head[column], mapping.get(column)) for column in columns}
        rows = [
            {"": "type", **{column: value["dtype"] for column, value in stats.items()}},
            {"": "details", **{column: _html_list(value["data"]) for column, value in stats.items()}},
        ]
        info["stats_table"] = indent(markdown_table(rows).replace("-:|", "--|"), "  ")
        samples = [
            {column: f"<code>{_example_text(head[column][row])}</code>" for column in columns}
            for row in range(min(EXAMPLE_ROWS, len(dataset)))
        ]
        info["examples_table"] = indent(markdown_table(samples).replace("-:|", "--|"), "  ")
    info["loss"] = {"fullname": fullname(loss)}
    if hasattr(loss, "get_config_dict"):
        config = {key: _config_value(value) for key, value in loss.get_config_dict().items()}
        info["loss"]["config_code"] = config_code(config)
    return info


def column_statistics(model: Any, values: list[Any], task: str | None = None) -> dict[str, Any]:
    """``{"dtype", "data"}`` of a column's first values: token (else character) lengths of texts,
    the share of each int / bool value, the range of floats, the length of lists."""
    first = values[0]
    if isinstance(first, str):
        lengths, unit = _text_lengths(model, values, task)
        return {"dtype": "string", "data": _range(lengths, f" {unit}")}
    if isinstance(first, (bool, int)):
        counts = Counter(values)
        tilde = "~" if len(counts) > 1 else ""
        return {
            "dtype": type(first).__name__,
            "data": {k: f"{tilde}{counts[k] / len(values):.2%}" for k in sorted(counts)},
        }
    if isinstance(first, float):
        return {"dtype": "float", "data": {k: round(v, 2) for k, v in _range(values, "", raw=True).items()}}
    if isinstance(first, list):
        sizes = [len(value) for value in values]
        if min(sizes) == max(sizes):
            return {"dtype": "list", "data": {"size": f"{sizes[0]} elements"}}
        return {"dtype": "list", "data": _range(sizes, " elements")}
    return {"dtype": fullname(first), "data": {}}


def _text_lengths(model: Any, texts: list[str], task: str | None) -> tuple[list[float], str]:
    tokenize: Any = getattr(model, "tokenize", None)
    if callable(tokenize) and type(model).__name__ != "CrossEncoder":
        try:
            features = tokenize(texts, task=task) if task else tokenize(texts)
            return features["attention_mask"].sum(dim=1).tolist(), "tokens"
        except Exception as exc:  # a tokenizer that refuses these texts: count characters instead
            logger.debug("Token statistics failed (%s); counting characters.", exc)
    return [float(len(text)) for text in texts], "characters"


def _range(values: Sequence[float], unit: str, raw: bool = False) -> dict[str, Any]:
    low, mean, high = min(values), sum(values) / len(values), max(values)
    if raw:
        return {"min": low, "mean": mean, "max": high}
    return {"min": f"{round(low, 2)}{unit}", "mean": f"{round(mean, 2)}{unit}", "max": f"{round(high, 2)}{unit}"}


def _html_list(data: dict[str, Any]) -> str:
    if not data:
        return ""
    return "<ul><li>" + "</li><li>".join(f"{key}: {value}" for key, value in data.items()) + "</li></ul>"


def _example_text(value: Any) -> str:
    if isinstance(value, list) and len(value) > 5:
        return str(value[:5])[:-1] + ", ...]"
    if isinstance(value, str) and len(value) > 1000:
        value = value[:1000] + "..."
    return str(value).replace("\n", "<br>").replace("|", "\\|")


def _config_value(value: Any) -> Any:
    """A loss setting as the card shows it: modules by class name (and their own settings)."""
    if not isinstance(value, nn.Module):
        return value
    settings = []
    base_model = getattr(getattr(value, "model_card_data", None), "base_model", None)
    if base_model is not None:
        settings.append(repr(base_model))
    get_config: Any = getattr(value, "get_config_dict", None)
    if callable(get_config):
        settings += [f"{key}={item!r}" for key, item in get_config().items()]
    return f"{type(value).__name__}({', '.join(settings)})" if settings else type(value).__name__


def set_widget_examples(card: Any, dataset: Any) -> None:
    """Widget and usage examples from the shortest rows of (the first data set of) ``dataset``.

    Embedding models get ``{"source_sentence", "sentences"}`` widgets (``{"text"}`` for other
    pipelines) and four usage texts; a CrossEncoder gets the first rows' text pairs as usage pairs.
    """
    part = next(iter(dataset.values())) if isinstance(dataset, dict) else dataset
    if not hasattr(part, "__len__") or len(part) == 0:
        return  # a streaming data set: examples would consume it
    rows = part[:1000]
    columns = [c for c in part.column_names if c != "dataset_name" and rows[c] and isinstance(rows[c][0], str)]
    if getattr(card, "family", "") == "cross_encoder":
        if len(columns) >= 2:
            card.usage_examples = [[q, a] for q, a in zip(rows[columns[0]][:5], rows[columns[1]][:5], strict=True)]
        return
    if not columns:
        return
    texts = [[rows[c][i] for c in columns] for i in range(len(rows[columns[0]]))]
    order = sorted((i for i, row in enumerate(texts) if all(row)), key=lambda i: sum(len(t) for t in texts[i]))
    chosen, spare = order[:5], list(reversed(order[5:]))
    card.widget = []
    for index in chosen:
        sentences = list(texts[index])
        while len(sentences) < 4 and spare:
            extra = texts[spare.pop()]
            sentences.append(extra[1] if len(extra) > 1 else extra[0])
        if len(sentences) < 4:
            continue
        if card.pipeline_tag == "sentence-similarity":
            card.widget.append({"source_sentence": sentences[0], "sentences": sentences[1:]})
        else:
            card.widget.append({"text": sentences[0]})
        card.usage_examples = sentences[:4]


def write_trainer_model_card(
    trainer: Any,
    language: str | None = None,
    license: str | None = None,
    tags: str | list[str] | None = None,
    model_name: str | None = None,
) -> None:
    """Write the model card of ``trainer.model`` to ``trainer.args.output_dir/README.md`` (what
    ``Trainer.push_to_hub`` uploads), with ``language``, ``license`` and ``tags`` added to its data."""
    from pathlib import Path

    from sentkit.io.model_card import model_card_text

    if not trainer.is_world_process_zero():
        return
    card = getattr(trainer.model, "model_card_data", None)
    if card is None:
        return
    if language:
        card.set_language(language)
    if license:
        card.set_license(license)
    if tags:
        card.add_tags(tags)
    folder = Path(trainer.args.output_dir)
    text = model_card_text(trainer.model, folder, model_name)
    if text is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "README.md").write_text(text, encoding="utf-8")


# The reference's names: one callback serves the three families.
SentenceTransformerModelCardCallback = ModelCardCallback
CrossEncoderModelCardCallback = ModelCardCallback
SparseEncoderModelCardCallback = ModelCardCallback
