"""Gradient caching (GradCache, Gao et al. 2021): large contrastive batches in bounded memory.

A cached loss runs in three stages:

1. embed every mini-batch of every column without a graph, remembering the RNG state of each
   forward pass (so dropout can be replayed);
2. compute the loss over the whole batch from those embeddings and back-propagate it to them,
   keeping d loss / d embedding for every mini-batch;
3. when the caller back-propagates the returned loss, re-embed each mini-batch with a graph,
   replaying its RNG state, and back-propagate ``dot(embedding, cached gradient)``.

Only one mini-batch of model activations is alive at a time, and the parameter gradients equal the
uncached loss's. A loss mixes in :class:`GradientCacheMixin` and implements ``calculate_loss``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import get_device_states, set_device_states
from tqdm.auto import tqdm

from sentkit.errors import ConfigurationError, InputError
from sentkit.train.losses._shared import Features

Ranges = list[tuple[int, int]]


class RandContext:
    """Snapshot of the CPU and CUDA RNG states, taken at creation and restored inside ``with``.

    The surrounding RNG state is left as it was when the block exits.
    """

    def __init__(self, *tensors: Any) -> None:
        self.cpu_state = torch.get_rng_state()
        self.devices, self.device_states = get_device_states(*tensors)
        self._fork: Any = None

    def __enter__(self) -> None:
        self._fork = torch.random.fork_rng(devices=self.devices, enabled=True)
        self._fork.__enter__()
        torch.set_rng_state(self.cpu_state)
        set_device_states(self.devices, self.device_states)

    def __exit__(self, *exc_info: Any) -> None:
        self._fork.__exit__(*exc_info)
        self._fork = None


# ------------------------------------------------------------------------------------ mini-batches
def batch_size_of(features: Features) -> int:
    """Rows in a features dict (from ``input_ids``/``attention_mask``, else the first batched tensor)."""
    for key in ("input_ids", "attention_mask"):
        value = features.get(key)
        if isinstance(value, Tensor):
            return int(value.shape[0])
    for value in features.values():
        if isinstance(value, Tensor) and value.dim() > 0:
            return int(value.shape[0])
    raise InputError(f"Cannot tell the batch size of features with keys {sorted(features)}: no tensor in them.")


def minibatch_ranges(features: Features, mini_batch_size: int, mini_batch_num_tokens: int | None = None) -> Ranges:
    """(begin, end) row ranges: ``mini_batch_size`` rows each, or greedy packs of at most
    ``mini_batch_num_tokens`` real tokens (a longer single row gets a range of its own)."""
    rows = batch_size_of(features)
    if mini_batch_num_tokens is None:
        return [(begin, min(begin + mini_batch_size, rows)) for begin in range(0, rows, mini_batch_size)]
    mask = features.get("attention_mask")
    if not isinstance(mask, Tensor):
        raise InputError("mini_batch_num_tokens needs an attention_mask to count tokens; use mini_batch_size.")
    cumulative = mask.sum(dim=1).cumsum(dim=0).tolist()  # (B,) tokens up to and including each row
    ranges: Ranges = []
    begin = 0
    while begin < rows:
        before = cumulative[begin - 1] if begin else 0
        end = max(bisect.bisect_right(cumulative, before + mini_batch_num_tokens), begin + 1)
        ranges.append((begin, end))
        begin = end
    return ranges


def slice_rows(features: Features, begin: int, end: int) -> Features:
    """Rows ``begin:end`` of every batched tensor, token axes cut after the last real token."""
    mask = features.get("attention_mask")
    width = keep = None
    if isinstance(mask, Tensor) and mask.dim() == 2:
        width = mask.shape[1]
        active = mask[begin:end].bool().any(dim=0)  # (T,) columns some row of the slice uses
        if active.any():
            keep = int(active.nonzero().max().item()) + 1
    sliced: Features = {}
    for key, value in features.items():
        if not isinstance(value, Tensor) or value.dim() == 0:
            sliced[key] = value
        elif keep is not None and value.dim() >= 2 and value.shape[1] == width:
            sliced[key] = value[begin:end, :keep]  # (b, keep, ...)
        else:
            sliced[key] = value[begin:end]
    return sliced


def check_mini_batch_settings(mini_batch_size: int, mini_batch_num_tokens: int | None) -> None:
    """Raise ConfigurationError on a mini-batch size or token budget below 1."""
    if mini_batch_size < 1:
        raise ConfigurationError(f"mini_batch_size must be >= 1, got {mini_batch_size}.")
    if mini_batch_num_tokens is not None and mini_batch_num_tokens < 1:
        raise ConfigurationError(f"mini_batch_num_tokens must be None or >= 1, got {mini_batch_num_tokens}.")


# ------------------------------------------------------------------------------------------ mixin
class GradientCacheMixin:
    """The three GradCache stages for an ``nn.Module`` loss with a ``model``.

    Subclasses set ``mini_batch_size`` (and optionally ``mini_batch_num_tokens``,
    ``show_progress_bar``), implement :meth:`calculate_loss` and call :meth:`forward_cached`.
    """

    model: nn.Module
    mini_batch_size: int
    mini_batch_num_tokens: int | None = None
    show_progress_bar: bool = False
    uses_gradient_cache: bool = True  # wrappers (MatryoshkaLoss) check this

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        """Scalar loss from ``reps[column][mini_batch]`` (each (b, D)).

        With ``with_backward`` the loss is back-propagated to ``reps`` (chunk by chunk if the loss
        is chunked) and returned detached.
        """
        raise NotImplementedError

    def embed_minibatch(
        self,
        sentence_feature: Features,
        begin: int,
        end: int,
        with_grad: bool,
        copy_random_state: bool,
        random_state: RandContext | None = None,
    ) -> tuple[Tensor, RandContext | None]:
        """(b, D) embeddings of rows ``begin:end``, and the RNG snapshot taken before, if asked."""
        features = slice_rows(sentence_feature, begin, end)
        replay: AbstractContextManager[Any] = nullcontext() if random_state is None else random_state
        grad: AbstractContextManager[Any] = nullcontext() if with_grad else torch.no_grad()
        with replay, grad:
            state = RandContext(*features.values()) if copy_random_state else None
            reps = self.model(features)["sentence_embedding"]  # (b, D)
        return reps, state

    def embed_minibatch_iter(
        self,
        sentence_feature: Features,
        with_grad: bool,
        copy_random_state: bool,
        random_states: list[RandContext | None] | None = None,
        ranges: Ranges | None = None,
    ) -> Iterator[tuple[Tensor, RandContext | None]]:
        """Embed each mini-batch of one column in turn (see :meth:`embed_minibatch`)."""
        if ranges is None:
            ranges = minibatch_ranges(sentence_feature, self.mini_batch_size, self.mini_batch_num_tokens)
        for i, (begin, end) in enumerate(tqdm(ranges, desc="Embed mini-batches", disable=not self.show_progress_bar)):
            state = None if random_states is None else random_states[i]
            yield self.embed_minibatch(sentence_feature, begin, end, with_grad, copy_random_state, state)

    def forward_cached(self, sentence_features: Iterable[Features], labels: Tensor | None = None) -> Tensor:
        """Stages 1 and 2; stage 3 is a hook on the returned (detached) loss tensor.

        Raises:
            InputError: a column whose embeddings the loss never used.
        """
        columns = list(sentence_features)
        grad_enabled = torch.is_grad_enabled()
        ranges = [minibatch_ranges(f, self.mini_batch_size, self.mini_batch_num_tokens) for f in columns]
        reps: list[list[Tensor]] = []
        states: list[list[RandContext | None]] = []
        for features, column_ranges in zip(columns, ranges, strict=True):
            embedded = list(self.embed_minibatch_iter(features, False, grad_enabled, ranges=column_ranges))
            reps.append([rep.detach().requires_grad_() for rep, _ in embedded])
            states.append([state for _, state in embedded])
        if not grad_enabled:
            return self.calculate_loss(reps, labels)
        loss = self.calculate_loss(reps, labels, with_backward=True).detach().requires_grad_()
        unused = [str(i) for i, column in enumerate(reps) if any(rep.grad is None for rep in column)]
        if unused:
            raise InputError(
                f"{type(self).__name__} did not use input column(s) {', '.join(unused)}; "
                "remove them from the dataset (every column is embedded twice when caching)."
            )
        cache = [[rep.grad for rep in column if rep.grad is not None] for column in reps]
        hook = partial(_replay_backward, loss_obj=self, columns=columns, cache=cache, states=states, ranges=ranges)
        loss.register_hook(hook)
        return loss


def _replay_backward(
    grad_output: Tensor,
    loss_obj: GradientCacheMixin,
    columns: list[Features],
    cache: list[list[Tensor]],
    states: list[list[RandContext | None]],
    ranges: list[Ranges],
) -> None:
    """Stage 3: re-embed every mini-batch with a graph and back-propagate its cached gradient.

    ``grad_output`` (d outer / d loss: loss scaling, accumulation) scales each surrogate.
    """
    with torch.enable_grad():
        for features, grads, column_states, column_ranges in zip(columns, cache, states, ranges, strict=True):
            replay = loss_obj.embed_minibatch_iter(features, True, False, column_states, column_ranges)
            for (reps, _), grad in zip(replay, grads, strict=True):
                if not reps.requires_grad:
                    continue  # a frozen model: nothing to train
                dtype = torch.promote_types(reps.dtype, grad.dtype)
                if dtype in (torch.float16, torch.bfloat16):
                    dtype = torch.float32
                surrogate = torch.dot(reps.flatten().to(dtype), grad.flatten().to(dtype)) * grad_output
                surrogate.backward()
