"""The evaluator base class and the small helpers that every evaluator shares.

An evaluator is called as ``evaluator(model, output_path=None, epoch=-1, steps=-1)`` and returns
a dict of float metrics. Its ``primary_metric`` names the key a trainer selects checkpoints on,
``greater_is_better`` says which way is better. Metric keys carry the evaluator's ``name`` as a
prefix (``"sts_dev_spearman_cosine"``). With ``output_path`` (and ``write_csv``), one row per call
is appended to a CSV file in that folder, the header written when the file is new.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sentkit.errors import InputError


class SentenceEvaluator:
    """Base class of all evaluators; subclasses implement :meth:`__call__`.

    Attributes:
        greater_is_better: whether a higher primary metric is better (False for losses and errors).
        primary_metric: the key of the main metric in the returned dict, name prefix included once
            the evaluator has run; None before for evaluators that learn it from the model.
        name: the data set name, prefixed to every metric key.
    """

    name: str = ""

    def __init__(self) -> None:
        self.greater_is_better = True
        self.primary_metric: str | None = None

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Evaluate ``model``; ``epoch`` and ``steps`` (-1: end of training / of the epoch) label the CSV row."""
        raise NotImplementedError(f"{type(self).__name__} does not implement __call__.")

    def prefix_name_to_metrics(self, metrics: Mapping[str, Any], name: str) -> dict[str, Any]:
        """``metrics`` with ``name + "_"`` before each key and numbers as Python floats.

        Also prefixes :attr:`primary_metric` (once). Values that are not numbers (model card
        strings) are kept as they are.
        """
        if not name:
            return {key: _as_float(value) for key, value in metrics.items()}
        prefixed = {f"{name}_{key}": _as_float(value) for key, value in metrics.items()}
        if self.primary_metric is not None and not self.primary_metric.startswith(name + "_"):
            self.primary_metric = f"{name}_{self.primary_metric}"
        return prefixed

    def store_metrics_in_model_card_data(
        self, model: Any, metrics: dict[str, Any], epoch: int = 0, step: int = 0
    ) -> None:
        """Hand ``metrics`` to ``model.model_card_data.set_evaluation_metrics`` when the model has one."""
        card = getattr(model, "model_card_data", None)
        setter = getattr(card, "set_evaluation_metrics", None)
        if callable(setter):
            setter(self, metrics, epoch, step)

    @property
    def description(self) -> str:
        """A readable name: ``BinaryClassificationEvaluator`` -> ``"Binary Classification"``."""
        class_name = type(self).__name__
        if class_name.startswith("CE"):
            class_name = "CrossEncoder" + class_name[2:]
        class_name = class_name.split("Evaluator")[0]
        return re.sub(r"([a-z])([A-Z])", r"\g<1> \g<2>", class_name)

    def get_config_dict(self) -> dict[str, Any]:
        """The settings worth recording in a model card (none by default)."""
        return {}


BaseEvaluator = SentenceEvaluator


def _as_float(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def progress_text(epoch: int, steps: int, truncate_dim: int | None = None) -> str:
    """`` after epoch 1`` / `` in epoch 1 after 50 steps`` / ``""``, plus the truncation, for log lines."""
    text = ""
    if epoch != -1:
        text = f" after epoch {epoch}" if steps == -1 else f" in epoch {epoch} after {steps} steps"
    if truncate_dim is not None:
        text += f" (truncated to {truncate_dim})"
    return text


def append_csv_row(
    output_path: str,
    file_name: str,
    headers: Sequence[str],
    row: Iterable[Any],
    line_end: str = "\r\n",
) -> str:
    """Append ``row`` to ``output_path/file_name``, writing ``headers`` first if the file is new.

    Returns:
        The path of the CSV file.
    """
    os.makedirs(output_path, exist_ok=True)
    path = os.path.join(output_path, file_name)
    is_new = not os.path.isfile(path)
    with open(path, mode="w" if is_new else "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator=line_end)
        if is_new:
            writer.writerow(headers)
        writer.writerow(list(row))
    return path


def extend_last_csv_row(path: str, values: Iterable[Any]) -> bool:
    """Append ``values`` to the last data row of the CSV file at ``path``; False if it has none."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        return False
    rows[-1].extend(str(value) for value in values)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return True


def check_same_length(**columns: Sequence[Any]) -> int:
    """The common length of ``columns``.

    Raises:
        InputError: columns of different lengths, naming each length.
    """
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise InputError(f"These inputs must have the same length, got {listed}.")
    return next(iter(lengths.values()), 0)


def similarity_names(names: Sequence[Any] | None, main: Any = None) -> list[str]:
    """Canonical similarity names from ``names`` (or ``[main]`` when only a main one is given).

    Raises:
        InputError: an unknown similarity name.
    """
    from sentkit.similarity import similarity_name

    if names:
        return [similarity_name(name) for name in names]
    return [similarity_name(main)] if main else []


def encode_function(model: Any, role: str | None) -> Any:
    """``model.encode_query`` / ``model.encode_document`` for ``role`` "query" / "document", else ``model.encode``.

    A model without the role-specific method falls back to ``encode``.
    """
    if role == "query":
        return getattr(model, "encode_query", model.encode)
    if role == "document":
        return getattr(model, "encode_document", model.encode)
    return model.encode
