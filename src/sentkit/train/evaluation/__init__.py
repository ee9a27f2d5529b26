"""Evaluators for SentenceTransformer, CrossEncoder and SparseEncoder models.

Each evaluator is called as ``evaluator(model, output_path=None, epoch=-1, steps=-1)`` and returns
a dict of metrics whose main key is ``evaluator.primary_metric``; the metric names, values and CSV
files are those of the sentence-transformers evaluators of the same name. They use only the
models' public ``encode`` / ``encode_query`` / ``encode_document`` / ``similarity`` /
``predict`` API, so they work with any model that has it. numpy and torch are all they need.
"""

from sentkit.similarity import SimilarityFunction
from sentkit.train.evaluation.base import BaseEvaluator, SentenceEvaluator
from sentkit.train.evaluation.binary_classification import BinaryClassificationEvaluator
from sentkit.train.evaluation.cross_encoder_classification import CrossEncoderClassificationEvaluator
from sentkit.train.evaluation.cross_encoder_correlation import (
    CECorrelationEvaluator,
    CrossEncoderCorrelationEvaluator,
)
from sentkit.train.evaluation.cross_encoder_reranking import CERerankingEvaluator, CrossEncoderRerankingEvaluator
from sentkit.train.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from sentkit.train.evaluation.information_retrieval import InformationRetrievalEvaluator
from sentkit.train.evaluation.mse import MSEEvaluator
from sentkit.train.evaluation.paraphrase_mining import ParaphraseMiningEvaluator
from sentkit.train.evaluation.reranking import RerankingEvaluator
from sentkit.train.evaluation.sequential import SequentialEvaluator
from sentkit.train.evaluation.sparse_information_retrieval import SparseInformationRetrievalEvaluator
from sentkit.train.evaluation.translation import TranslationEvaluator
from sentkit.train.evaluation.triplet import TripletEvaluator

__all__ = [
    "BaseEvaluator",
    "BinaryClassificationEvaluator",
    "CECorrelationEvaluator",
    "CERerankingEvaluator",
    "CrossEncoderClassificationEvaluator",
    "CrossEncoderCorrelationEvaluator",
    "CrossEncoderRerankingEvaluator",
    "EmbeddingSimilarityEvaluator",
    "InformationRetrievalEvaluator",
    "MSEEvaluator",
    "ParaphraseMiningEvaluator",
    "RerankingEvaluator",
    "SentenceEvaluator",
    "SequentialEvaluator",
    "SimilarityFunction",
    "SparseInformationRetrievalEvaluator",
    "TranslationEvaluator",
    "TripletEvaluator",
]
