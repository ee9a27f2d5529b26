"""Scoring passages longer than a cross encoder takes: overlapping windows, one score per pair.

The reference truncates a (query, passage) pair to ``max_length`` tokens, so whatever the passage
says after that point cannot count (sentence-transformers issue #1025). With windows, the passage
is cut into pieces of ``max_length - len(query) - special tokens`` tokens that overlap by
``overlap`` tokens; each window is scored as ``[CLS] query [SEP] piece [SEP]`` and the pair's score
is the max or the mean of its window scores (after the activation). A pair that fits in
``max_length`` has exactly one window, identical to the truncated input, so its score does not
change. A query longer than half of ``max_length`` is cut to that length first, so every window
keeps room for the passage.
"""

from __future__ import annotations

from typing import Any

import torch

from sentkit.errors import InputError

WINDOW_AGGREGATIONS = ("max", "mean")

TokenizedWindow = dict[str, list[int]]


def check_window_options(aggregation: Any, overlap: Any) -> None:
    """Raises InputError for an unknown aggregation or a negative overlap."""
    if aggregation is not None and aggregation not in WINDOW_AGGREGATIONS:
        raise InputError(
            f"window_aggregation={aggregation!r} is not supported; use one of {WINDOW_AGGREGATIONS} "
            "or None (truncate long pairs, as the reference does)."
        )
    if overlap is not None and (isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0):
        raise InputError(f"window_overlap must be a non-negative int or None, got {overlap!r}.")


def split_into_windows(
    hf_tokenizer: Any, pairs: list[tuple[str, str]], max_length: int, overlap: int | None
) -> tuple[list[TokenizedWindow], list[int]]:
    """Tokenize each (query, passage) pair into windows of at most ``max_length`` tokens.

    Returns:
        The windows (token lists, unpadded) and, for each window, the index of its pair; the
        windows of a pair are contiguous and in passage order.
    """
    specials = hf_tokenizer.num_special_tokens_to_add(pair=True)
    query_budget = max(1, max_length // 2)
    windows: list[TokenizedWindow] = []
    owners: list[int] = []
    for index, (query, passage) in enumerate(pairs):
        query, query_tokens = _cut_query(hf_tokenizer, query, query_budget)
        passage_budget = max(1, max_length - specials - query_tokens)
        stride = passage_budget // 4 if overlap is None else overlap
        stride = min(stride, passage_budget // 2)  # the tokenizer needs windows that advance
        # Lists, as in batch tokenization: a single call drops an empty passage instead of pairing it.
        encoded = hf_tokenizer(
            [query],
            [passage],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
        )
        keys = [key for key in encoded if key not in ("overflow_to_sample_mapping", "num_truncated_tokens")]
        for window in range(len(encoded["input_ids"])):
            windows.append({key: list(encoded[key][window]) for key in keys})
            owners.append(index)
    return windows, owners


def _cut_query(hf_tokenizer: Any, query: str, budget: int) -> tuple[str, int]:
    """``query`` cut (at a token boundary) to at most ``budget`` tokens, and its token count."""
    encoded = hf_tokenizer(query, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    if len(offsets) <= budget:
        return query, len(offsets)
    return query[: offsets[budget - 1][1]], budget


def pad_windows(hf_tokenizer: Any, windows: list[TokenizedWindow]) -> dict[str, torch.Tensor]:
    """Pad a batch of windows into (B, T) tensors."""
    return dict(hf_tokenizer.pad(windows, padding=True, return_tensors="pt"))


def aggregate_windows(scores: torch.Tensor, owners: list[int], aggregation: str) -> torch.Tensor:
    """Combine per-window scores (W, ...) into per-pair scores (P, ...), pairs in order of first window."""
    rows = []
    start = 0
    while start < len(owners):
        end = start
        while end < len(owners) and owners[end] == owners[start]:
            end += 1
        block = scores[start:end]  # (w, ...) windows of one pair
        rows.append(block.max(dim=0).values if aggregation == "max" else block.mean(dim=0))
        start = end
    return torch.stack(rows)
