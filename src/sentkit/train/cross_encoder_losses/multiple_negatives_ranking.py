"""MultipleNegativesRankingLoss for cross encoders: pick each query's positive among sampled in-batch negatives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.train.cross_encoder_losses._pairs import (
    activation_config,
    check_column_lengths,
    check_cross_encoder,
    score_columns,
)
from sentkit.train.registry import register_loss

_SIGMOID = nn.Sigmoid()


@register_loss("multiple_negatives_ranking", family="cross")
class MultipleNegativesRankingLoss(nn.Module):
    """InfoNCE for a CrossEncoder: each query must score its own positive above other candidates.

    A cross encoder cannot score every query against every document cheaply, so each query is
    scored against its positive, ``num_negatives`` documents drawn at random from the other rows
    of the batch (their positives and hard negatives), and its own hard negatives. The loss is the
    cross-entropy of picking the positive among them.

    Inputs: (anchor, positive) pairs, or (anchor, positive, negative_1, ..., negative_n) rows.
    Labels: none. The model needs ``num_labels == 1``.

    Args:
        model: the :class:`sentkit.CrossEncoder` to train.
        num_negatives: in-batch negatives sampled per anchor (without replacement); None or more
            than are available takes all of them.
        scale: the activated scores are multiplied by this before the softmax (a falsy value skips it).
        activation_fn: applied to the logits first (default: sigmoid; None for none).

    Raises:
        ConfigurationError: a model that is no CrossEncoder or has several labels.

    Example::

        loss = MultipleNegativesRankingLoss(model, num_negatives=4)
        value = loss([queries, positives, hard_negatives], labels=None)
    """

    def __init__(
        self,
        model: CrossEncoder,
        num_negatives: int | None = 4,
        scale: float = 10.0,
        activation_fn: nn.Module | None = _SIGMOID,
    ) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.num_negatives = num_negatives
        self.scale = scale
        self.activation_fn = activation_fn
        self.cross_entropy_loss = nn.CrossEntropyLoss()

    def forward(
        self,
        inputs: Sequence[Sequence[str]],
        labels: Tensor | None = None,
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """Loss for B anchors; ``inputs[1]`` the positives, ``inputs[2:]`` hard negatives; labels ignored.

        ``task`` is accepted for compatibility (a CrossEncoder has no task routes).

        Raises:
            InputError: a column whose length differs from the anchors'.
        """
        anchors, candidates = inputs[0], inputs[1:]
        check_column_lengths(anchors, candidates)
        columns = [candidates[0], *self.sample_in_batch_negatives(len(anchors), candidates), *candidates[1:]]
        logits = score_columns(self.model, anchors, columns, prompt)  # (B, 1 + sampled + hard)
        return self.calculate_loss(logits)

    def sample_in_batch_negatives(self, batch_size: int, candidates: Sequence[Sequence[str]]) -> list[list[str]]:
        """Columns of in-batch negatives: column j holds the j-th negative drawn for every anchor.

        The candidates of other rows (any column) are eligible; the anchor's own row never is.
        """
        flat = [text for column in candidates for text in column]  # column-major, (C * B)
        eligible = ~torch.eye(batch_size, dtype=torch.bool).repeat(1, len(candidates))  # (B, C * B)
        available = len(flat) - len(candidates)
        if self.num_negatives is not None and self.num_negatives < available:
            chosen = torch.multinomial(eligible.float(), self.num_negatives)  # (B, num_negatives)
        else:
            positions = torch.arange(len(flat)).expand(batch_size, -1)  # (B, C * B)
            chosen = positions[eligible].view(batch_size, -1)  # (B, available)
        return [[flat[index] for index in column.tolist()] for column in chosen.T]

    def calculate_loss(self, logits: Tensor) -> Tensor:
        """Cross-entropy of the positive (column 0) among the (B, K) candidate logits."""
        if self.activation_fn is not None:
            logits = self.activation_fn(logits)
        if self.scale:
            logits = logits * self.scale
        target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)  # (B,)
        return self.cross_entropy_loss(logits, target)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "num_negatives": self.num_negatives,
            "activation_fn": activation_config(self.activation_fn),
        }
