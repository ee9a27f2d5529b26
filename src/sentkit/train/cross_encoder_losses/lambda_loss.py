"""LambdaLoss: pairwise logistic loss on a query's documents, weighted by how much each pair matters to NDCG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sentkit.encoders.activation import activation_path
from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.errors import ConfigurationError
from sentkit.train.cross_encoder_losses._listwise import check_listwise_batch, listwise_logits, pad_lists
from sentkit.train.cross_encoder_losses._pairs import activation_config, check_cross_encoder
from sentkit.train.cross_encoder_losses.lambda_weighting import (
    BaseWeightingScheme,
    NDCGLoss1Scheme,
    NDCGLoss2PPScheme,
    NoWeightingScheme,
)
from sentkit.train.registry import register_loss

_IDENTITY = nn.Identity()
_DEFAULT_SCHEME = NDCGLoss2PPScheme()
# Score differences are clamped to this size: padded documents sit at -1e16.
_MAX_SCORE_DIFFERENCE = 1e8


@register_loss("lambda", family="cross")
class LambdaLoss(nn.Module):
    """The LambdaLoss framework (Wang et al., CIKM 2018) for learning to rank with a CrossEncoder.

    For every pair of a query's documents where the first is more relevant, the loss is
    ``-log2 sigmoid(sigma * (s_i - s_j))`` times a weight from ``weighting_scheme`` that says how
    much ordering that pair wrongly costs in NDCG; the result is the mean over the counted pairs.
    Queries may have different numbers of documents; padding takes no part.

    Inputs: a query column and a column of document lists, ``(query, [doc_1, ..., doc_n])``.
    Labels: one tensor per query with a relevance score per document (binary or graded). The model
    needs ``num_labels == 1``.

    Args:
        model: the :class:`sentkit.CrossEncoder` to train.
        weighting_scheme: a :mod:`~sentkit.train.cross_encoder_losses.lambda_weighting` scheme;
            default NDCGLoss2++ (``NDCGLoss2PPScheme``), None for no weighting (RankNet).
        k: only pairs with at least one document in the model's top ``k`` count (NDCG@k); None: all.
        sigma: slope of the sigmoid on score differences.
        eps: lower bound of the ideal DCG, so that queries without relevant documents do not divide by 0.
        reduction_log: ``"binary"`` (log2) or ``"natural"`` (ln).
        activation_fn: applied to the logits first (default: none; None also means none).
        mini_batch_size: pairs scored per forward pass; None: as many as there are queries;
            0 or less: all pairs at once.

    Raises:
        ConfigurationError: a model that is no CrossEncoder or has several labels.

    Example::

        loss = LambdaLoss(model, weighting_scheme=NDCGLoss2PPScheme(mu=10.0), k=10)
        value = loss([queries, document_lists], [torch.tensor(row) for row in relevance])
    """

    def __init__(
        self,
        model: CrossEncoder,
        weighting_scheme: BaseWeightingScheme | None = _DEFAULT_SCHEME,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["natural", "binary"] = "binary",
        activation_fn: nn.Module | None = _IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        if reduction_log not in ("natural", "binary"):
            raise ConfigurationError(f"reduction_log must be 'natural' or 'binary', got {reduction_log!r}.")
        self.model = model
        self.weighting_scheme = weighting_scheme or NoWeightingScheme()
        self.k = k
        self.sigma = sigma
        self.eps = eps
        self.reduction_log = reduction_log
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size

    def forward(
        self,
        inputs: Sequence[Any],
        labels: Sequence[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """The weighted pairwise loss, averaged over the counted document pairs of the B queries.

        ``task`` is accepted for compatibility (a CrossEncoder has no task routes).

        Raises:
            InputError: see :func:`~sentkit.train.cross_encoder_losses._listwise.check_listwise_batch`.
        """
        queries, documents = check_listwise_batch(self, inputs, labels)
        logits = listwise_logits(self.model, queries, documents, self.mini_batch_size, prompt)  # (P,)
        counts = [len(docs) for docs in documents]
        scores, relevance = pad_lists(self.activation_fn(logits), labels, counts, self.model.device)  # (B, N)
        return self.loss_from_matrices(scores, relevance)

    def loss_from_matrices(self, scores: Tensor, relevance: Tensor) -> Tensor:
        """The loss from padded (B, N) scores and labels (labels -inf where padded)."""
        num_docs = scores.shape[1]
        sorted_scores, order = scores.sort(descending=True, dim=-1)  # (B, N) predicted ranking
        ideal_relevance, _ = relevance.sort(descending=True, dim=-1)  # (B, N) best possible ranking
        ranked_relevance = relevance.gather(1, order)  # (B, N) labels in predicted order
        relevance_gaps = ranked_relevance[:, :, None] - ranked_relevance[:, None, :]  # (B, N, N)
        counted = torch.isfinite(relevance_gaps)  # pairs of real documents
        if not isinstance(self.weighting_scheme, NDCGLoss1Scheme):
            counted &= relevance_gaps > 0  # the first document of the pair is the more relevant one
        top = self.k or num_docs
        in_top_k = torch.zeros((num_docs, num_docs), dtype=torch.bool, device=scores.device)  # (N, N)
        in_top_k[:top, :] = True
        in_top_k[:, :top] = True

        ranked_relevance = ranked_relevance.clamp(min=0.0)
        ideal_relevance = ideal_relevance.clamp(min=0.0)
        ranks = torch.arange(1, num_docs + 1, device=scores.device).float()  # (N,)
        discount = torch.log2(1.0 + ranks).unsqueeze(0)  # (1, N)
        ideal_dcg = ((2.0**ideal_relevance - 1) / discount)[:, :top].sum(dim=-1).clamp(min=self.eps)  # (B,)
        gain = (2.0**ranked_relevance - 1) / ideal_dcg[:, None]  # (B, N)
        weights = self.weighting_scheme(gain, discount, ranked_relevance)  # broadcasts to (B, N, N)

        differences = sorted_scores[:, :, None] - sorted_scores[:, None, :]  # (B, N, N)
        differences = differences.clamp(min=-_MAX_SCORE_DIFFERENCE, max=_MAX_SCORE_DIFFERENCE).nan_to_num(nan=0.0)
        pair_losses = weights * nn.functional.logsigmoid(self.sigma * differences)  # (B, N, N)
        if self.reduction_log == "binary":
            pair_losses = pair_losses / math.log(2)
        kept = pair_losses[counted & in_top_k]  # (pairs,)
        return -kept.sum() / max(kept.numel(), 1)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "weighting_scheme": activation_path(self.weighting_scheme),
            "k": self.k,
            "sigma": self.sigma,
            "eps": self.eps,
            "reduction_log": self.reduction_log,
            "activation_fn": activation_config(self.activation_fn),
            "mini_batch_size": self.mini_batch_size,
        }

    @property
    def citation(self) -> str:
        return """
@inproceedings{wang2018lambdaloss,
  title={The LambdaLoss Framework for Ranking Metric Optimization},
  author={Wang, Xuanhui and Li, Cheng and Golbandi, Nadav and Bendersky, Michael and Najork, Marc},
  booktitle={Proceedings of the 27th ACM international conference on information and knowledge management},
  pages={1313--1322},
  year={2018}
}
"""
