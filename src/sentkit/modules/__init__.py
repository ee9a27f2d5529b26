"""Building blocks of embedding pipelines, one per file, registered under short names."""

from sentkit.modules.base import Features, InputModule, LoadOptions, Module
from sentkit.modules.bow import BoW
from sentkit.modules.classifier_transformer import ClassifierTransformer
from sentkit.modules.clip_model import CLIPModel
from sentkit.modules.cnn import CNN
from sentkit.modules.dense import Dense
from sentkit.modules.dropout import Dropout
from sentkit.modules.layer_norm import LayerNorm
from sentkit.modules.lstm import LSTM
from sentkit.modules.mlm_transformer import MLMTransformer
from sentkit.modules.multi_vector_mask import MultiVectorMask
from sentkit.modules.multi_vector_transformer import MultiVectorTransformer
from sentkit.modules.normalize import Normalize
from sentkit.modules.pooling import Pooling
from sentkit.modules.registry import module_class_for_type, register, registered_modules, type_string_for
from sentkit.modules.router import Asym, Router
from sentkit.modules.sparse_static_embedding import SparseStaticEmbedding
from sentkit.modules.splade_pooling import SpladePooling
from sentkit.modules.static_embedding import StaticEmbedding
from sentkit.modules.task_transformer import TaskTransformer
from sentkit.modules.transformer import Transformer
from sentkit.modules.weighted_layer_pooling import WeightedLayerPooling
from sentkit.modules.wk_pooling import WKPooling
from sentkit.modules.word_embeddings import WordEmbeddings
from sentkit.modules.word_tokenizers import PhraseTokenizer, WhitespaceTokenizer, WordTokenizer
from sentkit.modules.word_weights import WordWeights

__all__ = [
    "CNN",
    "LSTM",
    "Asym",
    "BoW",
    "CLIPModel",
    "ClassifierTransformer",
    "Dense",
    "Dropout",
    "Features",
    "InputModule",
    "LayerNorm",
    "LoadOptions",
    "MLMTransformer",
    "Module",
    "MultiVectorMask",
    "MultiVectorTransformer",
    "Normalize",
    "PhraseTokenizer",
    "Pooling",
    "Router",
    "SparseStaticEmbedding",
    "SpladePooling",
    "StaticEmbedding",
    "TaskTransformer",
    "Transformer",
    "WKPooling",
    "WeightedLayerPooling",
    "WhitespaceTokenizer",
    "WordEmbeddings",
    "WordTokenizer",
    "WordWeights",
    "module_class_for_type",
    "register",
    "registered_modules",
    "type_string_for",
]
