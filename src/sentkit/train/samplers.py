"""Batch samplers: which rows of a dataset form each training batch.

A batch sampler yields lists of row indices. The trainers pick one by name through
``args.batch_sampler`` (one dataset) and ``args.multi_dataset_batch_sampler`` (a dict of datasets),
or take a class or factory with the same constructor. Each epoch's batches depend on the seed and
the epoch number only, so a run resumed from a checkpoint sees the batches of an uninterrupted one:

- :class:`DefaultBatchSampler` wraps a ``RandomSampler``, which accelerate (as the Hugging Face
  trainer sets it up) replaces by its seedable sampler, reseeded with ``seed + epoch``;
- the other samplers reseed their generator with ``seed + epoch`` themselves.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any, cast

import torch
from torch.utils.data import BatchSampler, ConcatDataset, RandomSampler
from transformers.utils import ExplicitEnum

from sentkit.errors import ConfigurationError

logger = logging.getLogger(__name__)

# Columns that are never part of a row's values when looking for duplicates.
_NOT_VALUES = ("dataset_name",)


class BatchSamplers(ExplicitEnum):
    """Names of the single-dataset batch samplers (``args.batch_sampler``)."""

    BATCH_SAMPLER = "batch_sampler"  # shuffled rows
    NO_DUPLICATES = "no_duplicates"  # no text twice in a batch (in-batch negatives stay negatives)
    NO_DUPLICATES_HASHED = "no_duplicates_hashed"  # same batches as no_duplicates here
    GROUP_BY_LABEL = "group_by_label"  # pairs of rows per label, several labels per batch


class MultiDatasetBatchSamplers(ExplicitEnum):
    """Names of the samplers that interleave batches of several datasets (``args.multi_dataset_batch_sampler``)."""

    ROUND_ROBIN = "round_robin"  # one batch of each dataset in turn, until the smallest runs out
    PROPORTIONAL = "proportional"  # every batch of every dataset, in a random order


class DefaultBatchSampler(BatchSampler):
    """Shuffled batches of ``batch_size`` rows; the last one shorter unless ``drop_last``.

    Args:
        dataset: anything with ``len()``.
        valid_label_columns: label column names (unused here; subclasses read them).
        generator: the random source; ``None`` gives torch's global one (not reproducible).
        seed: the base seed of the subclasses, which reseed with ``seed + epoch``.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: Sequence[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1; got {batch_size}.")
        super().__init__(RandomSampler(dataset, generator=generator), batch_size=batch_size, drop_last=drop_last)
        self.dataset = dataset
        self.valid_label_columns = list(valid_label_columns or [])
        self.generator = generator
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _reseed(self) -> None:
        if self.generator is not None:
            self.generator.manual_seed(self.seed + self.epoch)

    def _permutation(self, size: int) -> list[int]:
        return torch.randperm(size, generator=self.generator).tolist()


class NoDuplicatesBatchSampler(DefaultBatchSampler):
    """Batches in which no value (text) occurs twice, across all non-label columns.

    Rows are visited in a shuffled order; a row that shares a value with the batch being filled
    waits for a later batch. Meant for losses that use the other rows of a batch as negatives
    (MultipleNegativesRankingLoss and friends): a duplicate would be a false negative.
    """

    def __init__(self, dataset: Any, batch_size: int, drop_last: bool, **kwargs: Any) -> None:
        super().__init__(dataset, batch_size, drop_last, **kwargs)
        label_columns = set(getattr(dataset, "column_names", None) or []) & set(self.valid_label_columns)
        self._value_rows = dataset.remove_columns(sorted(label_columns)) if label_columns else dataset

    def _values(self, index: int) -> set[str]:
        return {str(value) for key, value in self._value_rows[index].items() if key not in _NOT_VALUES}

    def __iter__(self) -> Iterator[list[int]]:
        self._reseed()
        remaining = self._permutation(len(self.dataset))
        while remaining:
            batch: list[int] = []
            seen: set[str] = set()
            waiting: list[int] = []
            for position, index in enumerate(remaining):
                values = self._values(index)
                if values & seen:
                    waiting.append(index)
                    continue
                batch.append(index)
                seen |= values
                if len(batch) == self.batch_size:
                    waiting.extend(remaining[position + 1 :])
                    break
            remaining = waiting
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch

    def __len__(self) -> int:
        size = len(self.dataset)
        return size // self.batch_size if self.drop_last else -(-size // self.batch_size)


class GroupByLabelBatchSampler(DefaultBatchSampler):
    """Batches of rows taken two at a time per label, several labels per batch.

    For the batch triplet losses, which need at least two rows of a label (anchor and positive)
    and rows of other labels (negatives) in every batch. ``batch_size`` must be even and >= 4.
    Labels with fewer than two rows are left out.

    Raises:
        ConfigurationError: an odd or too small batch size, no label column, fewer than two
            labels with two rows.
    """

    def __init__(self, dataset: Any, batch_size: int, drop_last: bool, **kwargs: Any) -> None:
        super().__init__(dataset, batch_size, drop_last, **kwargs)
        if batch_size < 4 or batch_size % 2:
            raise ConfigurationError(f"group_by_label needs an even batch_size >= 4; got {batch_size}.")
        column = next((name for name in self.valid_label_columns if name in dataset.column_names), None)
        if column is None:
            raise ConfigurationError(
                f"group_by_label needs a label column (one of {self.valid_label_columns}); "
                f"the dataset has {dataset.column_names}."
            )
        groups: dict[Any, list[int]] = defaultdict(list)
        for index, label in enumerate(dataset[column]):
            groups[label].append(index)
        self.groups = {label: rows for label, rows in groups.items() if len(rows) >= 2}
        if len(self.groups) < 2:
            raise ConfigurationError("group_by_label needs at least two labels with two rows or more each.")

    def _stream(self) -> list[int]:
        """Rows in emission order: each round visits the labels left (shuffled), two rows each."""
        queues = {}
        for label, rows in self.groups.items():
            order = self._permutation(len(rows))[: len(rows) // 2 * 2]
            queues[label] = deque(rows[i] for i in order)
        labels = list(queues)
        stream: list[int] = []
        last = None
        while len(labels) >= 2:
            labels = [labels[i] for i in self._permutation(len(labels))]
            if len(stream) % self.batch_size and labels[0] == last:
                labels[0], labels[1] = labels[1], labels[0]  # the batch being filled needs another label
            last = labels[-1]
            for label in labels:
                stream += [queues[label].popleft(), queues[label].popleft()]
            labels = [label for label in labels if queues[label]]
        return stream

    def __iter__(self) -> Iterator[list[int]]:
        self._reseed()
        stream = self._stream()
        for start in range(0, len(stream), self.batch_size):
            batch = stream[start : start + self.batch_size]
            if len(batch) == self.batch_size or (not self.drop_last and len(batch) >= 4):
                yield batch

    def __len__(self) -> int:
        pairs = sorted((len(rows) // 2 for rows in self.groups.values()), reverse=True)
        stream = 2 * sum(min(count, pairs[1]) for count in pairs)
        extra = 0 if self.drop_last or stream % self.batch_size < 4 else 1
        return stream // self.batch_size + extra


class MultiDatasetDefaultBatchSampler(BatchSampler):
    """Interleaves the batches of one batch sampler per dataset of a :class:`ConcatDataset`.

    Indices are shifted into the concatenated dataset. Subclasses decide the order. The
    samplers share one generator, seeded here with ``seed + epoch`` (shuffling samplers of the
    datasets draw from it in turn; the others reseed it themselves).
    """

    def __init__(
        self,
        dataset: ConcatDataset,
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        if len(dataset.datasets) != len(batch_samplers):
            raise ConfigurationError(
                f"Got {len(batch_samplers)} batch samplers for {len(dataset.datasets)} datasets; one each is needed."
            )
        first = batch_samplers[0]
        super().__init__(cast(Any, dataset), batch_size=first.batch_size, drop_last=first.drop_last)
        self.dataset = dataset
        self.batch_samplers = batch_samplers
        self.generator = generator
        self.seed = seed
        self.epoch = 0
        self.offsets = [0, *accumulate(len(cast(Any, part)) for part in dataset.datasets)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        for sampler in self.batch_samplers:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)

    def _reseed(self) -> None:
        if self.generator is not None:
            self.generator.manual_seed(self.seed + self.epoch)

    def __iter__(self) -> Iterator[list[int]]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class RoundRobinBatchSampler(MultiDatasetDefaultBatchSampler):
    """One batch of each dataset in turn, until the dataset with the fewest batches runs out."""

    def __iter__(self) -> Iterator[list[int]]:
        self._reseed()
        iterators = [iter(sampler) for sampler in self.batch_samplers]
        for batches in zip(*iterators, strict=False):  # stops at the shortest
            for offset, batch in zip(self.offsets, batches, strict=False):
                yield [offset + index for index in batch]

    def __len__(self) -> int:
        return min(len(sampler) for sampler in self.batch_samplers) * len(self.batch_samplers)


class ProportionalBatchSampler(MultiDatasetDefaultBatchSampler):
    """Every batch of every dataset once per epoch, datasets drawn in a random order.

    A larger dataset is drawn from more often, in proportion to its number of batches.
    """

    def __iter__(self) -> Iterator[list[int]]:
        self._reseed()
        owners = [part for part, sampler in enumerate(self.batch_samplers) for _ in range(len(sampler))]
        order = torch.randperm(len(owners), generator=self.generator).tolist()
        iterators = [iter(sampler) for sampler in self.batch_samplers]
        for position in order:
            part = owners[position]
            batch = next(iterators[part], None)
            if batch is not None:
                yield [self.offsets[part] + index for index in batch]

    def __len__(self) -> int:
        return sum(len(sampler) for sampler in self.batch_samplers)


SINGLE_SAMPLERS: dict[BatchSamplers, type[DefaultBatchSampler]] = {
    BatchSamplers.BATCH_SAMPLER: DefaultBatchSampler,
    BatchSamplers.NO_DUPLICATES: NoDuplicatesBatchSampler,
    BatchSamplers.NO_DUPLICATES_HASHED: NoDuplicatesBatchSampler,
    BatchSamplers.GROUP_BY_LABEL: GroupByLabelBatchSampler,
}
MULTI_SAMPLERS: dict[MultiDatasetBatchSamplers, type[MultiDatasetDefaultBatchSampler]] = {
    MultiDatasetBatchSamplers.ROUND_ROBIN: RoundRobinBatchSampler,
    MultiDatasetBatchSamplers.PROPORTIONAL: ProportionalBatchSampler,
}
