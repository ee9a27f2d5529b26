"""CrossEntropyLoss: a CrossEncoder with several labels, trained to pick the right class of each pair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.train.cross_encoder_losses._pairs import (
    activation_config,
    check_cross_encoder,
    check_two_columns,
    score_pairs,
)
from sentkit.train.registry import register_loss

_IDENTITY = nn.Identity()


@register_loss("cross_entropy", family="cross")
class CrossEntropyLoss(nn.Module):
    """Cross-entropy over the ``num_labels`` logits a CrossEncoder gives each pair (classification, e.g. NLI).

    Inputs: two text columns. Labels: the class index of each pair (int), or class probabilities
    (float, shape (B, num_labels)). The number of classes is the model's ``num_labels``.

    Args:
        model: the :class:`sentkit.CrossEncoder` to train.
        activation_fn: applied to the logits before the loss (default: none).
        **kwargs: passed on to ``torch.nn.CrossEntropyLoss`` (``weight``, ``label_smoothing``, ...).

    Raises:
        ConfigurationError: a model that is no CrossEncoder.

    Example::

        model = sentkit.CrossEncoder("my-nli-model", num_labels=3)
        loss = CrossEntropyLoss(model)
        value = loss([["A man eats."], ["Somebody eats."]], torch.tensor([1]))
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = _IDENTITY, **kwargs: Any) -> None:
        super().__init__()
        check_cross_encoder(self, model, single_label=False)
        self.model = model
        self.activation_fn = activation_fn
        self.ce_loss = nn.CrossEntropyLoss(**kwargs)

    def forward(
        self, inputs: Sequence[Sequence[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """Loss for B pairs; ``labels`` (B,) class indices, (B, 1) indices, or (B, num_labels) probabilities.

        ``task`` is accepted for compatibility (a CrossEncoder has no task routes).

        Raises:
            InputError: other than two text columns.
        """
        pairs = check_two_columns(self, inputs)
        logits = self.activation_fn(score_pairs(self.model, pairs, prompt))  # (B, num_labels)
        if not labels.is_floating_point() and labels.shape == (logits.shape[0], 1):
            labels = labels.view(-1)  # (B,)
        return self.ce_loss(logits, labels)

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation_fn": activation_config(self.activation_fn)}
