"""DataLoaders for the trainers: one dataset, a dict of datasets, or a streaming dataset.

A dict of datasets becomes one :class:`~torch.utils.data.ConcatDataset` whose rows carry their
dataset's name (for per-dataset losses, prompts and routes), read through a multi-dataset batch
sampler so that every batch comes from one dataset.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from sentkit._optional import require
from sentkit.errors import ConfigurationError, InputError
from sentkit.train.samplers import (
    MULTI_SAMPLERS,
    SINGLE_SAMPLERS,
    BatchSamplers,
    MultiDatasetBatchSamplers,
)

RESERVED_COLUMNS = ("dataset_name", "return_loss")


class NamedRows(Dataset[dict[str, Any]]):
    """The rows of ``dataset`` (dicts), each with ``dataset_name`` set to ``name``."""

    def __init__(self, dataset: Any, name: str) -> None:
        self.dataset = dataset
        self.name = name

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[index], "dataset_name": self.name}


def check_columns(dataset: Any, label: str) -> None:
    """Raises InputError when a dataset (or one of a dict of them) uses a reserved column name."""
    if isinstance(dataset, dict):
        for name, part in dataset.items():
            check_columns(part, f"{label} dataset {name!r}")
        return
    columns = getattr(dataset, "column_names", None) or []
    if clash := sorted(set(columns) & set(RESERVED_COLUMNS)):
        raise InputError(f"The {label} dataset uses the reserved column names {clash}; rename them.")


def batch_sampler(
    choice: Any,
    dataset: Any,
    batch_size: int,
    drop_last: bool,
    label_columns: Sequence[str],
    generator: torch.Generator,
    seed: int,
) -> Any:
    """The single-dataset batch sampler that ``choice`` (a name, class or factory) names."""
    kwargs = {
        "batch_size": batch_size,
        "drop_last": drop_last,
        "valid_label_columns": list(label_columns),
        "generator": generator,
        "seed": seed,
    }
    factory: Callable[..., Any] = SINGLE_SAMPLERS[choice] if isinstance(choice, BatchSamplers) else choice
    return factory(dataset, **kwargs)


def multi_batch_sampler(
    choice: Any, dataset: ConcatDataset[Any], samplers: list[Any], generator: torch.Generator, seed: int
) -> Any:
    factory: Callable[..., Any] = MULTI_SAMPLERS[choice] if isinstance(choice, MultiDatasetBatchSamplers) else choice
    return factory(dataset, batch_samplers=samplers, generator=generator, seed=seed)


def build_dataloader(
    dataset: Any,
    batch_size: int,
    args: Any,
    collate_fn: Callable[[list[dict[str, Any]]], dict[str, Any]],
    label_columns: Sequence[str],
    dataset_name: str | None = None,
) -> DataLoader[Any]:
    """A DataLoader over ``dataset`` with the batch samplers that ``args`` chooses.

    Args:
        dataset: a ``datasets.Dataset``, ``DatasetDict`` (or dict of Datasets), ``IterableDataset``,
            or any sized torch dataset of dict rows.
        args: the training arguments (sampler choices, seed, drop_last, worker settings).
        dataset_name: the name of ``dataset`` within a dict of datasets, added to its rows.

    Raises:
        ConfigurationError: a dict holding streaming datasets, or an object that is no dataset.
    """
    datasets = require("datasets", "train", "Training")
    generator = torch.Generator()
    seed = args.seed if args.seed is not None else 0
    generator.manual_seed(seed)
    options: dict[str, Any] = {
        "collate_fn": collate_fn,
        "num_workers": args.dataloader_num_workers,
        "pin_memory": args.dataloader_pin_memory and torch.cuda.is_available(),
        "persistent_workers": args.dataloader_persistent_workers and args.dataloader_num_workers > 0,
        "prefetch_factor": args.dataloader_prefetch_factor,
    }
    drop_last = args.dataloader_drop_last
    if isinstance(dataset, (datasets.IterableDataset, torch.utils.data.IterableDataset)):
        return DataLoader(dataset, batch_size=batch_size, drop_last=drop_last, **options)
    if isinstance(dataset, dict):
        parts = dict(dataset)
        if any(isinstance(part, (datasets.IterableDataset, datasets.IterableDatasetDict)) for part in parts.values()):
            raise ConfigurationError("A dict of datasets cannot hold streaming (Iterable) datasets; pass Datasets.")
        samplers = [
            batch_sampler(args.batch_sampler, part, batch_size, drop_last, label_columns, generator, seed)
            for part in parts.values()
        ]
        joined: ConcatDataset[Any] = ConcatDataset([NamedRows(part, name) for name, part in parts.items()])
        sampler = multi_batch_sampler(args.multi_dataset_batch_sampler, joined, samplers, generator, seed)
        return DataLoader(joined, batch_sampler=sampler, **options)
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")) or inspect.isclass(dataset):
        raise ConfigurationError(
            f"Expected a datasets.Dataset, a DatasetDict / dict of Datasets or an IterableDataset; "
            f"got {type(dataset).__name__}."
        )
    sampler = batch_sampler(args.batch_sampler, dataset, batch_size, drop_last, label_columns, generator, seed)
    rows = NamedRows(dataset, dataset_name) if dataset_name is not None else dataset
    return DataLoader(rows, batch_sampler=sampler, **options)
