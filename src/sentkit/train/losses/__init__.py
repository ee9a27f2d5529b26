"""Bi-encoder (SentenceTransformer) losses, with sentence-transformers' names and arguments.

Every loss is an ``nn.Module`` built as ``Loss(model, ...)`` and called as
``loss(sentence_features, labels)``: one features dict per input column (``model.tokenize``
output for anchor, positive, negatives...) and a labels tensor or None; it returns a scalar.
Each registers under a short name in :mod:`sentkit.train.registry` (``loss_class("mnrl")``).

=======================================  ======================================  ==================
loss                                     columns                                 labels
=======================================  ======================================  ==================
MultipleNegativesRankingLoss             (anchor, positive[, negatives...])      none
MultipleNegativesSymmetricRankingLoss    (anchor, positive)                      none
CachedMultipleNegativesRankingLoss       (anchor, positive[, negatives...])      none
GISTEmbedLoss                            (anchor, positive[, negative])          none
CoSENTLoss, AnglELoss                    (sentence_A, sentence_B)                float score
CosineSimilarityLoss                     (sentence_A, sentence_B)                float score
ContrastiveLoss, OnlineContrastiveLoss   (sentence_A, sentence_B)                1 / 0
SoftmaxLoss                              (sentence_A, sentence_B)                class
TripletLoss                              (anchor, positive, negative)            none
Batch{Hard,SemiHard,All}TripletLoss,     (text,)                                 class
BatchHardSoftMarginTripletLoss
MSELoss                                  (text, ...)                             teacher embeddings
MarginMSELoss                            (query, positive, negatives...)         teacher margins
MatryoshkaLoss                           as the wrapped loss                     as the wrapped loss
DenoisingAutoEncoderLoss                 (damaged, original)                     none
=======================================  ======================================  ==================
"""

from sentkit.train.losses.angle import AnglELoss
from sentkit.train.losses.batch_all_triplet import BatchAllTripletLoss
from sentkit.train.losses.batch_hard_soft_margin_triplet import BatchHardSoftMarginTripletLoss
from sentkit.train.losses.batch_hard_triplet import BatchHardTripletLoss, BatchHardTripletLossDistanceFunction
from sentkit.train.losses.batch_semi_hard_triplet import BatchSemiHardTripletLoss
from sentkit.train.losses.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from sentkit.train.losses.contrastive import ContrastiveLoss, SiameseDistanceMetric
from sentkit.train.losses.cosent import CoSENTLoss
from sentkit.train.losses.cosine_similarity import CosineSimilarityLoss
from sentkit.train.losses.denoising_auto_encoder import DenoisingAutoEncoderLoss
from sentkit.train.losses.gist_embed import GISTEmbedLoss
from sentkit.train.losses.margin_mse import MarginMSELoss
from sentkit.train.losses.matryoshka import MatryoshkaLoss
from sentkit.train.losses.mse import MSELoss
from sentkit.train.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from sentkit.train.losses.multiple_negatives_symmetric_ranking import MultipleNegativesSymmetricRankingLoss
from sentkit.train.losses.online_contrastive import OnlineContrastiveLoss
from sentkit.train.losses.softmax import SoftmaxLoss
from sentkit.train.losses.triplet import TripletDistanceMetric, TripletLoss

__all__ = [
    "AnglELoss",
    "BatchAllTripletLoss",
    "BatchHardSoftMarginTripletLoss",
    "BatchHardTripletLoss",
    "BatchHardTripletLossDistanceFunction",
    "BatchSemiHardTripletLoss",
    "CachedMultipleNegativesRankingLoss",
    "CoSENTLoss",
    "ContrastiveLoss",
    "CosineSimilarityLoss",
    "DenoisingAutoEncoderLoss",
    "GISTEmbedLoss",
    "MSELoss",
    "MarginMSELoss",
    "MatryoshkaLoss",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "SiameseDistanceMetric",
    "SoftmaxLoss",
    "TripletDistanceMetric",
    "TripletLoss",
]
