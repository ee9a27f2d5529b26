"""The sentence-transformers ``util`` surface, re-exported from where each function lives."""

from sentkit.apps.clustering import community_detection
from sentkit.apps.index_search import semantic_search_faiss, semantic_search_usearch
from sentkit.apps.mining import paraphrase_mining, paraphrase_mining_embeddings
from sentkit.apps.search import semantic_search
from sentkit.inference.precision import quantize_embeddings
from sentkit.similarity import (
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    normalize_embeddings,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
)

pytorch_cos_sim = cos_sim

__all__ = [
    "community_detection",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "normalize_embeddings",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "pytorch_cos_sim",
    "quantize_embeddings",
    "semantic_search",
    "semantic_search_faiss",
    "semantic_search_usearch",
]
