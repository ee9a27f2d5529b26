"""The SparseEncoder losses against sentence-transformers' on the same tiny SPLADE model and batch.

Both models run in train mode with every dropout probability set to 0, so both are deterministic
(the reference's SPLADE pooling works in place in eval mode, which breaks its backward pass). The
tiny random MLM gives dense-ish embeddings whose dot products are in the hundreds, so values and
gradients are compared to 1e-5 relative to their size (absolute 1e-5 below 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sentence_transformers as st
import torch
from sentence_transformers.sparse_encoder import losses as st_losses
from torch import nn

from sentkit import SparseEncoder
from sentkit.errors import ConfigurationError
from sentkit.similarity import cos_sim, pairwise_cos_sim
from sentkit.train import sparse_losses as losses
from sentkit.train.registry import loss_class
from tests.tiny_models import build_masked_lm

TOLERANCE = 1e-5
QUERIES = ["what are pandas?", "where is venice?", "who scored twice?", "how do vaccines work?"]
POSITIVES = [
    "Pandas are bears that eat bamboo.",
    "Venice is built on small islands.",
    "The striker scored twice in the final ten minutes.",
    "Vaccines train the immune system.",
]
NEGATIVES = ["Tomatoes need sunlight.", "Roman roads crossed Europe.", "a", "Bridges connect islands."]

Models = tuple[st.SparseEncoder, SparseEncoder]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and lose a lot when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """A plain MLM checkpoint, loaded as SPLADE (max pooling, log1p(relu)) by both libraries."""
    folder = build_masked_lm(tmp_path_factory.mktemp("sparse_losses") / "mlm")
    reference, ours = st.SparseEncoder(str(folder), device="cpu"), SparseEncoder(folder, device="cpu")
    return _without_dropout(reference), _without_dropout(ours)


def _without_dropout(model):
    model.train()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def _close(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    scale = max(1.0, float(expected.abs().max()))
    return float((actual - expected).abs().max()) <= TOLERANCE * scale


def _run(model: nn.Module, compute: Callable[[], Any]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(named loss values, gradients of every parameter) of one call; a dict result is summed for backward."""
    model.zero_grad(set_to_none=True)
    result = compute()
    values = result if isinstance(result, dict) else {"loss": result}
    sum(values.values()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return {key: value.detach() for key, value in values.items()}, grads


def _check_same(
    models: Models, make_reference: Callable, make_ours: Callable, columns: list[list[str]], labels
) -> None:
    """Build the loss on each side, feed each the columns tokenized by its own model, compare everything."""
    reference, ours = models
    expected, expected_grads = _run(
        reference, lambda: make_reference(reference)([reference.preprocess(texts) for texts in columns], labels)
    )
    actual, actual_grads = _run(ours, lambda: make_ours(ours)([ours.tokenize(texts) for texts in columns], labels))
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert _close(actual[key], value), (key, float(actual[key]), float(value))
    assert set(actual_grads) == set(expected_grads)
    assert any(float(grad.abs().max()) > 1e-4 for grad in expected_grads.values())
    for name, grad in expected_grads.items():
        assert _close(actual_grads[name], grad), name


# ---------------------------------------------------------------------- SpladeLoss + ranking loss
@pytest.mark.parametrize(
    ("columns", "ranking", "splade"),
    [
        ([QUERIES, POSITIVES], {}, {"document_regularizer_weight": 3e-5, "query_regularizer_weight": 5e-5}),
        ([QUERIES, POSITIVES, NEGATIVES], {"scale": 0.05}, {"document_regularizer_weight": 0.3}),
        (
            [QUERIES, POSITIVES, NEGATIVES],
            {"scale": 0.05, "directions": ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")},
            {
                "document_regularizer_weight": 0.2,
                "query_regularizer_weight": 0.4,
                "document_regularizer_threshold": 300,
            },
        ),
        (
            [QUERIES, POSITIVES, NEGATIVES],
            {
                "scale": 0.05,
                "directions": ("query_to_doc", "doc_to_query"),
                "partition_mode": "per_direction",
                "hardness_mode": "all_negatives",
                "hardness_strength": 0.01,
            },
            {"document_regularizer_weight": 0.1, "query_regularizer_weight": 0.2, "query_regularizer_threshold": 300},
        ),
        (
            [QUERIES, POSITIVES, NEGATIVES],
            {"scale": 0.05},
            {"document_regularizer_weight": 0.3, "use_document_regularizer_only": True},
        ),
    ],
    ids=["pairs_defaults", "triplets_no_query_weight", "four_directions_threshold", "symmetric_hardness", "docs_only"],
)
def test_splade_with_multiple_negatives_ranking_matches(models: Models, columns, ranking: dict, splade: dict) -> None:
    _check_same(
        models,
        lambda model: st_losses.SpladeLoss(
            model, st_losses.SparseMultipleNegativesRankingLoss(model, **ranking), **splade
        ),
        lambda model: losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model, **ranking), **splade),
        columns,
        None,
    )


def test_splade_with_cosine_similarity_matches(models: Models) -> None:
    st_cos = st.util.cos_sim
    _check_same(
        models,
        lambda model: st_losses.SpladeLoss(
            model, st_losses.SparseMultipleNegativesRankingLoss(model, scale=20.0, similarity_fct=st_cos), 0.1, 0.1
        ),
        lambda model: losses.SpladeLoss(
            model, losses.SparseMultipleNegativesRankingLoss(model, scale=20.0, similarity_fct=cos_sim), 0.1, 0.1
        ),
        [QUERIES, POSITIVES, NEGATIVES],
        None,
    )


@pytest.mark.parametrize(
    ("columns", "labels", "similarity"),
    [
        ([QUERIES, POSITIVES, NEGATIVES], torch.tensor([5.0, -2.0, 10.0, 0.0]), "dot"),
        ([QUERIES, POSITIVES, NEGATIVES, NEGATIVES[::-1]], torch.tensor([[0.9, 0.1, 0.5]] * 4), "cosine"),
    ],
    ids=["margins_dot", "scores_cosine"],
)
def test_splade_with_margin_mse_matches(models: Models, columns, labels: torch.Tensor, similarity: str) -> None:
    ours_fn = pairwise_cos_sim if similarity == "cosine" else losses.SparseMarginMSELoss(models[1]).similarity_fct
    st_fn = st.util.pairwise_cos_sim if similarity == "cosine" else st.util.pairwise_dot_score
    _check_same(
        models,
        lambda model: st_losses.SpladeLoss(model, st_losses.SparseMarginMSELoss(model, similarity_fct=st_fn), 0.2, 0.3),
        lambda model: losses.SpladeLoss(model, losses.SparseMarginMSELoss(model, similarity_fct=ours_fn), 0.2, 0.3),
        columns,
        labels,
    )


# ------------------------------------------------------------------------------- MSE, FLOPS alone
@pytest.mark.parametrize("per_column", [False, True], ids=["shared_target", "target_per_column"])
def test_sparse_mse_alone_matches(models: Models, per_column: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    shape = (len(QUERIES), 2, 400) if per_column else (len(QUERIES), 400)
    teacher = torch.rand(shape, generator=generator) * (torch.rand(shape, generator=generator) > 0.8)
    _check_same(models, st_losses.SparseMSELoss, losses.SparseMSELoss, [QUERIES, POSITIVES], teacher)


def test_sparse_mse_inside_splade_regresses_each_column(models: Models) -> None:
    """The reference pairs columns with label rows here; sentkit gives every column the teacher target."""
    ours = models[1]
    teacher = torch.rand(len(QUERIES), 400, generator=torch.Generator().manual_seed(1))
    result = losses.SpladeLoss(ours, losses.SparseMSELoss(ours), 0.1, 0.2)(
        [ours.tokenize(QUERIES), ours.tokenize(POSITIVES)], teacher
    )
    with torch.no_grad():
        embeddings = [ours(ours.tokenize(texts))["sentence_embedding"] for texts in (QUERIES, POSITIVES)]
    expected = sum(nn.functional.mse_loss(embedding, teacher) for embedding in embeddings) / 2
    assert float((result["base_loss"].detach() - expected).abs()) <= TOLERANCE
    expected_flops = 0.1 * embeddings[1].mean(dim=0).square().sum()
    assert float((result["document_regularizer_loss"].detach() - expected_flops).abs()) <= TOLERANCE


@pytest.mark.parametrize("threshold", [None, 2, 4])
def test_flops_matches(models: Models, threshold: int | None) -> None:
    generator = torch.Generator().manual_seed(2)
    embeddings = torch.relu(torch.randn(6, 10, generator=generator))  # rows with 2 to 8 active weights
    embeddings[0, :] = 0.0
    expected = st_losses.FlopsLoss(models[0], threshold=threshold).compute_loss_from_embeddings(embeddings)
    actual = losses.FlopsLoss(models[1], threshold=threshold).compute_loss_from_embeddings(embeddings)
    assert float((actual - expected).abs()) <= 1e-6


# ------------------------------------------------------------------------------ errors, registry
def test_losses_that_only_work_inside_splade_say_so(models: Models) -> None:
    ours = models[1]
    features = [ours.tokenize(QUERIES), ours.tokenize(POSITIVES)]
    for loss in (
        losses.FlopsLoss(ours),
        losses.SparseMultipleNegativesRankingLoss(ours),
        losses.SparseMarginMSELoss(ours),
    ):
        with pytest.raises(ConfigurationError, match="SpladeLoss"):
            loss(features, None)
    with pytest.raises(ConfigurationError, match="compute_loss_from_embeddings"):
        losses.SpladeLoss(ours, nn.MSELoss(), document_regularizer_weight=1e-3)
    with pytest.raises(ConfigurationError, match="query_to_doc"):
        losses.SparseMultipleNegativesRankingLoss(ours, directions=("doc_to_query",))


def test_splade_settings_and_config(models: Models) -> None:
    ours = models[1]
    inner = losses.SparseMultipleNegativesRankingLoss(ours)
    symmetric = losses.SpladeLoss(ours, inner, 0.1, query_regularizer_weight=0.2, use_document_regularizer_only=True)
    assert symmetric.query_regularizer_weight is None
    assert symmetric.query_regularizer is None
    custom = losses.SpladeLoss(ours, inner, 0.1, 0.2, query_regularizer=nn.Identity(), document_regularizer_threshold=9)
    assert custom.get_config_dict() == {
        "loss": inner,
        "document_regularizer_weight": 0.1,
        "query_regularizer_weight": 0.2,
        "document_regularizer_threshold": 9,
        "query_regularizer": "Identity",
    }
    assert inner.get_config_dict()["similarity_fct"] == "dot_score"
    assert inner.scale == 1.0


def test_registered_under_short_and_reference_names() -> None:
    for short, cls in [
        ("splade", losses.SpladeLoss),
        ("flops", losses.FlopsLoss),
        ("multiple_negatives_ranking", losses.SparseMultipleNegativesRankingLoss),
        ("margin_mse", losses.SparseMarginMSELoss),
        ("mse", losses.SparseMSELoss),
    ]:
        assert loss_class(short, family="sparse") is cls
        assert loss_class(cls.__name__, family="sparse") is cls
