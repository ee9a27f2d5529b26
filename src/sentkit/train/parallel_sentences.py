"""ParallelSentencesDataset: translated sentences paired with a teacher's source embeddings.

The classic (``model.fit``) data of multilingual knowledge distillation (Reimers & Gurevych
2020): each line of a tab-separated file holds a source sentence and its translations; every
sentence of the line (the source included) becomes one :class:`~sentkit.train.InputExample`
whose label is the teacher's embedding of the source sentence. Train with
:class:`~sentkit.train.losses.MSELoss` so the student maps every language onto the teacher's
vector space.

The behaviour follows sentence-transformers 6.2 exactly, including its randomness: examples are
made in rounds (one source sentence per weight unit of each dataset), shuffled with Python's
``random`` module, and handed out one by one; the index given to ``__getitem__`` is ignored.
Seed ``random`` for reproducible rounds (the order of a source's translations within a round
follows Python's ``set``, as in the reference).
"""

from __future__ import annotations

import gzip
import logging
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from sentkit.errors import InputError
from sentkit.train.data import InputExample

__all__ = ["ParallelSentencesDataset"]

logger = logging.getLogger(__name__)


class ParallelSentencesDataset(Dataset):
    """Parallel sentences for teacher -> student distillation (the classic ``fit`` API).

    Args:
        student_model: the model being trained (kept as ``student_model``; not used to read data).
        teacher_model: anything with ``encode(sentences, batch_size=..., show_progress_bar=...,
            convert_to_numpy=True)``; it embeds the first column of each line.
        batch_size: the batch size of the teacher's ``encode`` calls.
        use_embedding_cache: keep each source sentence's teacher embedding, so it is encoded once.

    ``len(dataset)`` is the number of distinct (source, sentence) pairs loaded; iterating the
    dataset (as ``fit`` does) yields that many examples. ``dataset[i]`` returns the next example
    whatever ``i`` is, generating a new shuffled round when the current one is used up.
    """

    def __init__(
        self,
        student_model: Any,
        teacher_model: Any,
        batch_size: int = 8,
        use_embedding_cache: bool = True,
    ) -> None:
        self.student_model = student_model
        self.teacher_model = teacher_model
        self.datasets: list[list[tuple[str, set[str]]]] = []  # per dataset: (source, its sentences)
        self.datasets_iterator: list[int] = []  # per dataset: position of the next source
        self.dataset_indices: list[int] = []  # dataset ids, each repeated `weight` times: one round
        self.cache: list[InputExample] = []  # the examples of the current round still to hand out
        self.batch_size = batch_size
        self.use_embedding_cache = use_embedding_cache
        self.embedding_cache: dict[str, Any] = {}
        self.num_sentences = 0

    def load_data(
        self,
        filepath: str,
        weight: int = 100,
        max_sentences: int | None = None,
        max_sentence_length: int | None = 128,
    ) -> None:
        """Read a tab-separated file (``.gz`` is decompressed): source sentence, then its translations.

        Args:
            filepath: the file; one line per source sentence, columns separated by tabs.
            weight: how many source sentences of this dataset each round takes (relative sampling
                frequency when several datasets are loaded).
            max_sentences: read at most this many lines (kept ones); ``None`` or <= 0: all.
            max_sentence_length: skip lines with a sentence longer than this many characters;
                ``None`` or <= 0: no limit.

        Raises:
            OSError: the file cannot be read. UnicodeDecodeError: it is not UTF-8.
        """
        logger.info("Loading %s", filepath)
        parallel_sentences: list[list[str]] = []
        opener = gzip.open if str(filepath).endswith(".gz") else open
        with opener(filepath, "rt", encoding="utf8") as handle:
            for line in handle:
                sentences = line.strip().split("\t")
                if _too_long(sentences, max_sentence_length):
                    continue
                parallel_sentences.append(sentences)
                if max_sentences is not None and 0 < max_sentences <= len(parallel_sentences):
                    break
        self.add_dataset(
            parallel_sentences, weight=weight, max_sentences=max_sentences, max_sentence_length=max_sentence_length
        )

    def add_dataset(
        self,
        parallel_sentences: Sequence[Sequence[str]],
        weight: int = 100,
        max_sentences: int | None = None,
        max_sentence_length: int | None = 128,
    ) -> None:
        """Add parallel sentences given in memory: ``[[source, translation, ...], ...]``.

        Lines with the same source merge; ``max_sentences`` caps the number of distinct sources,
        ``max_sentence_length`` and ``weight`` are as in :meth:`load_data`. Nothing is added
        when no line is left.

        Raises:
            InputError: an item that is a string or empty, or a ``weight`` that is not a non-negative integer.
        """
        if isinstance(weight, bool) or not isinstance(weight, (int, np.integer)) or weight < 0:
            raise InputError(f"weight must be a non-negative integer (sources per round); got {weight!r}.")
        sentences_map: dict[str, set[str]] = {}
        for position, sentences in enumerate(parallel_sentences):
            if isinstance(sentences, str) or len(sentences) == 0:
                raise InputError(
                    f"Each item of parallel_sentences must be a list [source, translation, ...]; "
                    f"item {position} is {sentences!r}."
                )
            if _too_long(sentences, max_sentence_length):
                continue
            sentences_map.setdefault(sentences[0], set()).update(sentences)
            if max_sentences is not None and 0 < max_sentences <= len(sentences_map):
                break
        if not sentences_map:
            return
        self.num_sentences += sum(len(group) for group in sentences_map.values())
        dataset_id = len(self.datasets)
        self.datasets.append(list(sentences_map.items()))
        self.datasets_iterator.append(0)
        self.dataset_indices.extend([dataset_id] * int(weight))

    def generate_data(self) -> None:
        """Make one round of examples: the next source of each dataset per weight unit, every
        sentence of it labelled with the teacher's source embedding, shuffled into ``cache``."""
        sources: list[str] = []
        groups: list[set[str]] = []
        for dataset_id in self.dataset_indices:
            source, group = self.next_entry(dataset_id)
            sources.append(source)
            groups.append(group)
        embeddings = self.get_embeddings(sources)
        for embedding, group in zip(embeddings, groups, strict=True):
            self.cache.extend(InputExample(texts=[sentence], label=embedding) for sentence in group)
        random.shuffle(self.cache)

    def next_entry(self, data_idx: int) -> tuple[str, set[str]]:
        """The next (source, sentences) of dataset ``data_idx``; after the last one the dataset is
        reshuffled and starts over."""
        entries = self.datasets[data_idx]
        source, group = entries[self.datasets_iterator[data_idx]]
        self.datasets_iterator[data_idx] += 1
        if self.datasets_iterator[data_idx] >= len(entries):
            self.datasets_iterator[data_idx] = 0
            random.shuffle(entries)
        return source, group

    def get_embeddings(self, sentences: list[str]) -> Any:
        """Teacher embeddings of ``sentences``: an array (n, D), or with the cache a list of (D,) arrays."""
        if not self.use_embedding_cache:
            return self._encode(sentences)
        new_sentences = [sentence for sentence in sentences if sentence not in self.embedding_cache]
        if new_sentences:
            for sentence, embedding in zip(new_sentences, self._encode(new_sentences), strict=True):
                self.embedding_cache[sentence] = embedding
        return [self.embedding_cache[sentence] for sentence in sentences]

    def _encode(self, sentences: list[str]) -> Any:
        return self.teacher_model.encode(
            sentences, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )

    def __len__(self) -> int:
        return self.num_sentences

    def __getitem__(self, idx: int) -> InputExample:
        """The next example of the current round (``idx`` is ignored, as in the reference).

        Raises:
            InputError: no dataset with sentences and a positive weight was added.
        """
        if not self.cache:
            self.generate_data()
        if not self.cache:
            raise InputError(
                "ParallelSentencesDataset has nothing to sample: add data with load_data or add_dataset "
                "(with weight >= 1) first."
            )
        return self.cache.pop()

    def __iter__(self) -> Iterator[InputExample]:
        """``len(self)`` examples, as a DataLoader over the dataset would draw them (it never ends otherwise)."""
        for index in range(len(self)):
            yield self[index]


def _too_long(sentences: Sequence[str], max_sentence_length: int | None) -> bool:
    return (
        max_sentence_length is not None
        and max_sentence_length > 0
        and max(len(sentence) for sentence in sentences) > max_sentence_length
    )
