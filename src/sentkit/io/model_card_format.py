"""Formatting helpers of the model card: markdown tables, evaluator results, training logs, versions."""

from __future__ import annotations

import importlib.metadata
import json
from platform import python_version
from textwrap import indent
from typing import Any

from sentkit._version import __version__


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of ``rows`` (dicts with the same keys), columns padded to their widest cell and
    centred; floats with more than 4 decimals are rounded to 4, as in the reference's cards."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[_cell(row.get(key, "-")) for key in keys] for row in rows]
    widths = [max([len(str(key))] + [len(line[i]) for line in cells]) for i, key in enumerate(keys)]

    def line(values: list[str]) -> str:
        return (
            "".join(f"| {value}" + " " * (width - len(value) + 1) for value, width in zip(values, widths, strict=True))
            + "|\n"
        )

    rule = "".join("|:" + "-" * width + ":" for width in widths) + "|\n"
    return line([str(key) for key in keys]) + rule + "".join(line(values) for values in cells)


def _cell(value: Any) -> str:
    if isinstance(value, float) and len(str(value).partition(".")[2]) > 4:
        return f"{value:.4f}"
    return str(value)


def format_log(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def format_duration(seconds: float) -> str:
    """``23.4 seconds``, ``2.5 minutes``, ``1.6 hours`` or ``2.0 days``."""
    for unit, size, limit in (("seconds", 1, 60), ("minutes", 60, 3600), ("hours", 3600, 86400)):
        if seconds < limit:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds / 86400:.1f} days"


def fullname(value: Any) -> str:
    """``module.ClassName`` of ``value``'s class."""
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def framework_versions() -> dict[str, str]:
    """Versions of Python and the packages that made the model (installed ones only)."""
    versions = {"python": python_version(), "sentkit": __version__}
    for name in ("transformers", "torch", "accelerate", "datasets", "tokenizers"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _as_python(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item) and hasattr(value, "dtype"):
        try:
            return item()
        except (TypeError, ValueError):  # an array of several values stays as it is
            return value
    return value


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        if isinstance(value, str) and " " in value:
            return _as_float(value.split()[0])
        return None


def config_code(config: dict[str, Any]) -> str:
    """``config`` as an indented JSON code block (``str`` of it when not JSON-able)."""
    try:
        text = json.dumps(config, indent=4)
    except TypeError:
        text = str(config)
    return indent(f"```json\n{text}\n```", "  ")


def format_eval_metrics(eval_results: dict[Any, dict[str, Any]], model_name: str | None) -> dict[str, Any]:
    """The card's evaluation section and metadata from ``{evaluator: metrics}``.

    Returns:
        ``eval_metrics`` (one entry per evaluator: class name, description, data set name, markdown
        table; evaluators of one class with the same metrics share a table, one column per data set),
        ``metrics`` (all metric names) and ``model-index`` (the hub's evaluation results metadata).
    """
    from huggingface_hub.repocard_data import EvalResult, eval_results_to_model_index

    entries: list[dict[str, Any]] = []
    all_metrics: dict[str, Any] = {}
    results: list[Any] = []
    for evaluator, raw_metrics in eval_results.items():
        name = getattr(evaluator, "name", None) or None
        primary = getattr(evaluator, "primary_metric", None)
        metrics = {key: _as_python(value) for key, value in raw_metrics.items()}
        if name and all(key.startswith(name + "_") for key in metrics):
            metrics = {key[len(name) + 1 :]: value for key, value in metrics.items()}
            if primary and primary.startswith(name + "_"):
                primary = primary[len(name) + 1 :]
        rows = [
            {
                "Metric": f"**{key}**" if key == primary else key,
                "Value": f"**{format_log(value)}**" if key == primary else format_log(value),
            }
            for key, value in metrics.items()
        ]
        description = str(getattr(evaluator, "description", type(evaluator).__name__))
        config = evaluator.get_config_dict() if hasattr(evaluator, "get_config_dict") else {}
        entries.append(
            {
                "class_name": fullname(evaluator),
                "description": description,
                "dataset_name": name,
                "table_lines": rows,
                "config_code": config_code(config) if config else "",
            }
        )
        for key, value in metrics.items():
            number = _as_float(value)
            if number is None:
                continue
            results.append(
                EvalResult(
                    task_name=description,
                    task_type=description.lower().replace(" ", "-"),
                    dataset_type=name or "unknown",
                    dataset_name=name.replace("_", " ").replace("-", " ") if name else "Unknown",
                    metric_name=key.replace("_", " ").title(),
                    metric_type=key,
                    metric_value=number,
                )
            )
        all_metrics.update(metrics)
    grouped = _group_by_class(entries)
    for entry in grouped:
        entry["table"] = markdown_table(entry.pop("table_lines")).replace("-:|", "--|")
    model_index = eval_results_to_model_index(model_name or "model", results) if results else None
    return {"eval_metrics": grouped, "metrics": list(all_metrics), "model-index": model_index}


def _group_by_class(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge evaluators of one class, metrics and settings on different data sets into one table."""
    grouped: list[dict[str, Any]] = []
    for entry in entries:
        values = {line["Metric"]: line["Value"] for line in entry["table_lines"]}
        for group in grouped:
            same = (
                group["class_name"] == entry["class_name"]
                and {line["Metric"] for line in group["table_lines"]} == set(values)
                and group["dataset_name"] != entry["dataset_name"]
                and group["config_code"] == entry["config_code"]
            )
            if not same:
                continue
            for line in group["table_lines"]:
                if "Value" in line:
                    line[group["dataset_name"]] = line.pop("Value")
                line[entry["dataset_name"]] = values[line["Metric"]]
            if not isinstance(group["dataset_name"], list):
                group["dataset_name"] = [group["dataset_name"]]
            group["dataset_name"].append(entry["dataset_name"])
            break
        else:
            grouped.append(entry)
    return grouped


def format_training_logs(logs: list[dict[str, Any]], best_step: int | None) -> dict[str, Any]:
    """The training-log table: Epoch, Step, Training Loss, Validation Loss, other losses, then metrics.

    The row of the step whose checkpoint was kept (``best_step``) is bold.
    """
    keys: list[str] = []
    for line in logs:
        keys.extend(key for key in line if key not in keys)
    fixed = {"Epoch": 0, "Step": 1, "Training Loss": 2, "Validation Loss": 3}

    first_seen = {key: position for position, key in enumerate(keys)}

    def order(key: str) -> int:
        if key in fixed:
            return fixed[key]
        return 4 if key.endswith("loss") else first_seen[key] + 5

    keys.sort(key=order)
    rows = [
        {
            key: f"**{format_log(line[key]) if key in line else '-'}**"
            if line.get("Step") == best_step
            else line.get(key, "-")
            for key in keys
        }
        for line in logs
    ]
    table = markdown_table(rows)
    return {"eval_lines": table, "explain_bold_in_eval": "**" in table}


def join_names(names: list[str]) -> str:
    """``["A", "B", "C"]`` -> ``"A, B and C"``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
