"""Shared by the listwise losses: score each query's documents and pad the ragged lists into matrices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.errors import InputError
from sentkit.train.cross_encoder_losses._pairs import score_pairs

# Padding of the logit matrix: far below any real logit, yet finite so that differences stay finite.
PADDED_LOGIT = -1e16


def check_listwise_batch(
    loss: nn.Module, inputs: Sequence[Any], labels: Any
) -> tuple[Sequence[str], Sequence[Sequence[str]]]:
    """The (queries, document lists) of a listwise batch, checked against ``labels``.

    Raises:
        InputError: labels given as one tensor instead of one tensor per query, other than two
            columns, a number of labels that differs from the number of documents of a query, or
            no documents at all.
    """
    name = type(loss).__name__
    if isinstance(labels, Tensor):
        raise InputError(
            f"{name} takes a list with one tensor of relevance labels per query, got a single tensor; "
            "give the labels column as lists, e.g. [[1, 0, 0], [1, 1, 0, 0]]."
        )
    if len(inputs) != 2:
        raise InputError(f"{name} takes two columns (query, list of documents), got {len(inputs)} columns.")
    queries, documents = inputs
    if len(queries) != len(documents) or len(documents) != len(labels):
        raise InputError(
            f"{name}: {len(queries)} queries, {len(documents)} document lists and {len(labels)} label lists; "
            "give one document list and one label list per query."
        )
    counts, label_counts = [len(docs) for docs in documents], [len(row) for row in labels]
    if counts != label_counts:
        raise InputError(
            f"{name}: the queries have {counts} documents but {label_counts} labels; give one label per document."
        )
    if not any(counts):
        raise InputError(f"{name} got a batch without documents; every query needs at least one.")
    return queries, documents


def listwise_logits(
    model: CrossEncoder,
    queries: Sequence[str],
    documents: Sequence[Sequence[str]],
    mini_batch_size: int | None,
    prompt: str | None,
) -> Tensor:
    """Logits (P,) of every (query, document) pair, query by query, scored ``mini_batch_size`` pairs at a time.

    ``mini_batch_size`` None means as many pairs as there are queries; 0 or less means all pairs at once.
    """
    pairs = [(query, document) for query, docs in zip(queries, documents, strict=True) for document in docs]
    chunk = mini_batch_size or len(queries)
    if chunk <= 0:
        chunk = len(pairs)
    starts = range(0, len(pairs), chunk)
    chunks = [score_pairs(model, pairs[start : start + chunk], prompt).view(-1) for start in starts]
    return torch.cat(chunks).float()  # (P,)


def pad_lists(
    logits: Tensor, labels: Sequence[Tensor], counts: Sequence[int], device: torch.device
) -> tuple[Tensor, Tensor]:
    """Flat logits (P,) and per-query labels -> (B, N) logit and label matrices, N the longest list.

    Padded logits are :data:`PADDED_LOGIT`; padded labels are -inf, so a softmax over labels gives
    them no weight and pairs that involve them are not finite.
    """
    rows = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))  # (P,)
    columns = torch.cat([torch.arange(count) for count in counts])  # (P,)
    shape = (len(counts), max(counts))
    logit_matrix = torch.full(shape, PADDED_LOGIT, device=device)  # (B, N)
    logit_matrix[rows, columns] = logits
    label_matrix = torch.full(shape, float("-inf"), device=device)  # (B, N)
    label_matrix[rows, columns] = torch.cat(list(labels)).float().to(device)
    return logit_matrix, label_matrix
