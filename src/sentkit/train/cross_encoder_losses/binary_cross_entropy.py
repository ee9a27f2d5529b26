"""BinaryCrossEntropyLoss: one logit per pair, trained towards a 0/1 (or [0, 1]) label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.train.cross_encoder_losses._pairs import (
    activation_config,
    check_cross_encoder,
    check_labels_per_pair,
    check_two_columns,
    score_pairs,
)
from sentkit.train.registry import register_loss

_IDENTITY = nn.Identity()


@register_loss("binary_cross_entropy", family="cross")
class BinaryCrossEntropyLoss(nn.Module):
    """Binary cross-entropy on the single logit a CrossEncoder gives each (text, text) pair.

    The usual loss for rerankers: relevant pairs are pushed to high logits, irrelevant ones to low.

    Inputs: two text columns, e.g. (query, passage). Labels: one float per pair, 1 for relevant,
    0 for irrelevant, or a soft score in [0, 1]. The model needs ``num_labels == 1``.

    Args:
        model: the :class:`sentkit.CrossEncoder` to train.
        activation_fn: applied to the logits before the loss (default: none). The loss applies a
            sigmoid itself (``torch.nn.BCEWithLogitsLoss``).
        pos_weight: weight of the positive class, a tensor such as ``torch.tensor(4.0)``.
        **kwargs: passed on to ``torch.nn.BCEWithLogitsLoss`` (``reduction``, ``weight``).

    Raises:
        ConfigurationError: a model that is no CrossEncoder or has several labels.

    Example::

        model = sentkit.CrossEncoder("my-reranker")
        loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(3.0))
        value = loss([["what are pandas?"] * 2, ["bears", "fish"]], torch.tensor([1.0, 0.0]))
    """

    def __init__(
        self,
        model: CrossEncoder,
        activation_fn: nn.Module = _IDENTITY,
        pos_weight: Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.activation_fn = activation_fn
        self.pos_weight = pos_weight
        self.bce_with_logits_loss = nn.BCEWithLogitsLoss(pos_weight=pos_weight, **kwargs)

    def forward(
        self, inputs: Sequence[Sequence[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """Loss (scalar, or per pair with ``reduction="none"``) for B pairs and B labels.

        ``prompt`` goes before each first text; ``task`` is accepted for compatibility (a
        CrossEncoder has no task routes).

        Raises:
            InputError: other than two text columns, or not one label per pair.
        """
        pairs = check_two_columns(self, inputs)
        logits = self.activation_fn(score_pairs(self.model, pairs, prompt).view(-1))  # (B,)
        targets = check_labels_per_pair(self, labels, logits.shape[0]).float()  # (B,)
        return self.bce_with_logits_loss(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "activation_fn": activation_config(self.activation_fn),
            "pos_weight": None if self.pos_weight is None else self.pos_weight.item(),
        }
