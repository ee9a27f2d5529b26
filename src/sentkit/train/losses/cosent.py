"""CoSENTLoss: rank the pairs of a batch by their gold similarity.

For every two pairs (i, j) with gold label(i) > label(j), the model's score of pair i should be
higher than that of pair j. The loss is ``log(1 + sum exp(scale * (s_j - s_i)))`` over all such
(i, j), computed without building the quadratic matrix (sort by label, suffix log-sum-exp).

Requirements:
    Sentence pairs with a float similarity label (any scale: only the order matters).

Inputs:
    ===================================  =================
    columns                              labels
    ===================================  =================
    (sentence_A, sentence_B)             float similarity
    ===================================  =================

Example:
    >>> loss = CoSENTLoss(model, scale=20.0)
    >>> features = [model.tokenize(["A man eats.", "A dog runs."]), model.tokenize(["A man eats food.", "Rain."])]
    >>> loss(features, torch.tensor([0.9, 0.1])).backward()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentkit.errors import InputError
from sentkit.similarity import pairwise_cos_sim
from sentkit.train.losses._shared import SimilarityFn, callable_name, embed_columns, flat_labels
from sentkit.train.registry import register_loss

_CITATION = """
@article{10531646,
    author={Huang, Xiang and Peng, Hao and Zou, Dongcheng and Liu, Zhiwei and Li, Jianxin and Liu, Kay and
            Wu, Jia and Su, Jianlin and Yu, Philip S.},
    journal={IEEE/ACM Transactions on Audio, Speech, and Language Processing},
    title={CoSENT: Consistent Sentence Embedding via Similarity Ranking},
    year={2024},
    doi={10.1109/TASLP.2024.3402087}
}
"""


@register_loss("cosent", family="sentence")
class CoSENTLoss(nn.Module):
    """Pairwise ranking of similarity scores; see the module docstring.

    Args:
        model: the SentenceTransformer to train.
        scale: multiplies the scores (1 / temperature).
        similarity_fct: (N, D), (N, D) -> (N,) pairwise scores; cosine by default.
    """

    def __init__(self, model: nn.Module, scale: float = 20.0, similarity_fct: SimilarityFn = pairwise_cos_sim) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.scale = scale

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Scalar loss for two columns and (B,) labels."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Scalar loss from (B, D) embeddings of the two columns and (B,) labels.

        Raises:
            InputError: missing labels or a label count other than B.
        """
        labels = flat_labels(self, labels, embeddings[0].shape[0])  # (B,)
        scores = self.similarity_fct(embeddings[0], embeddings[1])  # (B,)
        if scores.shape != labels.shape:
            raise InputError(f"Labels and scores must have the same shape, got {labels.shape} and {scores.shape}.")
        return ranked_pairs_loss(scores, labels, self.scale)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity_fct": callable_name(self.similarity_fct)}

    @property
    def citation(self) -> str:
        return _CITATION


def ranked_pairs_loss(scores: Tensor, labels: Tensor, scale: float) -> Tensor:
    """``log(1 + sum over label_i > label_j of exp(scale * (s_j - s_i)))`` for (N,) scores and labels.

    Sorting by label makes "every strictly higher label" a suffix, whose ``log sum exp(-s)`` one
    reversed ``logcumsumexp`` gives for all rows at once: O(N log N) time, O(N) memory.
    """
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()
    scores = scores * scale  # (N,)
    labels = labels.int() if labels.dtype == torch.bool else labels
    labels, order = labels.sort()
    scores = scores[order]  # (N,) by ascending label
    first_higher = torch.searchsorted(labels, labels, right=True)  # (N,) start of the strictly-higher suffix
    suffix = torch.logcumsumexp(-scores.flip(0), dim=0).flip(0)  # (N,) log sum_{k >= i} exp(-s_k)
    suffix = torch.cat((suffix, scores.new_full((1,), -torch.inf)))  # (N + 1,) an empty suffix at the end
    terms = scores + suffix[first_higher]  # (N,) log sum_{j: label_j > label_i} exp(s_i - s_j)
    return torch.logsumexp(torch.cat((scores.new_zeros(1), terms)), dim=0)  # the 0 is the "1 +"
