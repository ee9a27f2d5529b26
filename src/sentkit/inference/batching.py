"""Length-sorted batches bounded by a count and a token budget; halving a batch that runs out of memory.

Both engines (torch and ONNX Runtime) batch the same way: inputs sorted by length, longest first,
so each batch pads to about its own length; a batch holds at most ``batch_size`` inputs and, when
``max_batch_tokens`` is set, at most that many padded tokens (rows x longest row). A batch that
raises an out-of-memory error is split in two and each half retried; the smaller size is kept for
the batches that follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from sentkit.errors import InputError

Output = TypeVar("Output")

# Messages of the out-of-memory errors raised by torch (CUDA, MPS, CPU allocator) and ONNX Runtime.
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "failed to allocate memory", "bad_alloc")


def check_max_batch_tokens(max_batch_tokens: object) -> int | None:
    if max_batch_tokens is None:
        return None
    if isinstance(max_batch_tokens, bool) or not isinstance(max_batch_tokens, int) or max_batch_tokens <= 0:
        raise InputError(f"max_batch_tokens must be a positive int or None, got {max_batch_tokens!r}.")
    return max_batch_tokens


def input_lengths(inputs: Sequence[object]) -> list[int]:
    """The sort key of each input: characters of a text, pixels of an image (width x height, as
    sentence-transformers), else 1. Texts alone cost one ``len`` each."""
    try:
        return [len(item) for item in inputs]  # type: ignore[arg-type]
    except TypeError:
        return [_input_length(item) for item in inputs]


def _input_length(item: object) -> int:
    if hasattr(item, "__len__"):
        return len(item)
    size = getattr(item, "size", None)  # a PIL image: (width, height)
    if isinstance(size, tuple) and len(size) == 2:
        return int(size[0]) * int(size[1])
    return 1


def length_sorted_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int, max_batch_tokens: int | None = None
) -> list[np.ndarray]:
    """Split input indices into batches, longest inputs first.

    ``lengths`` are the inputs' lengths (tokens, or characters as an estimate). A batch takes
    inputs while it holds fewer than ``batch_size`` and, with ``max_batch_tokens``, while
    ``rows * longest`` stays within the budget; an input longer than the budget gets a batch of
    its own. Returns one int array of input indices per batch.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    if max_batch_tokens is None:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)  # the first input of a batch is its longest
        rows = min(batch_size, max(1, max_batch_tokens // longest))
        batches.append(order[start : start + rows])
        start += rows
    return batches


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says that an allocation failed (torch, ONNX Runtime, or Python)."""
    if isinstance(error, MemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError | OSError) and any(text in message for text in _OOM_MESSAGES)


class HalvingRunner:
    """Runs batches through ``run``; a batch that runs out of memory is halved and retried.

    ``run(rows)`` processes the rows of one batch (positions into it) and returns its output.
    Once a batch had to be split, later batches are split to the size that worked. A single row
    that runs out of memory re-raises the error.
    """

    def __init__(self) -> None:
        self.row_limit: int | None = None

    def __call__(self, rows: np.ndarray, run: Callable[[np.ndarray], Output]) -> Iterator[tuple[np.ndarray, Output]]:
        """Yield ``(rows_of_part, run(rows_of_part))`` for parts of ``rows`` that fit in memory."""
        pending = [rows]
        if self.row_limit is not None and len(rows) > self.row_limit:
            pending = [rows[start : start + self.row_limit] for start in range(0, len(rows), self.row_limit)]
        while pending:
            part = pending.pop(0)
            try:
                output = run(part)
            except (RuntimeError, MemoryError, OSError) as error:
                if len(part) == 1 or not is_out_of_memory(error):
                    raise
                half = (len(part) + 1) // 2
                self.row_limit = half
                _release_cached_memory()
                pending[:0] = [part[:half], part[half:]]
                continue
            yield part, output


def _release_cached_memory() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
