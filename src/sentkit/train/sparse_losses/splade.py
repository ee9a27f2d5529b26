"""SpladeLoss: a ranking loss on sparse embeddings plus FLOPS regularisation of queries and documents."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.errors import ConfigurationError
from sentkit.train.losses._shared import embed_columns
from sentkit.train.registry import register_loss
from sentkit.train.sparse_losses.flops import FlopsLoss

logger = logging.getLogger(__name__)


@register_loss("splade", family="sparse")
class SpladeLoss(nn.Module):
    """The SPLADE training objective (Formal et al., 2022): ranking loss + weighted sparsity regularisers.

    The columns of the batch are embedded once; the wrapped ``loss`` scores them, the first column
    (queries) is regularised with ``query_regularizer_weight * query_regularizer`` and all other
    columns (documents) with ``document_regularizer_weight * document_regularizer``. The
    regularisers default to :class:`FlopsLoss`. The result is a dict of named scalar losses
    (``base_loss`` or the wrapped loss's own names, ``document_regularizer_loss`` and, with a query
    weight, ``query_regularizer_loss``); the trainer sums them.

    Inputs and labels: those of the wrapped loss, e.g. (query, positive, negatives...) without
    labels for :class:`SparseMultipleNegativesRankingLoss`, or with teacher margins for
    :class:`SparseMarginMSELoss`.

    Args:
        model: the :class:`sentkit.SparseEncoder` to train.
        loss: a sparse loss with ``compute_loss_from_embeddings(embeddings, labels)``.
        document_regularizer_weight: weight of the document regulariser ("lambda_d").
        query_regularizer_weight: weight of the query regulariser ("lambda_q"); None: queries are
            not regularised (fine for inference-free models whose queries use static weights).
        document_regularizer, query_regularizer: replace the default :class:`FlopsLoss`.
        document_regularizer_threshold, query_regularizer_threshold: ``threshold`` of the default
            FlopsLoss regularisers.
        use_document_regularizer_only: every column is a document (symmetric data): all of them are
            regularised together with the document regulariser and the query weight is ignored.

    Raises:
        ConfigurationError: a wrapped loss without ``compute_loss_from_embeddings``.

    Example::

        loss = SpladeLoss(
            model,
            loss=SparseMultipleNegativesRankingLoss(model),
            document_regularizer_weight=3e-5,
            query_regularizer_weight=5e-5,
        )
        losses = loss([model.tokenize(queries), model.tokenize(passages)], None)
        sum(losses.values()).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: int | None = None,
        query_regularizer_threshold: int | None = None,
        use_document_regularizer_only: bool = False,
    ) -> None:
        super().__init__()
        if not hasattr(loss, "compute_loss_from_embeddings"):
            raise ConfigurationError(
                f"SpladeLoss wraps a loss with compute_loss_from_embeddings(embeddings, labels); "
                f"{type(loss).__name__} has none. Use e.g. SparseMultipleNegativesRankingLoss or SparseMarginMSELoss."
            )
        self.model = model
        self.loss = loss
        self.document_regularizer_weight = document_regularizer_weight
        self.query_regularizer_weight = query_regularizer_weight
        self.use_document_regularizer_only = use_document_regularizer_only
        self.document_regularizer = (
            document_regularizer
            if document_regularizer is not None
            else FlopsLoss(model, threshold=document_regularizer_threshold)
        )
        self.query_regularizer: nn.Module | None = query_regularizer
        if query_regularizer is None and not use_document_regularizer_only:
            self.query_regularizer = FlopsLoss(model, threshold=query_regularizer_threshold)
        if use_document_regularizer_only and query_regularizer_weight is not None:
            logger.warning(
                "query_regularizer_weight is ignored with use_document_regularizer_only=True: "
                "every column is regularised as a document."
            )
            self.query_regularizer_weight = None
        elif query_regularizer_weight is None and not use_document_regularizer_only:
            logger.warning(
                "query_regularizer_weight is None: queries are not regularised. That suits inference-free "
                "models; otherwise set it (e.g. 5e-5) to keep query embeddings sparse."
            )

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Named scalar losses for one features dict per column (queries first)."""
        embeddings = embed_columns(
            self.model, sentence_features, separate_first=not self.use_document_regularizer_only
        )  # one (B, V) tensor per column
        losses: dict[str, Tensor] = {}
        base = self.loss.compute_loss_from_embeddings(embeddings, labels)  # type: ignore[operator]
        if isinstance(base, dict):
            losses.update(base)
        else:
            losses["base_loss"] = base
        documents = embeddings if self.use_document_regularizer_only else embeddings[1:]
        document_flops = self.document_regularizer.compute_loss_from_embeddings(torch.cat(documents))  # type: ignore[operator]
        losses["document_regularizer_loss"] = document_flops * self.document_regularizer_weight
        if self.query_regularizer_weight is not None and self.query_regularizer is not None:
            query_flops = self.query_regularizer.compute_loss_from_embeddings(embeddings[0])  # type: ignore[operator]
            losses["query_regularizer_loss"] = query_flops * self.query_regularizer_weight
        return losses

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"loss": self.loss, "document_regularizer_weight": self.document_regularizer_weight}
        if self.query_regularizer_weight is not None:
            config["query_regularizer_weight"] = self.query_regularizer_weight
        for role, regularizer in (("document", self.document_regularizer), ("query", self.query_regularizer)):
            if regularizer is None:
                continue
            if not isinstance(regularizer, FlopsLoss):
                config[f"{role}_regularizer"] = type(regularizer).__name__
            threshold = getattr(regularizer, "threshold", None)
            if threshold is not None:
                config[f"{role}_regularizer_threshold"] = threshold
        return config

    @property
    def citation(self) -> str:
        return """
@misc{formal2022distillationhardnegativesampling,
      title={From Distillation to Hard Negative Sampling: Making Sparse Neural IR Models More Effective},
      author={Thibault Formal and Carlos Lassance and Benjamin Piwowarski and Stéphane Clinchant},
      year={2022},
      eprint={2205.04733},
      archivePrefix={arXiv},
      primaryClass={cs.IR},
      url={https://arxiv.org/abs/2205.04733},
}
"""
