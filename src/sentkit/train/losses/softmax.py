"""SoftmaxLoss: a classifier on top of the pair's embeddings (Sentence-BERT's NLI objective).

The two embeddings u, v are concatenated as ``[u, v, |u - v|, u * v]`` (each part switchable), a
linear layer maps that to ``num_labels`` logits, and cross-entropy trains model and classifier.
The classifier belongs to the loss: it is not part of the saved model.

Requirements:
    Sentence pairs with a class label (for NLI: entailment, neutral, contradiction).

Inputs:
    ========================  ============
    columns                   labels
    ========================  ============
    (sentence_A, sentence_B)  class (int)
    ========================  ============

Example:
    >>> loss = SoftmaxLoss(model, model.get_embedding_dimension(), num_labels=3)
    >>> loss([model.tokenize(premises), model.tokenize(hypotheses)], torch.tensor([0, 2, 1])).backward()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.errors import ConfigurationError
from sentkit.train.losses._shared import embed_columns, require_columns
from sentkit.train.registry import register_loss

_CROSS_ENTROPY = nn.CrossEntropyLoss()  # stateless default, shared as the reference's default argument is

_CITATION = """
@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}
"""


@register_loss("softmax", family="sentence")
class SoftmaxLoss(nn.Module):
    """Pair classification loss.

    Args:
        model: the SentenceTransformer to train.
        embedding_dimension: the size D of the model's embeddings (``sentence_embedding_dimension``
            is the older name, still accepted).
        num_labels: number of classes.
        concatenation_sent_rep: include u and v.
        concatenation_sent_difference: include |u - v|.
        concatenation_sent_multiplication: include u * v.
        loss_fct: (B, num_labels) logits, (B,) labels -> scalar; cross-entropy by default.

    Raises:
        ConfigurationError: no part selected, or no embedding dimension given.
    """

    def __init__(
        self,
        model: nn.Module,
        embedding_dimension: int | None = None,
        num_labels: int | None = None,
        concatenation_sent_rep: bool = True,
        concatenation_sent_difference: bool = True,
        concatenation_sent_multiplication: bool = False,
        loss_fct: Callable[..., Tensor] = _CROSS_ENTROPY,
        *,
        sentence_embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        dimension = embedding_dimension if embedding_dimension is not None else sentence_embedding_dimension
        if dimension is None or num_labels is None:
            raise ConfigurationError("SoftmaxLoss needs embedding_dimension and num_labels.")
        parts = 2 * concatenation_sent_rep + concatenation_sent_difference + concatenation_sent_multiplication
        if parts == 0:
            raise ConfigurationError(
                "SoftmaxLoss needs at least one of concatenation_sent_rep, concatenation_sent_difference "
                "or concatenation_sent_multiplication."
            )
        self.model = model
        self.num_labels = num_labels
        self.concatenation_sent_rep = concatenation_sent_rep
        self.concatenation_sent_difference = concatenation_sent_difference
        self.concatenation_sent_multiplication = concatenation_sent_multiplication
        device = getattr(model, "device", None)
        self.classifier = nn.Linear(parts * dimension, num_labels, device=device)
        self.loss_fct = loss_fct

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None
    ) -> Tensor | tuple[list[Tensor], Tensor]:
        """Scalar loss; with ``labels=None``, the (B, D) embeddings and the (B, num_labels) logits."""
        embeddings = embed_columns(self.model, sentence_features)
        require_columns(self, embeddings, (2,))
        u, v = embeddings  # (B, D) each
        parts = []
        if self.concatenation_sent_rep:
            parts += [u, v]
        if self.concatenation_sent_difference:
            parts.append(torch.abs(u - v))
        if self.concatenation_sent_multiplication:
            parts.append(u * v)
        logits = self.classifier(torch.cat(parts, dim=1).to(self.classifier.weight.dtype))  # (B, num_labels)
        if labels is None:
            return embeddings, logits
        if self.num_labels == 1 or labels.shape != logits.shape:
            labels = labels.view(-1)
        return self.loss_fct(logits, labels)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "num_labels": self.num_labels,
            "concatenation_sent_rep": self.concatenation_sent_rep,
            "concatenation_sent_difference": self.concatenation_sent_difference,
            "concatenation_sent_multiplication": self.concatenation_sent_multiplication,
        }

    @property
    def citation(self) -> str:
        return _CITATION
