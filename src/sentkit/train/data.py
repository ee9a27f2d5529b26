"""Training data: :class:`InputExample` (the classic ``fit`` API) and the data collators.

A collator turns a list of dataset rows (dicts, columns in dataset order) into one batch:

- the first label column found (``label``, ``labels``, ``score``, ``scores``) becomes ``batch["label"]``;
- a bi-encoder or sparse collator tokenizes every other column with the model, in column order:
  column ``anchor`` gives ``anchor_input_ids``, ``anchor_attention_mask``, ...; the trainer groups
  them back into one features dict per column, and the loss reads them in that order (anchor,
  positive, negative, ...). The column names do not matter, their order does.
- a cross-encoder collator passes the texts through (its losses build and tokenize the pairs).

``dataset_name`` (added by the trainer for a dict of datasets) picks per-dataset prompts, routes
and losses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from sentkit.errors import ConfigurationError, InputError

DEFAULT_LABEL_COLUMNS = ("label", "labels", "score", "scores")

__all__ = [
    "CrossEncoderDataCollator",
    "InputExample",
    "SentenceTransformerDataCollator",
    "SentencesDataset",
    "SparseEncoderDataCollator",
]


class InputExample:
    """One training example of the classic ``model.fit`` API: texts and a label.

    Args:
        guid: an id, for your own bookkeeping.
        texts: the texts, in the order the loss reads them (e.g. anchor, positive).
        label: a float score, an int class, or a list/array (e.g. teacher embeddings).
    """

    def __init__(self, guid: str = "", texts: Sequence[str] | None = None, label: Any = 0) -> None:
        self.guid = guid
        self.texts = list(texts) if texts is not None else []
        self.label = label

    def __repr__(self) -> str:
        return f"InputExample(guid={self.guid!r}, texts={self.texts!r}, label={self.label!r})"

    def __str__(self) -> str:
        return f"<InputExample> label: {self.label}, texts: {'; '.join(self.texts)}"


class SentencesDataset(torch.utils.data.Dataset):
    """A list of :class:`InputExample` as a torch dataset (kept for old ``fit`` scripts).

    Deprecated in sentence-transformers too: a plain list of InputExample works in a DataLoader.
    ``model`` is accepted and unused, as there.
    """

    def __init__(self, examples: Sequence[InputExample], model: Any = None) -> None:
        self.examples = examples

    def __getitem__(self, item: int) -> InputExample:
        return self.examples[item]

    def __len__(self) -> int:
        return len(self.examples)


def _label_tensor(values: list[Any]) -> torch.Tensor:
    if isinstance(values[0], torch.Tensor):
        return torch.stack(values)
    return torch.tensor(values)


def _per_dataset(mapping: Any, dataset_name: str | None, name: str) -> Any:
    """``mapping`` for this batch: the entry of its dataset when keyed by dataset names."""
    if not isinstance(mapping, dict) or not mapping:
        return mapping
    if dataset_name is not None and dataset_name in mapping:
        return mapping[dataset_name]
    if isinstance(next(iter(mapping.values())), dict):
        if dataset_name is None:
            raise ConfigurationError(
                f"{name} is keyed by dataset names ({sorted(mapping)}), but the training data is one dataset; "
                "pass a dict of datasets or key it by column names."
            )
        return {}
    return mapping


class SentenceTransformerDataCollator:
    """Rows -> a batch of tokenized columns and a ``label`` tensor, for bi-encoder and sparse losses.

    Args:
        preprocess_fn: ``fn(texts, prompt=..., task=...) -> features``, usually ``model.tokenize``
            (``tokenize_fn`` is the older name).
        valid_label_columns: the label column names, first found wins.
        router_mapping: ``{column: route}`` or ``{dataset: {column: route}}``.
        prompts: one prompt, ``{column: prompt}``, ``{dataset: prompt}`` or ``{dataset: {column: prompt}}``.

    Raises (when called):
        InputError: a column that holds no text (pass it through a label column name instead).
    """

    def __init__(
        self,
        preprocess_fn: Callable[..., dict[str, Any]] | None = None,
        valid_label_columns: Sequence[str] | None = None,
        router_mapping: dict[str, Any] | None = None,
        prompts: str | dict[str, Any] | None = None,
        *,
        tokenize_fn: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        preprocess_fn = preprocess_fn or tokenize_fn
        if preprocess_fn is None:
            raise ConfigurationError("A data collator needs preprocess_fn (e.g. model.tokenize).")
        self.preprocess_fn = preprocess_fn
        self.valid_label_columns = list(valid_label_columns or DEFAULT_LABEL_COLUMNS)
        self.router_mapping = router_mapping or {}
        self.prompts = prompts

    @staticmethod
    def _labels(values: list[Any]) -> Any:
        return _label_tensor(values)

    def _split(self, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
        """The batch with ``label`` and ``dataset_name`` filled in, and the text columns left."""
        columns = list(rows[0])
        batch: dict[str, Any] = {}
        if "dataset_name" in columns:
            columns.remove("dataset_name")
            batch["dataset_name"] = rows[0]["dataset_name"]
        for name in self.valid_label_columns:
            if name in columns:
                batch["label"] = self._labels([row[name] for row in rows])
                columns.remove(name)
                break
        return batch, columns

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if not rows:
            return {}
        batch, columns = self._split(rows)
        dataset_name = batch.get("dataset_name")
        prompts = _per_dataset(self.prompts, dataset_name, "prompts")
        routes = _per_dataset(self.router_mapping, dataset_name, "router_mapping") or {}
        for column in columns:
            texts = [row[column] for row in rows]
            if not all(isinstance(text, str) for text in texts):
                bad = next(type(text).__name__ for text in texts if not isinstance(text, str))
                raise InputError(
                    f"Column {column!r} holds {bad} values, but every non-label column must hold texts. "
                    f"Name a label column one of {self.valid_label_columns}, or remove the column."
                )
            prompt = prompts if isinstance(prompts, str) else (prompts or {}).get(column)
            task = routes.get(column)
            features = self.preprocess_fn(texts, prompt=prompt, task=task)
            for key, value in features.items():
                if value is not None:
                    batch[f"{column}_{key}"] = value
        return batch


SparseEncoderDataCollator = SentenceTransformerDataCollator


class CrossEncoderDataCollator(SentenceTransformerDataCollator):
    """Rows -> ``{column: [texts]}`` in column order, ``label``, and one ``prompt`` / ``task`` per batch.

    The cross-encoder losses pair and tokenize the texts themselves. ``preprocess_fn`` is not used.

    Raises:
        ConfigurationError: per-column prompts or routes (a pair is one input).
    """

    def __init__(
        self,
        preprocess_fn: Callable[..., dict[str, Any]] | None = None,
        valid_label_columns: Sequence[str] | None = None,
        router_mapping: dict[str, Any] | None = None,
        prompts: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(preprocess_fn or _unused, valid_label_columns, router_mapping, prompts, **kwargs)
        for name, mapping in (("prompts", prompts), ("router_mapping", router_mapping)):
            if isinstance(mapping, dict) and any(isinstance(value, dict) for value in mapping.values()):
                raise ConfigurationError(
                    f"A CrossEncoder reads a pair as one input: {name} must be one str or {{dataset: str}}, "
                    f"not per column; got {mapping!r}."
                )

    @staticmethod
    def _labels(values: list[Any]) -> Any:
        if isinstance(values[0], (list, tuple)):
            # One list of labels per row (listwise losses): lengths may differ, one tensor each.
            return [torch.tensor(row) for row in values]
        return _label_tensor(values)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if not rows:
            return {}
        batch, columns = self._split(rows)
        dataset_name = batch.get("dataset_name")
        prompt = _per_dataset(self.prompts, dataset_name, "prompts")
        task = _per_dataset(self.router_mapping, dataset_name, "router_mapping")
        if isinstance(prompt, str) and prompt:
            batch["prompt"] = prompt
        if isinstance(task, str) and task:
            batch["task"] = task
        for column in columns:
            batch[column] = [row[column] for row in rows]
        return batch


def _unused(texts: list[str], **kwargs: Any) -> dict[str, Any]:
    raise ConfigurationError("The cross-encoder collator does not tokenize; its losses do.")
