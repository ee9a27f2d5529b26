"""Bi-encoder losses: same values and same parameter gradients as sentence-transformers' losses.

One tiny random BERT folder is loaded by both libraries. Both models are put in ``eval()`` mode,
so dropout is off and both sides are deterministic (the one train-mode test replays dropout in
CachedMultipleNegativesRankingLoss under the same seed on both sides). Each case builds the loss
in both libraries with the same settings, feeds each model's own tokenization of the same texts
and the same labels, and compares the loss and the gradient of every parameter.
"""

from __future__ import annotations

import copy
import random
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import sentkit
import sentkit.util
from sentkit.errors import ConfigurationError, InputError
from sentkit.train import losses as our_losses
from sentkit.train.registry import loss_class

TOLERANCE = 1e-5
ANCHORS = [
    "The weather is lovely today.",
    "He drove to the stadium.",
    "A man is playing a guitar on stage.",
    "Stock markets fell sharply on Monday.",
    "The cat sleeps.",
    "Researchers found a new species of frog in the rainforest near the river.",
]
POSITIVES = [
    "It is so sunny outside!",
    "He took the car to the football game.",
    "Someone plays music at a concert.",
    "Shares dropped at the start of the week.",
    "A kitten is napping on the sofa.",
    "A previously unknown frog was discovered by scientists.",
]
NEGATIVES = [
    "It rained all week and the streets flooded.",
    "She walked to the library.",
    "A woman is cooking pasta.",
    "The central bank kept rates unchanged.",
    "The dog barks at the mailman every morning.",
    "The museum opens at nine.",
]
EXTRA_NEGATIVES = [
    "Cold wind.",
    "Trains were late.",
    "Nobody sang.",
    "Gold prices rose.",
    "Birds fly south.",
    "A river floods the valley after heavy spring rain.",
]
COLUMNS = [ANCHORS, POSITIVES, NEGATIVES, EXTRA_NEGATIVES]
BATCH = len(ANCHORS)


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """The matrices here are tiny: on 2 shared cores, intra-op threads cost more than they give (the
    cached-loss tests run ~10x slower with 2 threads under load). Restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folders(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny BERT, a guide with BERT's tokenizer but other weights, and RoBERTa (another tokenizer)."""
    from transformers import BertModel

    guide = tmp_path_factory.mktemp("loss_models") / "guide"
    shutil.copytree(hf_checkpoints["bert"], guide)
    torch.manual_seed(1)
    model = BertModel.from_pretrained(str(guide))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model.save_pretrained(str(guide))
    return {"bert": hf_checkpoints["bert"], "guide": guide, "roberta": hf_checkpoints["roberta"]}


@pytest.fixture(scope="module")
def loaded(folders: dict[str, Path]) -> dict[str, Any]:
    import sentence_transformers

    models: dict[str, Any] = {}
    for name, folder in folders.items():
        models[f"ours_{name}"] = sentkit.SentenceTransformer(str(folder), device="cpu").eval()
        models[f"theirs_{name}"] = sentence_transformers.SentenceTransformer(str(folder), device="cpu").eval()
    return models


@pytest.fixture
def pair(loaded: dict[str, Any]) -> tuple[Any, Any]:
    """Fresh copies of the BERT model in sentkit and in sentence-transformers (eval mode)."""
    return copy.deepcopy(loaded["ours_bert"]), copy.deepcopy(loaded["theirs_bert"])


def _reference_namespaces() -> tuple[Any, Any]:
    from sentence_transformers import util
    from sentence_transformers.sentence_transformer import losses

    return losses, util


OURS = (our_losses, sentkit.util)


# ---------------------------------------------------------------------------------------- cases
LossFactory = Callable[[Any, Any, Any, dict[str, Any]], nn.Module]


@dataclass
class Case:
    """A loss built the same way in both libraries: ``make(losses, util, model, side_models)``."""

    make: LossFactory
    columns: int
    labels: Callable[[], torch.Tensor | None] = lambda: None
    extra: tuple[str, ...] = ()  # loss-owned modules whose random init is copied from the reference
    compare_config: bool = True


def _scores() -> torch.Tensor:
    return torch.tensor([0.9, 0.1, 0.5, 0.5, 0.8, 0.3])


def _binary() -> torch.Tensor:
    return torch.tensor([1, 0, 1, 1, 0, 0])


def _all_negative() -> torch.Tensor:
    """OnlineContrastiveLoss keeps only hard pairs: with positives and negatives mixed, a random model
    that happens to put the positives closest (one draw in six with a single positive) leaves no pair
    and no gradient. Without positives, the negatives closer than their mean are always kept."""
    return torch.zeros(BATCH, dtype=torch.long)


def _all_positive() -> torch.Tensor:
    """Without negatives, the positives farther apart than their mean are always kept (see above)."""
    return torch.ones(BATCH, dtype=torch.long)


def _classes() -> torch.Tensor:
    return torch.tensor([0, 1, 0, 2, 1, 2])


def _teacher(dim: int = 32) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(BATCH, dim, generator=torch.Generator().manual_seed(3))


CASES: dict[str, Case] = {
    "mnrl": Case(lambda L, U, m, s: L.MultipleNegativesRankingLoss(m), 2),
    "mnrl_dot_hard_negatives": Case(
        lambda L, U, m, s: L.MultipleNegativesRankingLoss(m, scale=1.0, similarity_fct=U.dot_score), 4
    ),
    "mnrl_gte_all_directions": Case(
        lambda L, U, m, s: L.MultipleNegativesRankingLoss(
            m, scale=10.0, directions=("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
        ),
        3,
    ),
    "mnrl_symmetric_in_batch_hardness": Case(
        lambda L, U, m, s: L.MultipleNegativesRankingLoss(
            m,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
            hardness_mode="in_batch_negatives",
            hardness_strength=5.0,
        ),
        3,
    ),
    "mnrl_hard_negatives_hardness": Case(
        lambda L, U, m, s: L.MultipleNegativesRankingLoss(m, hardness_mode="hard_negatives", hardness_strength=9.0),
        4,
    ),
    "mnrl_all_negatives_hardness": Case(
        lambda L, U, m, s: L.MultipleNegativesRankingLoss(m, hardness_mode="all_negatives", hardness_strength=3.0),
        3,
    ),
    "mnsrl": Case(lambda L, U, m, s: L.MultipleNegativesSymmetricRankingLoss(m, scale=15.0), 2),
    "cached_mnrl": Case(lambda L, U, m, s: L.CachedMultipleNegativesRankingLoss(m, mini_batch_size=2), 3),
    "cached_mnrl_gte_token_budget": Case(
        lambda L, U, m, s: L.CachedMultipleNegativesRankingLoss(
            m,
            mini_batch_size=4,
            mini_batch_num_tokens=30,
            directions=("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"),
            hardness_mode="all_negatives",
            hardness_strength=2.0,
        ),
        3,
    ),
    "cosent": Case(lambda L, U, m, s: L.CoSENTLoss(m), 2, _scores),
    "cosent_dot": Case(lambda L, U, m, s: L.CoSENTLoss(m, scale=1.0, similarity_fct=U.pairwise_dot_score), 2, _scores),
    "angle_pairs": Case(lambda L, U, m, s: L.AnglELoss(m), 2, _scores),
    "angle_triplets": Case(lambda L, U, m, s: L.AnglELoss(m, scale=10.0), 3),
    "cosine_similarity": Case(lambda L, U, m, s: L.CosineSimilarityLoss(m), 2, _scores),
    "cosine_similarity_l1": Case(lambda L, U, m, s: L.CosineSimilarityLoss(m, loss_fct=nn.L1Loss()), 2, _scores),
    "contrastive": Case(lambda L, U, m, s: L.ContrastiveLoss(m), 2, _binary),
    "contrastive_euclidean_sum": Case(
        lambda L, U, m, s: L.ContrastiveLoss(
            m, distance_metric=L.SiameseDistanceMetric.EUCLIDEAN, margin=2.0, size_average=False
        ),
        2,
        _binary,
    ),
    "online_contrastive": Case(lambda L, U, m, s: L.OnlineContrastiveLoss(m, margin=0.9), 2, _all_negative),
    "online_contrastive_manhattan": Case(
        lambda L, U, m, s: L.OnlineContrastiveLoss(m, distance_metric=L.SiameseDistanceMetric.MANHATTAN, margin=50.0),
        2,
        _all_positive,
    ),
    "triplet": Case(lambda L, U, m, s: L.TripletLoss(m), 3),
    "triplet_cosine": Case(
        lambda L, U, m, s: L.TripletLoss(m, distance_metric=L.TripletDistanceMetric.COSINE, triplet_margin=0.5), 3
    ),
    "triplet_manhattan": Case(
        lambda L, U, m, s: L.TripletLoss(m, distance_metric=L.TripletDistanceMetric.MANHATTAN, triplet_margin=10), 3
    ),
    "batch_hard_triplet": Case(lambda L, U, m, s: L.BatchHardTripletLoss(m, margin=2.0), 1, _classes),
    "batch_hard_triplet_cosine": Case(
        lambda L, U, m, s: L.BatchHardTripletLoss(
            m, distance_metric=L.BatchHardTripletLossDistanceFunction.cosine_distance, margin=0.5
        ),
        1,
        _classes,
    ),
    "batch_semi_hard_triplet": Case(lambda L, U, m, s: L.BatchSemiHardTripletLoss(m), 1, _classes),
    "batch_all_triplet": Case(lambda L, U, m, s: L.BatchAllTripletLoss(m, margin=1.0), 1, _classes),
    "batch_hard_soft_margin_triplet": Case(lambda L, U, m, s: L.BatchHardSoftMarginTripletLoss(m), 1, _classes),
    "mse_two_columns": Case(lambda L, U, m, s: L.MSELoss(m), 2, _teacher()),
    "mse_projection": Case(lambda L, U, m, s: L.MSELoss(m, projection_dim=16), 1, _teacher(16), ("projection",)),
    "margin_mse": Case(lambda L, U, m, s: L.MarginMSELoss(m), 3, lambda: torch.linspace(-1, 1, BATCH)),
    "margin_mse_scores_cosine": Case(
        lambda L, U, m, s: L.MarginMSELoss(m, similarity_fct=U.pairwise_cos_sim),
        4,
        lambda: torch.rand(BATCH, 3, generator=torch.Generator().manual_seed(4)),
    ),
    "softmax": Case(
        lambda L, U, m, s: L.SoftmaxLoss(m, 32, 3), 2, lambda: torch.tensor([0, 1, 2, 2, 1, 0]), ("classifier",)
    ),
    "softmax_multiplication": Case(
        lambda L, U, m, s: L.SoftmaxLoss(m, 32, 2, concatenation_sent_multiplication=True),
        2,
        _binary,
        ("classifier",),
    ),
    "matryoshka_mnrl": Case(
        lambda L, U, m, s: L.MatryoshkaLoss(
            m, L.MultipleNegativesRankingLoss(m), [8, 32, 16], matryoshka_weights=[0.25, 1, 0.5]
        ),
        3,
    ),
    "matryoshka_cosent": Case(lambda L, U, m, s: L.MatryoshkaLoss(m, L.CoSENTLoss(m), [32, 12]), 2, _scores),
    "matryoshka_mse": Case(lambda L, U, m, s: L.MatryoshkaLoss(m, L.MSELoss(m), [32, 16, 4]), 2, _teacher()),
    "matryoshka_cached_mnrl": Case(
        lambda L, U, m, s: L.MatryoshkaLoss(
            m, L.CachedMultipleNegativesRankingLoss(m, mini_batch_size=4), [32, 16], matryoshka_weights=[1, 2]
        ),
        3,
    ),
    "matryoshka_sampled_dims": Case(
        lambda L, U, m, s: L.MatryoshkaLoss(m, L.TripletLoss(m), [32, 24, 16, 8], n_dims_per_step=2), 3
    ),
    "gist": Case(lambda L, U, m, s: L.GISTEmbedLoss(m, s["guide"]), 2, compare_config=False),
    "gist_negatives_relative_margin": Case(
        lambda L, U, m, s: L.GISTEmbedLoss(
            m, s["guide"], temperature=0.05, margin_strategy="relative", margin=0.02, contrast_positives=False
        ),
        3,
        compare_config=False,
    ),
    "gist_retokenized_guide": Case(
        lambda L, U, m, s: L.GISTEmbedLoss(m, s["roberta"], margin=0.01, contrast_anchors=False),
        3,
        compare_config=False,
    ),
}


def _side_models(loaded: dict[str, Any], side: str) -> dict[str, Any]:
    return {"guide": loaded[f"{side}_guide"], "roberta": loaded[f"{side}_roberta"]}


def _run(loss: nn.Module, model: Any, tokenize: Callable[[list[str]], dict], columns: int, labels: Any) -> torch.Tensor:
    features = [tokenize(texts) for texts in COLUMNS[:columns]]
    random.seed(0)  # MatryoshkaLoss(n_dims_per_step=...) draws its dimensions with `random`
    value = loss(features, labels)
    value.backward()
    return value.detach()


def _gradients(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad for name, p in module.named_parameters() if p.grad is not None}


def _assert_same_gradients(ours: nn.Module, theirs: nn.Module) -> None:
    _assert_close_gradients(_gradients(ours), _gradients(theirs))


def _assert_close_gradients(mine: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> None:
    """Every parameter's gradient equal within atol 1e-5 (times the largest gradient when that is > 1)
    and rtol 1e-4.

    float32 leaves ~1e-6..1e-5 relative rounding that depends on summation order: an embedding
    table's gradient sums the contributions of every token (in another order when the batch is
    cached in chunks, or on another thread count), and GISTEmbedLoss's temperature 0.01 makes
    gradients of ~4.
    """
    assert mine.keys() == reference.keys()
    largest = max(grad.abs().max().item() for grad in reference.values())
    assert largest > 0, "the reference gives no gradient at all"
    atol = TOLERANCE * max(1.0, largest)
    for name, grad in reference.items():
        difference = (mine[name] - grad).abs().max().item()
        assert torch.allclose(mine[name], grad, rtol=1e-4, atol=atol), (name, difference, largest)


def _build_reference(case: Case, model: Any, loaded: dict[str, Any]) -> nn.Module:
    losses, util = _reference_namespaces()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # MultipleNegativesSymmetricRankingLoss is deprecated
        return case.make(losses, util, model, _side_models(loaded, "theirs"))


@pytest.mark.parametrize("name", list(CASES))
def test_loss_and_gradients_match_reference(name: str, pair: tuple[Any, Any], loaded: dict[str, Any]) -> None:
    case = CASES[name]
    ours_model, theirs_model = pair
    ours = case.make(*OURS, ours_model, _side_models(loaded, "ours"))
    theirs = _build_reference(case, theirs_model, loaded)
    for attribute in case.extra:
        getattr(ours, attribute).load_state_dict(getattr(theirs, attribute).state_dict())
    mine = _run(ours, ours_model, ours_model.tokenize, case.columns, case.labels())
    reference = _run(theirs, theirs_model, theirs_model.preprocess, case.columns, case.labels())
    assert torch.isfinite(mine)
    assert torch.allclose(mine, reference, atol=TOLERANCE, rtol=1e-5), (mine.item(), reference.item())
    _assert_same_gradients(ours_model, theirs_model)
    for attribute in case.extra:
        _assert_same_gradients(getattr(ours, attribute), getattr(theirs, attribute))
    if case.compare_config:
        assert ours.get_config_dict() == theirs.get_config_dict()


# --------------------------------------------------------------------------- gradient caching
def _mnrl_gradients(loss_factory: Callable[[Any], nn.Module], model: Any, columns: int) -> tuple[float, dict]:
    model.zero_grad(set_to_none=True)
    value = _run(loss_factory(model), model, model.tokenize, columns, None)
    return value.item(), {name: grad.clone() for name, grad in _gradients(model).items()}


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"scale": 1.0, "similarity_fct": sentkit.util.dot_score, "gather_across_devices": True},
        {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"},
        {"directions": ("query_to_doc", "query_to_query", "doc_to_doc"), "hardness_mode": "hard_negatives",
         "hardness_strength": 4.0},
    ],
)  # fmt: skip
def test_cached_mnrl_gradient_equals_uncached(settings: dict[str, Any], pair: tuple[Any, Any]) -> None:
    model = pair[0]
    plain_value, plain = _mnrl_gradients(lambda m: our_losses.MultipleNegativesRankingLoss(m, **settings), model, 3)
    for size in (1, 4):
        cached_value, cached = _mnrl_gradients(
            lambda m, size=size: our_losses.CachedMultipleNegativesRankingLoss(m, mini_batch_size=size, **settings),
            model,
            3,
        )
        assert cached_value == pytest.approx(plain_value, abs=TOLERANCE)
        _assert_close_gradients(cached, plain)


def test_cached_mnrl_without_gradients_gives_the_value(pair: tuple[Any, Any]) -> None:
    model = pair[0]
    features = [model.tokenize(texts) for texts in COLUMNS[:3]]
    with torch.no_grad():
        plain = our_losses.MultipleNegativesRankingLoss(model)(features, None)
        cached = our_losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)(features, None)
    assert not cached.requires_grad
    assert cached.item() == pytest.approx(plain.item(), abs=TOLERANCE)


def test_cached_mnrl_replays_dropout_like_the_reference(pair: tuple[Any, Any]) -> None:
    """In train mode the second (gradient) pass must reuse each mini-batch's dropout masks."""
    ours_model, theirs_model = pair
    ours_model.train()
    theirs_model.train()
    losses, _ = _reference_namespaces()
    ours = our_losses.CachedMultipleNegativesRankingLoss(ours_model, mini_batch_size=2)
    theirs = losses.CachedMultipleNegativesRankingLoss(theirs_model, mini_batch_size=2)
    values = []
    for loss, tokenize in (
        (ours, ours_model.tokenize),
        (theirs, theirs_model.preprocess),
    ):
        features = [tokenize(texts) for texts in COLUMNS[:3]]
        torch.manual_seed(7)
        value = loss(features, None)
        torch.manual_seed(123)  # the backward pass must not depend on the RNG state it finds
        value.backward()
        values.append(value.item())
    assert values[0] == pytest.approx(values[1], abs=TOLERANCE)
    _assert_same_gradients(ours_model, theirs_model)


def test_cached_mnrl_rejects_unused_columns_and_bad_settings(pair: tuple[Any, Any]) -> None:
    model = pair[0]
    with pytest.raises(ConfigurationError, match="mini_batch_size"):
        our_losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=0)
    with pytest.raises(InputError, match="at least 2"):
        our_losses.CachedMultipleNegativesRankingLoss(model)([model.tokenize(ANCHORS)], None)


# --------------------------------------------------------------------------------------- TSDAE
DAMAGED = ["weather lovely", "drove stadium", "man guitar stage", "markets fell", "cat", "found frog rainforest"]


def test_denoising_auto_encoder_matches_reference(pair: tuple[Any, Any]) -> None:
    """Tied decoder built from the encoder's config; the decoder's fresh (random) layers are copied over."""
    ours_model, theirs_model = pair
    losses, _ = _reference_namespaces()
    ours = our_losses.DenoisingAutoEncoderLoss(ours_model, tie_encoder_decoder=True)
    theirs = losses.DenoisingAutoEncoderLoss(theirs_model, tie_encoder_decoder=True)
    assert type(ours.decoder) is type(theirs.decoder)
    assert not ours.need_retokenization
    ours.decoder.load_state_dict(theirs.decoder.state_dict())
    ours.decoder.eval()
    theirs.decoder.eval()
    # Tied: the encoder's word embeddings are the decoder's parameter.
    word_embeddings = ours_model[0].auto_model.embeddings.word_embeddings.weight
    assert word_embeddings is ours.decoder.bert.embeddings.word_embeddings.weight
    values = []
    for loss, tokenize in ((ours, ours_model.tokenize), (theirs, theirs_model.preprocess)):
        value = loss([tokenize(DAMAGED), tokenize(ANCHORS)], None)
        value.backward()
        values.append(value.item())
    assert torch.isfinite(torch.tensor(values[0]))
    assert values[0] == pytest.approx(values[1], abs=TOLERANCE)
    _assert_same_gradients(ours_model, theirs_model)
    _assert_same_gradients(ours.decoder, theirs.decoder)
    cross_attention = ours.decoder.bert.encoder.layer[0].crossattention.self.query.weight
    assert cross_attention.grad is not None  # the decoder learns too
    assert cross_attention.grad.abs().max() > 0


def test_denoising_auto_encoder_with_another_decoder_retokenizes(
    pair: tuple[Any, Any], folders: dict[str, Path]
) -> None:
    """An untied RoBERTa decoder: BERT's ids are decoded and re-tokenized (the reference, on transformers 5,
    sees one tokenizer class for both and would feed BERT ids to RoBERTa)."""
    model = pair[0]
    loss = our_losses.DenoisingAutoEncoderLoss(model, str(folders["roberta"]), tie_encoder_decoder=False)
    assert loss.need_retokenization
    target = model.tokenize(ANCHORS)
    retokenized = loss.retokenize(target)
    assert (
        loss.tokenizer_decoder.batch_decode(retokenized["input_ids"], skip_special_tokens=True)[1]
        == (loss.tokenizer_encoder.batch_decode(target["input_ids"], skip_special_tokens=True)[1])
    )
    value = loss([model.tokenize(DAMAGED), target], None)
    value.backward()
    assert torch.isfinite(value)
    assert all(p.grad is not None for name, p in model.named_parameters() if "pooler" not in name)
    assert all(p.grad is not None for p in loss.decoder.parameters())


def test_denoising_auto_encoder_needs_a_decoder_when_untied(pair: tuple[Any, Any]) -> None:
    with pytest.raises(ConfigurationError, match="decoder_name_or_path"):
        our_losses.DenoisingAutoEncoderLoss(pair[0], tie_encoder_decoder=False)


# ------------------------------------------------------------------------- registry and errors
def test_every_loss_is_registered_under_its_short_and_reference_name() -> None:
    from sentkit.train.registry import _REGISTRY

    exported = [getattr(our_losses, name) for name in our_losses.__all__ if name.endswith("Loss")]
    assert len(exported) == 19
    for cls in exported:
        assert loss_class(cls.__name__) is cls
        short = [key for (family, key), value in _REGISTRY.items() if value is cls and key != cls.__name__]
        assert len(short) == 1
        assert loss_class(short[0]) is cls
    with pytest.raises(ConfigurationError, match="Known"):
        loss_class("no_such_loss")


def test_matryoshka_restores_the_model_forward(pair: tuple[Any, Any]) -> None:
    model = pair[0]
    loss = our_losses.MatryoshkaLoss(model, our_losses.CoSENTLoss(model), [32, 8])
    loss([model.tokenize(ANCHORS), model.tokenize(POSITIVES)], _scores())
    assert "forward" not in vars(model)
    assert model(model.tokenize(["x"]))["sentence_embedding"].shape == (1, 32)


@pytest.mark.parametrize(
    ("build_loss", "columns", "labels", "error", "match"),
    [
        (lambda m: our_losses.MultipleNegativesRankingLoss(m, scale=0), 2, None, ConfigurationError, "scale"),
        (lambda m: our_losses.MultipleNegativesRankingLoss(m, directions=("doc_to_query",)), 2, None,
         ConfigurationError, "query_to_doc"),
        (lambda m: our_losses.MultipleNegativesRankingLoss(m, directions=("query_to_doc", "doc_to_doc"),
         partition_mode="per_direction"), 2, None, ConfigurationError, "joint"),
        (lambda m: our_losses.MultipleNegativesRankingLoss(m), 1, None, InputError, "at least 2"),
        (lambda m: our_losses.CoSENTLoss(m), 2, torch.ones(3), InputError, "expects 6 labels"),
        (lambda m: our_losses.CoSENTLoss(m), 2, None, InputError, "labels=None"),
        (lambda m: our_losses.TripletLoss(m), 2, None, InputError, "3 input columns"),
        (lambda m: our_losses.MarginMSELoss(m), 3, torch.ones(6, 4), InputError, "negatives"),
        (lambda m: our_losses.MSELoss(m), 2, torch.ones(6, 3, 32), InputError, "teacher columns"),
        (lambda m: our_losses.MatryoshkaLoss(m, our_losses.CoSENTLoss(m), [64]), 2, None, ConfigurationError,
         "exceed"),
        (lambda m: our_losses.SoftmaxLoss(m, 32, 3, concatenation_sent_rep=False,
         concatenation_sent_difference=False), 2, None, ConfigurationError, "at least one"),
        (lambda m: our_losses.GISTEmbedLoss(m, m, margin_strategy="max"), 2, None, ConfigurationError, "absolute"),
    ],
)  # fmt: skip
def test_bad_settings_and_inputs_raise(
    build_loss: Callable[[Any], nn.Module], columns: int, labels: Any, error: type, match: str, pair: tuple[Any, Any]
) -> None:
    model = pair[0]
    features = [model.tokenize(texts) for texts in COLUMNS[:columns]]
    with pytest.raises(error, match=match):
        build_loss(model)(features, labels)


def test_contrastive_warns_on_non_binary_labels(pair: tuple[Any, Any]) -> None:
    model = pair[0]
    loss = our_losses.ContrastiveLoss(model)
    features = [model.tokenize(ANCHORS), model.tokenize(POSITIVES)]
    with pytest.warns(UserWarning, match="labels 0 or 1"):
        loss(features, _scores())


def test_softmax_without_labels_returns_embeddings_and_logits(pair: tuple[Any, Any]) -> None:
    model = pair[0]
    loss = our_losses.SoftmaxLoss(model, sentence_embedding_dimension=32, num_labels=3)
    embeddings, logits = loss([model.tokenize(ANCHORS), model.tokenize(POSITIVES)], None)
    assert [tuple(e.shape) for e in embeddings] == [(BATCH, 32), (BATCH, 32)]
    assert logits.shape == (BATCH, 3)


@pytest.mark.parametrize("metric", ["COSINE_DISTANCE", "EUCLIDEAN", "MANHATTAN"])
def test_online_contrastive_with_mixed_labels_matches_reference(metric: str, pair: tuple[Any, Any]) -> None:
    """The hard-pair selection with positives and negatives mixed, on fixed embeddings (the model
    cases above avoid mixed labels, where a random model can leave no hard pair)."""
    their_losses, _ = _reference_namespaces()
    generator = torch.Generator().manual_seed(5)
    first = torch.randn(8, 16, generator=generator)
    second = first + 0.8 * torch.randn(8, 16, generator=generator)
    labels = torch.tensor([1, 0, 1, 0, 0, 1, 0, 1])
    results = []
    for library, model in ((our_losses, pair[0]), (their_losses, pair[1])):
        loss = library.OnlineContrastiveLoss(model, getattr(library.SiameseDistanceMetric, metric), margin=2.0)
        embeddings = [first.clone().requires_grad_(), second.clone().requires_grad_()]
        value = loss.compute_loss_from_embeddings(embeddings, labels)
        value.backward()
        results.append((value.detach(), [tensor.grad for tensor in embeddings]))
    (ours, our_grads), (theirs, their_grads) = results
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert max(grad.abs().max().item() for grad in their_grads) > 0  # hard pairs of both kinds were kept
    for mine, reference in zip(our_grads, their_grads, strict=True):
        assert torch.allclose(mine, reference, rtol=1e-4, atol=1e-6)
