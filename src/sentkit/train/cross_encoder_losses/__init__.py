"""Losses for :class:`sentkit.CrossEncoder`, with the names and arguments of sentence-transformers'.

They take the raw text columns of a batch (``inputs``: a list of columns, each a list of texts, or
of document lists for the listwise losses) and the labels, and tokenize inside ``forward``.

- pointwise: :class:`BinaryCrossEntropyLoss`, :class:`CrossEntropyLoss`, :class:`MSELoss`
- pairwise / in-batch: :class:`MarginMSELoss`, :class:`MultipleNegativesRankingLoss`
- listwise: :class:`ListNetLoss`, :class:`LambdaLoss` (with the schemes of
  :mod:`~sentkit.train.cross_encoder_losses.lambda_weighting`), :class:`RankNetLoss`
"""

from __future__ import annotations

from sentkit.train.cross_encoder_losses.binary_cross_entropy import BinaryCrossEntropyLoss
from sentkit.train.cross_encoder_losses.cross_entropy import CrossEntropyLoss
from sentkit.train.cross_encoder_losses.lambda_loss import LambdaLoss
from sentkit.train.cross_encoder_losses.lambda_weighting import (
    BaseWeightingScheme,
    LambdaRankScheme,
    NDCGLoss1Scheme,
    NDCGLoss2PPScheme,
    NDCGLoss2Scheme,
    NoWeightingScheme,
)
from sentkit.train.cross_encoder_losses.list_net import ListNetLoss
from sentkit.train.cross_encoder_losses.margin_mse import MarginMSELoss
from sentkit.train.cross_encoder_losses.mse import MSELoss
from sentkit.train.cross_encoder_losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from sentkit.train.cross_encoder_losses.rank_net import RankNetLoss

__all__ = [
    "BaseWeightingScheme",
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "LambdaLoss",
    "LambdaRankScheme",
    "ListNetLoss",
    "MSELoss",
    "MarginMSELoss",
    "MultipleNegativesRankingLoss",
    "NDCGLoss1Scheme",
    "NDCGLoss2PPScheme",
    "NDCGLoss2Scheme",
    "NoWeightingScheme",
    "RankNetLoss",
]
