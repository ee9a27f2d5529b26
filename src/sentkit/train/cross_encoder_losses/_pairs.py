"""What every cross-encoder loss shares: checking the model and scoring (text, text) pairs with gradients.

The cross-encoder losses take the raw text columns of a batch (as the reference's do) and tokenize
inside ``forward``, so that each loss decides which pairs to build (in-batch negatives, lists of
documents per query) before the model sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from sentkit.encoders.activation import activation_path
from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.errors import ConfigurationError, InputError
from sentkit.modules.classifier_transformer import ClassifierTransformer

Pair = tuple[str, str]


def check_cross_encoder(loss: nn.Module, model: Any, single_label: bool = True) -> None:
    """Raise unless ``model`` is a sentkit CrossEncoder (with one output label when ``single_label``).

    Raises:
        ConfigurationError: another kind of model, or a model with several labels for a one-label loss.
    """
    name = type(loss).__name__
    if not isinstance(model, CrossEncoder):
        raise ConfigurationError(
            f"{name} trains a sentkit.CrossEncoder, got {type(model).__name__}. "
            "Load the model with sentkit.CrossEncoder(...)."
        )
    if single_label and model.num_labels != 1:
        raise ConfigurationError(
            f"{name} needs a CrossEncoder with 1 output label, this one has {model.num_labels}. "
            "Load it with num_labels=1, or use CrossEntropyLoss for several classes."
        )


def score_pairs(model: CrossEncoder, pairs: Sequence[Pair], prompt: str | None = None) -> Tensor:
    """Logits (P, num_labels) of ``model`` for P pairs, with gradients.

    ``prompt`` is put before the first text of each pair, as ``CrossEncoder.predict`` does.

    Raises:
        InputError: no pairs.
    """
    if not pairs:
        raise InputError("The batch holds no (text, text) pairs to score; check the dataset columns.")
    if prompt:
        pairs = [(prompt + first, second) for first, second in pairs]
    classifier: ClassifierTransformer = model[0]  # type: ignore[assignment]  # CrossEncoder loads one first
    features = classifier.tokenize(list(pairs))
    device = model.device
    features = {key: value.to(device) if isinstance(value, Tensor) else value for key, value in features.items()}
    return model(features)["scores"]  # (P, num_labels)


def score_columns(
    model: CrossEncoder, anchors: Sequence[str], columns: Sequence[Sequence[str]], prompt: str | None = None
) -> Tensor:
    """Logits (B, C) of each anchor with the text in its row of each of C columns, in one forward pass.

    Args:
        anchors: B texts, the first text of every pair.
        columns: C columns of B texts each; ``columns[c][i]`` is paired with ``anchors[i]``.

    Raises:
        InputError: a column whose length differs from the number of anchors.
    """
    check_column_lengths(anchors, columns)
    batch_size = len(anchors)
    pairs = [(anchor, text) for column in columns for anchor, text in zip(anchors, column, strict=True)]  # column-major
    logits = score_pairs(model, pairs, prompt).view(-1)  # (C * B,)
    return logits.view(len(columns), batch_size).T  # (B, C)


def check_column_lengths(anchors: Sequence[str], columns: Sequence[Sequence[str]]) -> None:
    """Raise InputError unless every column holds one text per anchor."""
    for index, column in enumerate(columns):
        if len(column) != len(anchors):
            raise InputError(
                f"Column {index + 1} of the candidates holds {len(column)} texts, the anchors {len(anchors)}; "
                "every column needs one text per anchor."
            )


def check_labels_per_pair(loss: nn.Module, labels: Tensor, batch_size: int) -> Tensor:
    """``labels`` flattened to (B,) after checking that there is one per pair.

    Raises:
        InputError: a number of labels other than ``batch_size``.
    """
    if labels.numel() != batch_size:
        raise InputError(
            f"{type(loss).__name__} needs one label per pair: {batch_size} pairs, but got {labels.numel()} "
            f"labels of shape {tuple(labels.shape)}."
        )
    return labels.view(-1)


def check_two_columns(loss: nn.Module, inputs: Sequence[Sequence[Any]]) -> list[Pair]:
    """The (first, second) pairs of a two-column batch.

    Raises:
        InputError: other than two text columns, or columns of different lengths.
    """
    if len(inputs) != 2:
        raise InputError(
            f"{type(loss).__name__} takes a dataset with two text columns (besides the label), "
            f"got {len(inputs)} columns."
        )
    if len(inputs[0]) != len(inputs[1]):
        raise InputError(
            f"{type(loss).__name__}: the two text columns hold {len(inputs[0])} and {len(inputs[1])} texts; "
            "they need one text each per pair."
        )
    return list(zip(inputs[0], inputs[1], strict=True))


def activation_config(activation: Any) -> str:
    """How a loss's activation is written in its config (the dotted class path the reference writes)."""
    return activation_path(activation)
