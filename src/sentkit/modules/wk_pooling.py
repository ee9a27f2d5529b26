"""WKPooling: SBERT-WK sentence embeddings (Wang and Kuo, 2020, arXiv 2002.06652).

Every token has one vector per encoder layer. SBERT-WK fuses them in two steps:

1. Unified word representation. For layer i of a token, the context is the layers within
   ``context_window_size`` (m) of it, clipped at the first and last kept layer. QR-factorising
   C~ = [context vectors..., v_i] = QR puts v_i, in the orthonormal basis Q, as the last column r
   of R; its last entry is the part of v_i that its context does not explain.

   - novelty (eq. 8/14):   a_n(i) = |r[-1]| / ||r||
   - alignment (eq. 5/6):  a_a(i) = 1 / mean_j cos(v_i, v_j) over the context, computed on R's
     columns (cosines do not change with the basis)

   Each is normalised to sum 1 over the layers; a(i) = (a_a(i) + a_n(i)) / 2 (eq. 9, w = 0.5) and
   the word vector is sum_i a(i) v_i (eq. 10).
2. Word importance (eq. 12). The variance of the cosine similarities between adjacent layers
   (the offset-1 diagonal of the layer similarity matrix) of each token, normalised to sum 1 over
   the sentence, weights the word vectors into the sentence vector (eq. 11).

Only layers ``layer_start``.. are used (the paper drops the first layers; the default 4 is its
choice). As in the authors' code, the last token of each text ([SEP]) is left out, padding too.
Two choices differ from the authors' code, both to follow the paper's equations: windows at
the first layers are clipped (the code's slicing drops their left context entirely), and the
alignment compares v_i itself with its context (the code uses v_i's projection on the context).

The QR factorisations run on the CPU, as the seed documentation advises (slow on GPUs).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from sentkit.errors import ConfigurationError
from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register

_EPS = 1e-12


@register("wk_pooling", reference=("WKPooling",))
class WKPooling(Module):
    """``all_layer_embeddings`` -> ``sentence_embedding`` (B, D) by SBERT-WK (see the module docstring).

    Args:
        embedding_dimension: D (older name: ``word_embedding_dimension``).
        layer_start: first hidden state used (0 is the embedding layer).
        context_window_size: m, layers on each side that form a layer's context.
    """

    config_keys: ClassVar[tuple[str, ...]] = ("embedding_dimension", "layer_start", "context_window_size")
    legacy_config_keys: ClassVar[dict[str, str]] = {"word_embedding_dimension": "embedding_dimension"}
    needs_all_layers: ClassVar[bool] = True

    def __init__(
        self,
        embedding_dimension: int | None = None,
        layer_start: int = 4,
        context_window_size: int = 2,
        *,
        word_embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        embedding_dimension = embedding_dimension or word_embedding_dimension
        if embedding_dimension is None:
            raise ConfigurationError("WKPooling needs embedding_dimension.")
        if context_window_size < 1 or layer_start < 0:
            raise ConfigurationError("WKPooling needs context_window_size >= 1 and layer_start >= 0.")
        self.embedding_dimension = embedding_dimension
        self.layer_start = layer_start
        self.context_window_size = context_window_size

    def forward(self, features: Features) -> Features:
        layers = features.get("all_layer_embeddings")
        if layers is None:
            raise ConfigurationError(
                "WKPooling needs every layer's output; put it after a Transformer in a SentenceTransformer."
            )
        if len(layers) - self.layer_start < 2:
            raise ConfigurationError(
                f"WKPooling with layer_start={self.layer_start} keeps fewer than 2 of the model's {len(layers)} layers."
            )
        device, dtype = layers[0].device, layers[0].dtype
        stacked = torch.stack(layers[self.layer_start :], dim=2).cpu().double()  # (B, T, L, D)
        keep = token_mask(features["attention_mask"].cpu())  # (B, T)
        embeddings = []
        for row in range(stacked.shape[0]):
            tokens = stacked[row][keep[row]]  # (N, L, D)
            embeddings.append(sentence_vector(tokens, self.context_window_size))
        features["sentence_embedding"] = torch.stack(embeddings).to(device=device, dtype=dtype)  # (B, D)
        return features

    def get_embedding_dimension(self) -> int:
        return self.embedding_dimension

    def expected_input_dimension(self) -> int:
        return self.embedding_dimension


def token_mask(attention_mask: Tensor) -> Tensor:
    """(B, T) bool: the real tokens, without each text's last one ([SEP]) unless it is the only one."""
    keep = attention_mask.bool().clone()
    counts = keep.sum(dim=1)
    last = keep.shape[1] - 1 - keep.flip(1).int().argmax(dim=1)  # (B,) last real position
    drop = counts > 1
    keep[torch.arange(keep.shape[0])[drop], last[drop]] = False
    return keep


def layer_weights(tokens: Tensor, window: int) -> Tensor:
    """(N, L, D) token vectors per layer -> (N, L) weights a(i) of eq. 9 (each row sums to 1)."""
    count = tokens.shape[1]
    novelty = torch.empty(tokens.shape[:2], dtype=tokens.dtype)
    alignment = torch.empty(tokens.shape[:2], dtype=tokens.dtype)
    for layer in range(count):
        context = [j for j in range(max(0, layer - window), min(count, layer + window + 1)) if j != layer]
        columns = tokens[:, [*context, layer], :].transpose(1, 2)  # (N, D, w + 1), v_i last
        r = torch.linalg.qr(columns).R  # (N, w + 1, w + 1)
        own = r[:, :, -1]  # (N, w + 1): v_i in the basis Q
        novelty[:, layer] = own[:, -1].abs() / own.norm(dim=1).clamp_min(_EPS)
        cosines = F.cosine_similarity(r[:, :, :-1], own.unsqueeze(-1), dim=1, eps=_EPS)  # (N, w)
        mean_cosine = cosines.mean(dim=1)
        alignment[:, layer] = 1.0 / torch.where(mean_cosine.abs() < _EPS, _EPS, mean_cosine)
    novelty = novelty / novelty.sum(dim=1, keepdim=True).clamp_min(_EPS)
    alignment = alignment / alignment.sum(dim=1, keepdim=True).clamp_min(_EPS)
    return (novelty + alignment) / 2


def word_importance(tokens: Tensor) -> Tensor:
    """(N, L, D) -> (N,) variance of adjacent-layer cosine similarities, normalised to sum 1 (eq. 12)."""
    adjacent = F.cosine_similarity(tokens[:, :-1, :], tokens[:, 1:, :], dim=-1, eps=_EPS)  # (N, L - 1)
    variance = adjacent.var(dim=1, unbiased=False)
    total = variance.sum()
    if total <= 0:
        return torch.full_like(variance, 1.0 / len(variance))
    return variance / total


def sentence_vector(tokens: Tensor, window: int) -> Tensor:
    """(N, L, D) one text's token vectors per layer -> (D,) its SBERT-WK embedding (eqs. 10 and 11)."""
    words = (layer_weights(tokens, window).unsqueeze(-1) * tokens).sum(dim=1)  # (N, D)
    return (word_importance(tokens).unsqueeze(-1) * words).sum(dim=0)
