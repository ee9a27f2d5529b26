"""ListNetLoss: match the softmax of a query's document scores to the softmax of their labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.train.cross_encoder_losses._listwise import check_listwise_batch, listwise_logits, pad_lists
from sentkit.train.cross_encoder_losses._pairs import activation_config, check_cross_encoder
from sentkit.train.registry import register_loss

_IDENTITY = nn.Identity()


@register_loss("list_net", family="cross")
class ListNetLoss(nn.Module):
    """Listwise ranking loss (Cao et al., 2007): cross-entropy between two distributions over a query's documents.

    The target distribution is the softmax of the documents' relevance labels, the predicted one
    the softmax of the model's logits. Queries may have different numbers of documents; padding
    takes no part in either distribution.

    Inputs: a query column and a column of document lists, ``(query, [doc_1, ..., doc_n])``.
    Labels: one tensor per query with a relevance score per document (binary or graded). The model
    needs ``num_labels == 1``.

    Args:
        model: the :class:`sentkit.CrossEncoder` to train.
        activation_fn: applied to the logits first (default: none; None also means none).
        mini_batch_size: pairs scored per forward pass; None: as many as there are queries;
            0 or less: all pairs at once. Only memory and speed depend on it.

    Raises:
        ConfigurationError: a model that is no CrossEncoder or has several labels.

    Example::

        loss = ListNetLoss(model)
        value = loss(
            [["what are pandas?"], [["a kind of bear", "a kind of fish", "a city"]]],
            [torch.tensor([1.0, 0.0, 0.0])],
        )
    """

    def __init__(
        self,
        model: CrossEncoder,
        activation_fn: nn.Module | None = _IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size
        self.cross_entropy_loss = nn.CrossEntropyLoss()

    def forward(
        self,
        inputs: Sequence[Any],
        labels: Sequence[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """Mean over the B queries of the cross-entropy between label and score distributions.

        ``task`` is accepted for compatibility (a CrossEncoder has no task routes).

        Raises:
            InputError: see :func:`~sentkit.train.cross_encoder_losses._listwise.check_listwise_batch`.
        """
        queries, documents = check_listwise_batch(self, inputs, labels)
        logits = listwise_logits(self.model, queries, documents, self.mini_batch_size, prompt)  # (P,)
        counts = [len(docs) for docs in documents]
        logit_matrix, label_matrix = pad_lists(self.activation_fn(logits), labels, counts, self.model.device)
        return self.cross_entropy_loss(logit_matrix, label_matrix.softmax(dim=1))  # (B, N) vs (B, N)

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation_fn": activation_config(self.activation_fn), "mini_batch_size": self.mini_batch_size}

    @property
    def citation(self) -> str:
        return """
@inproceedings{cao2007learning,
    title={Learning to Rank: From Pairwise Approach to Listwise Approach},
    author={Cao, Zhe and Qin, Tao and Liu, Tie-Yan and Tsai, Ming-Feng and Li, Hang},
    booktitle={Proceedings of the 24th international conference on Machine learning},
    pages={129--136},
    year={2007}
}
"""
