"""MSELoss: the single logit of each pair regressed onto a target score (distillation from a teacher)."""

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


@register_loss("mse", family="cross")
class MSELoss(nn.Module):
    """Mean squared error between a CrossEncoder's logit for each pair and a target score.

    Typical use: distil a teacher reranker, whose scores for the pairs are the labels.

    Inputs: two text columns. Labels: one float per pair (e.g. the teacher's score). The model
    needs ``num_labels == 1``.

    Args:
        model: the :class:`sentkit.CrossEncoder` to train.
        activation_fn: applied to the logits before the loss (default: none); use ``nn.Sigmoid()``
            when the targets are probabilities.
        **kwargs: passed on to ``torch.nn.MSELoss``.

    Raises:
        ConfigurationError: a model that is no CrossEncoder or has several labels.

    Example::

        teacher_scores = teacher.predict(list(zip(queries, passages)))
        loss = MSELoss(student)
        value = loss([queries, passages], torch.tensor(teacher_scores))
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = _IDENTITY, **kwargs: Any) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.activation_fn = activation_fn
        self.loss_fct = nn.MSELoss(**kwargs)

    def forward(
        self, inputs: Sequence[Sequence[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """Loss for B pairs and B target scores (no gradient flows into the labels).

        ``task`` is accepted for compatibility (a CrossEncoder has no task routes).

        Raises:
            InputError: other than two text columns, or not one label per pair.
        """
        pairs = check_two_columns(self, inputs)
        logits = self.activation_fn(score_pairs(self.model, pairs, prompt).view(-1))  # (B,)
        targets = check_labels_per_pair(self, labels, logits.shape[0]).detach().float()  # (B,)
        return self.loss_fct(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation_fn": activation_config(self.activation_fn)}
