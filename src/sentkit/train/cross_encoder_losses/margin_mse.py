"""MarginMSELoss: the model's score margin between two documents regressed onto a teacher's margin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.errors import InputError
from sentkit.train.cross_encoder_losses._pairs import activation_config, check_cross_encoder, score_columns
from sentkit.train.registry import register_loss

_IDENTITY = nn.Identity()


@register_loss("margin_mse", family="cross")
class MarginMSELoss(nn.Module):
    """MSE between ``score(q, d1) - score(q, d_i)`` of the model and the same margin given as label.

    Neither document has to be relevant: only the difference is learned, which suits distillation
    from a stronger teacher (Hofstätter et al., 2020, https://arxiv.org/abs/2010.02666).

    Inputs: (query, document_1, document_2, ..., document_n) columns, n >= 2. Labels, per row, either
    the n-1 margins ``teacher(q, d1) - teacher(q, d_i)`` (one float for n = 2) or the n teacher
    scores ``[teacher(q, d1), ..., teacher(q, dn)]``. The model needs ``num_labels == 1``.

    Args:
        model: the :class:`sentkit.CrossEncoder` to train.
        activation_fn: applied to every logit before the margins are taken (default: none).
        **kwargs: passed on to ``torch.nn.MSELoss``.

    Raises:
        ConfigurationError: a model that is no CrossEncoder or has several labels.

    Example::

        margins = teacher.predict(list(zip(q, pos))) - teacher.predict(list(zip(q, neg)))
        loss = MarginMSELoss(student)
        value = loss([q, pos, neg], torch.tensor(margins))
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = _IDENTITY, **kwargs: Any) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.activation_fn = activation_fn
        self.loss_fct = nn.MSELoss(**kwargs)

    def forward(
        self,
        inputs: Sequence[Sequence[str]],
        labels: Tensor | list[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """Loss for B queries with n documents each; see the class docstring for the label shapes.

        ``labels`` may also be a list of B per-row tensors. ``task`` is accepted for compatibility.

        Raises:
            InputError: labels of another shape.
        """
        anchors, candidates = inputs[0], inputs[1:]
        targets = margin_targets(labels, len(anchors), len(candidates) - 1)  # (B, n-1)
        scores = self.activation_fn(score_columns(self.model, anchors, candidates, prompt))  # (B, n)
        margins = scores[:, :1] - scores[:, 1:]  # (B, n-1)
        return self.loss_fct(margins, targets.detach().float())

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation_fn": activation_config(self.activation_fn)}


def margin_targets(labels: Tensor | list[Tensor], batch_size: int, negatives: int) -> Tensor:
    """Labels as (B, negatives) margins: scores of all documents are turned into first-minus-others.

    Raises:
        InputError: labels that are neither B margins per negative nor B scores per document.
    """
    if isinstance(labels, list):
        labels = torch.stack(labels)
    if labels.shape == (batch_size, negatives + 1):
        labels = labels[:, :1] - labels[:, 1:]  # scores -> margins
    if labels.shape == (batch_size,):
        labels = labels.unsqueeze(1)
    if labels.shape != (batch_size, negatives):
        raise InputError(
            f"Labels of shape {tuple(labels.shape)} do not fit {batch_size} rows with {negatives} negative(s): "
            f"give ({batch_size}, {negatives}) margins first-minus-other or ({batch_size}, {negatives + 1}) scores."
        )
    return labels
