"""Losses for :class:`sentkit.SparseEncoder`, with the names and arguments of sentence-transformers'.

They take one features dict per input column (``model.tokenize(texts)``) and the labels.
:class:`SpladeLoss` is the training loss: it embeds the columns, scores them with a wrapped
ranking loss (:class:`SparseMultipleNegativesRankingLoss`, :class:`SparseMarginMSELoss`,
:class:`SparseMSELoss`) and adds :class:`FlopsLoss` regularisation of queries and documents.
:class:`SparseMSELoss` also trains alone.
"""

from __future__ import annotations

from sentkit.train.sparse_losses.flops import FlopsLoss
from sentkit.train.sparse_losses.margin_mse import SparseMarginMSELoss
from sentkit.train.sparse_losses.mse import SparseMSELoss
from sentkit.train.sparse_losses.multiple_negatives_ranking import SparseMultipleNegativesRankingLoss
from sentkit.train.sparse_losses.splade import SpladeLoss

__all__ = [
    "FlopsLoss",
    "SparseMSELoss",
    "SparseMarginMSELoss",
    "SparseMultipleNegativesRankingLoss",
    "SpladeLoss",
]
