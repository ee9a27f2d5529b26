"""The sentence-transformers ``util`` surface, re-exported from where each function lives."""

from sentkit.apps.bitext_mining import mine_bitext, mine_bitext_embeddings
from sentkit.apps.clustering import community_detection
from sentkit.apps.hard_negatives import mine_hard_negatives
from sentkit.apps.index_search import semantic_search_faiss, semantic_search_usearch
from sentkit.apps.mining import paraphrase_mining, paraphrase_mining_embeddings
from sentkit.apps.search import semantic_search
from sentkit.inference.precision import quantize_embeddings
from sentkit.logging_handler import LoggingHandler
from sentkit.maxsim import (
    cat_padded_token_embeddings,
    maxsim,
    maxsim_pairwise,
    mean_maxsim,
    mean_maxsim_pairwise,
    stack_padded_token_embeddings,
)
from sentkit.similarity import (
    SimilarityFunction,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    normalize_embeddings,
    pairwise_angle_sim,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
)
from sentkit.tensors import (
    batch_to_device,
    compute_count_vector,
    select_max_active_dims,
    to_scipy_coo,
    truncate_embeddings,
)

pytorch_cos_sim = cos_sim
information_retrieval = semantic_search  # the reference's deprecated name

__all__ = [
    "LoggingHandler",
    "SimilarityFunction",
    "batch_to_device",
    "cat_padded_token_embeddings",
    "community_detection",
    "compute_count_vector",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "information_retrieval",
    "manhattan_sim",
    "maxsim",
    "maxsim_pairwise",
    "mean_maxsim",
    "mean_maxsim_pairwise",
    "mine_bitext",
    "mine_bitext_embeddings",
    "mine_hard_negatives",
    "normalize_embeddings",
    "pairwise_angle_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "pytorch_cos_sim",
    "quantize_embeddings",
    "select_max_active_dims",
    "semantic_search",
    "semantic_search_faiss",
    "semantic_search_usearch",
    "stack_padded_token_embeddings",
    "to_scipy_coo",
    "truncate_embeddings",
]
