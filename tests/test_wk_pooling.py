"""WKPooling against the SBERT-WK equations on hand-checkable tensors, and its invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentkit.models import WKPooling
from sentkit.modules.wk_pooling import layer_weights, sentence_vector, word_importance

# One token, three layers, in 3 dimensions (worked by hand in the comments below, window m = 1).
V0, V1, V2 = [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]
# novelty  |orthogonal part| / |v|:  v0 vs {v1}: 1/sqrt2;  v1 vs {v0, v2}: (1/sqrt2)/sqrt2 = 1/2;  v2 vs {v1}: 1/sqrt3
# alignment 1 / mean cos:            v0: sqrt2;  v1: 1 / mean(1/sqrt2, 2/sqrt6);  v2: sqrt6 / 2
# each normalised to sum 1, averaged: a = (0.37707, 0.30619, 0.31674); word = sum a_i v_i
HAND_WEIGHTS = [0.37707, 0.30619, 0.31674]
HAND_WORD = [1.0, 0.62293, 0.31674]


def _equations(token: np.ndarray, window: int) -> np.ndarray:
    """Layer weights straight from the paper: eq. 5/6 (cosines) and eq. 7/8 (projection residual)."""
    count = len(token)
    novelty, alignment = np.zeros(count), np.zeros(count)
    for i in range(count):
        context = token[[j for j in range(max(0, i - window), min(count, i + window + 1)) if j != i]]
        coefficients, *_ = np.linalg.lstsq(context.T, token[i], rcond=None)
        residual = token[i] - context.T @ coefficients  # q = v - U U^T v
        novelty[i] = np.linalg.norm(residual) / np.linalg.norm(token[i])
        cosines = context @ token[i] / (np.linalg.norm(context, axis=1) * np.linalg.norm(token[i]))
        alignment[i] = 1 / cosines.mean()
    return (novelty / novelty.sum() + alignment / alignment.sum()) / 2


def test_layer_weights_match_the_hand_computation() -> None:
    token = torch.tensor([[V0, V1, V2]], dtype=torch.float64)  # (N=1, L=3, D=3)
    weights = layer_weights(token, window=1)[0]
    assert np.allclose(weights.numpy(), HAND_WEIGHTS, atol=1e-5)
    word = (weights.unsqueeze(-1) * token[0]).sum(dim=0)
    assert np.allclose(word.numpy(), HAND_WORD, atol=1e-5)


@pytest.mark.parametrize(("layers", "window"), [(5, 1), (6, 2), (9, 2), (4, 3)])
def test_layer_weights_match_the_equations(layers: int, window: int) -> None:
    generator = torch.Generator().manual_seed(layers)
    # Layers of one token share a direction, as in real encoders, plus per-layer noise.
    tokens = torch.randn(4, 1, 16, generator=generator, dtype=torch.float64) + 0.7 * torch.randn(
        4, layers, 16, generator=generator, dtype=torch.float64
    )
    expected = np.stack([_equations(token.numpy(), window) for token in tokens])
    assert np.allclose(layer_weights(tokens, window).numpy(), expected, atol=1e-10)


def test_word_importance_is_the_normalised_variance_of_adjacent_layer_similarity() -> None:
    varied = torch.tensor([V0, V1, V2], dtype=torch.float64)
    steady = torch.tensor([[0.0, 2.0, 0.0], [0.0, 3.0, 0.0], [0.0, 5.0, 0.0]], dtype=torch.float64)  # cosines 1, 1
    importance = word_importance(torch.stack([varied, steady]))
    assert importance.tolist() == [1.0, 0.0]
    # So the sentence vector is the varied token's unified word vector.
    assert np.allclose(sentence_vector(torch.stack([varied, steady]), window=1).numpy(), HAND_WORD, atol=1e-5)


def _features(tokens: list[list[list[float]]], lengths: list[int]) -> dict:
    """Hidden states (L tensors of (B, T, D)) from per-row token lists; rows padded with zeros."""
    width = max(lengths)
    batch = torch.zeros(len(tokens), width, len(tokens[0][0]), len(tokens[0][0][0]))
    for row, row_tokens in enumerate(tokens):
        batch[row, : len(row_tokens)] = torch.tensor(row_tokens)
    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])
    return {
        "all_layer_embeddings": tuple(batch[:, :, layer] for layer in range(batch.shape[2])),
        "attention_mask": mask,
    }


def test_module_leaves_out_the_last_token_and_padding() -> None:
    varied = [V0, V1, V2]
    steady = [[0.0, 2.0, 0.0], [0.0, 3.0, 0.0], [0.0, 5.0, 0.0]]
    noisy_sep = [[9.0, -3.0, 2.0], [-4.0, 1.0, 7.0], [2.0, 8.0, -1.0]]
    pooling = WKPooling(3, layer_start=0, context_window_size=1)
    out = pooling(_features([[varied, steady, noisy_sep]], [3]))["sentence_embedding"]
    assert np.allclose(out[0].numpy(), HAND_WORD, atol=1e-5)


def test_batch_permutation_and_padding_do_not_change_results() -> None:
    generator = torch.Generator().manual_seed(0)
    rows = [torch.randn(n, 6, 8, generator=generator).tolist() for n in (5, 3, 7)]
    pooling = WKPooling(8, layer_start=1, context_window_size=2)
    together = pooling(_features(rows, [5, 3, 7]))["sentence_embedding"]
    reversed_order = pooling(_features(rows[::-1], [7, 3, 5]))["sentence_embedding"]
    assert torch.allclose(together, reversed_order.flip(0), atol=1e-6)
    for index, row in enumerate(rows):
        alone = pooling(_features([row], [len(row)]))["sentence_embedding"]
        assert torch.allclose(alone[0], together[index], atol=1e-6)
