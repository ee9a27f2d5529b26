"""MatryoshkaLoss: train embeddings whose leading dimensions work on their own (Kusupati et al. 2022).

Wraps another loss and applies it to the embeddings cut to each of ``matryoshka_dims`` (and
re-normalised), summing the results with ``matryoshka_weights``. The model runs once per batch:
the full embeddings are cached and cut for each size. Works with the gradient-caching losses too
(their cached embeddings are cut instead). Teacher-embedding labels (MSELoss) are cut as well.

Requirements:
    Whatever the wrapped loss requires.

Inputs:
    The wrapped loss's columns and labels.

Example:
    >>> inner = MultipleNegativesRankingLoss(model)
    >>> loss = MatryoshkaLoss(model, inner, matryoshka_dims=[768, 512, 256, 128, 64])
    >>> loss([model.tokenize(anchors), model.tokenize(positives)], None).backward()
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentkit.errors import ConfigurationError
from sentkit.train.losses._shared import Features
from sentkit.train.registry import register_loss

logger = logging.getLogger(__name__)

_CITATION = """
@misc{kusupati2024matryoshka,
    title={Matryoshka Representation Learning},
    author={Aditya Kusupati and Gantavya Bhatt and Aniket Rege and Matthew Wallingford and Aditya Sinha and
            Vivek Ramanujan and William Howard-Snyder and Kaifeng Chen and Sham Kakade and Prateek Jain and
            Ali Farhadi},
    year={2024},
    eprint={2205.13147},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


def shrink(embeddings: Tensor, dim: int) -> Tensor:
    """The first ``dim`` values of each (..., D) embedding, L2-normalised: (..., dim).

    Raises:
        ConfigurationError: ``dim`` larger than D.
    """
    if dim > embeddings.shape[-1]:
        raise ConfigurationError(f"Matryoshka dimension {dim} exceeds the embedding dimension {embeddings.shape[-1]}.")
    return F.normalize(embeddings[..., :dim], p=2, dim=-1)


class _TruncatingForward:
    """Stands in for ``model.forward`` during one MatryoshkaLoss step.

    For the first (largest) dimension it runs the model and keeps each call's output; for the
    later dimensions it replays the kept outputs in call order. Either way the returned
    ``sentence_embedding`` is cut to the current dimension.
    """

    def __init__(self, forward: Callable[[Features], Features]) -> None:
        self.forward = forward
        self.outputs: list[Features] = []
        self.dim = 0
        self.calls = 0
        self.recording = True

    def start(self, dim: int, recording: bool) -> None:
        self.dim, self.calls, self.recording = dim, 0, recording

    def __call__(self, features: Features) -> Features:
        if self.recording:
            output = self.forward(features)
            self.outputs.append({**output, "full_embedding": output["sentence_embedding"]})
        output = self.outputs[self.calls]
        self.calls += 1
        return {**output, "sentence_embedding": shrink(output["full_embedding"], self.dim)}


class _TruncatingCalculateLoss:
    """Replaces a gradient-caching loss's ``calculate_loss``: one weighted call per dimension."""

    def __init__(self, calculate: Callable[..., Tensor], owner: MatryoshkaLoss) -> None:
        self.calculate = calculate
        self.owner = owner

    def __call__(self, reps: list[list[Tensor]], *args: Any, **kwargs: Any) -> Tensor:
        total: Tensor | float = 0.0
        for dim, weight in self.owner.sampled_dims():
            cut = [[shrink(rep, dim) for rep in column] for column in reps]  # each (b, dim)
            if not torch.is_grad_enabled():
                total = total + weight * self.calculate(cut, *args, **kwargs)
                continue
            # The inner loss back-propagates to these leaves; carry that on through the cut, weighted.
            leaves = [[rep.detach().requires_grad_() for rep in column] for column in cut]
            total = total + weight * self.calculate(leaves, *args, **kwargs)
            for cut_column, leaf_column in zip(cut, leaves, strict=True):
                for rep, leaf in zip(cut_column, leaf_column, strict=True):
                    if leaf.grad is not None:
                        rep.backward(weight * leaf.grad)
        return total if isinstance(total, Tensor) else torch.tensor(total)


@register_loss("matryoshka", family="sentence")
class MatryoshkaLoss(nn.Module):
    """A loss applied at several embedding sizes.

    Args:
        model: the SentenceTransformer to train (the one ``loss`` uses).
        loss: the loss to apply at each size.
        matryoshka_dims: the sizes, each <= the model's embedding dimension.
        matryoshka_weights: one weight per size; 1 each by default.
        n_dims_per_step: if > 0, only this many randomly drawn sizes per step.

    Raises:
        ConfigurationError: no sizes, a size <= 0 or too large, or weights of another length.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | Sequence[int] | None = None,
        n_dims_per_step: int = -1,
    ) -> None:
        super().__init__()
        _check_dims(model, matryoshka_dims, matryoshka_weights)
        self.model = model
        self.loss = loss
        weights = list(matryoshka_weights) if matryoshka_weights is not None else [1] * len(matryoshka_dims)
        ordered = sorted(zip(matryoshka_dims, weights, strict=True), key=lambda pair: pair[0], reverse=True)
        self.matryoshka_dims: tuple[int, ...] = tuple(dim for dim, _ in ordered)
        self.matryoshka_weights: tuple[float, ...] = tuple(weight for _, weight in ordered)
        self.n_dims_per_step = n_dims_per_step
        self.uses_gradient_cache = bool(getattr(loss, "uses_gradient_cache", False))
        if self.uses_gradient_cache:
            # Gradient caching back-propagates from a hook after forward returns: cut its cached embeddings instead.
            loss.calculate_loss = _TruncatingCalculateLoss(loss.calculate_loss, self)  # type: ignore[assignment,arg-type]

    def sampled_dims(self) -> list[tuple[int, float]]:
        """The (dim, weight) pairs of this step, largest first."""
        indices = list(range(len(self.matryoshka_dims)))
        if 0 < self.n_dims_per_step < len(indices):
            indices = sorted(random.sample(indices, self.n_dims_per_step))
        return [(self.matryoshka_dims[i], self.matryoshka_weights[i]) for i in indices]

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """The weighted sum of the wrapped loss at each sampled size."""
        if self.uses_gradient_cache:
            return self.loss(sentence_features, labels)
        sentence_features = list(sentence_features)
        truncating = _TruncatingForward(self.model.forward)
        full_dim = _embedding_dimension(self.model)
        total: Tensor | float = 0.0
        patched_before = self.model.__dict__.get("forward")  # an outer wrapper's patch, if any
        self.model.forward = truncating
        try:
            for step, (dim, weight) in enumerate(self.sampled_dims()):
                truncating.start(dim, recording=step == 0)
                step_labels = labels
                if isinstance(labels, Tensor) and labels.dim() in (2, 3) and labels.shape[-1] == full_dim:
                    step_labels = labels[..., :dim]  # teacher embeddings, cut like the student's
                total = total + weight * self.loss(sentence_features, step_labels)
        finally:
            if patched_before is None:
                del self.model.forward  # the class's forward again
            else:
                self.model.forward = patched_before
        return total if isinstance(total, Tensor) else torch.tensor(total)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "loss": type(self.loss).__name__,
            "matryoshka_dims": self.matryoshka_dims,
            "matryoshka_weights": self.matryoshka_weights,
            "n_dims_per_step": self.n_dims_per_step,
        }

    @property
    def citation(self) -> str:
        return _CITATION


def _embedding_dimension(model: nn.Module) -> int | None:
    method = getattr(model, "get_embedding_dimension", None)
    return method() if callable(method) else None


def _check_dims(model: nn.Module, dims: Sequence[int], weights: Sequence[float] | None) -> None:
    if not dims:
        raise ConfigurationError("matryoshka_dims needs at least one dimension.")
    if any(dim <= 0 for dim in dims):
        raise ConfigurationError(f"Every matryoshka dimension must be > 0, got {list(dims)}.")
    if weights is not None and len(weights) != len(dims):
        raise ConfigurationError(f"matryoshka_weights has {len(weights)} values for {len(dims)} dimensions.")
    full = _embedding_dimension(model)
    if full is None:
        return
    if any(dim > full for dim in dims):
        raise ConfigurationError(f"matryoshka_dims {list(dims)} exceed the model's embedding dimension {full}.")
    if full not in dims:
        logger.warning("matryoshka_dims %s leave out the full dimension %d: it will not be trained.", list(dims), full)
