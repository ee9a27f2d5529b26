"""The CrossEncoder losses against sentence-transformers' on the same tiny model and batch.

Both models run in train mode with every dropout probability set to 0 (deterministic), so loss
values and the gradients of every parameter must agree to 1e-5.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sentence_transformers as st
import torch
from sentence_transformers.cross_encoder import losses as st_losses
from torch import nn

from sentkit import CrossEncoder
from sentkit.errors import ConfigurationError, InputError
from sentkit.train import cross_encoder_losses as losses
from sentkit.train.registry import loss_class
from tests.tiny_models import build_sequence_classifier

TOLERANCE = 1e-5
QUERIES = ["what are pandas?", "where is venice?", "who scored twice?", "how do vaccines work?"]
POSITIVES = [
    "Pandas are bears that eat bamboo.",
    "Venice is built on small islands.",
    "The striker scored twice in the final.",
    "Vaccines train the immune system.",
]
NEGATIVES = ["Tomatoes need sunlight.", "Roman roads crossed Europe.", "a", ""]
SECOND_NEGATIVES = ["Bridges connect islands.", "The match ended late.", "Bamboo grows fast.", "Germs spread."]
DOCUMENT_LISTS = [
    [POSITIVES[0], NEGATIVES[0], NEGATIVES[1]],
    [POSITIVES[1], SECOND_NEGATIVES[0]],
    [POSITIVES[2], NEGATIVES[2], SECOND_NEGATIVES[1], NEGATIVES[3]],
    [POSITIVES[3]],
]
GRADED = [
    torch.tensor([2.0, 0.0, 1.0]),
    torch.tensor([1.0, 1.0]),
    torch.tensor([3.0, 0.0, 2.0, 2.0]),
    torch.tensor([1.0]),
]

Pair = tuple[st.CrossEncoder, CrossEncoder]


def _load(folder: Path) -> Pair:
    reference, ours = st.CrossEncoder(str(folder), device="cpu"), CrossEncoder(folder, device="cpu")
    return _without_dropout(reference), _without_dropout(ours)


def _without_dropout(model):
    model.train()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and lose a lot when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ce_losses")
    return {
        "one": build_sequence_classifier(root / "one", num_labels=1),
        "three": build_sequence_classifier(root / "three", num_labels=3, seed=1),
    }


@pytest.fixture(scope="module")
def one_label(folders: dict[str, Path]) -> Pair:
    return _load(folders["one"])


@pytest.fixture(scope="module")
def three_labels(folders: dict[str, Path]) -> Pair:
    return _load(folders["three"])


def _run(model: nn.Module, compute: Callable[[], torch.Tensor], seed: int) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same random in-batch negatives on both sides
    value = compute()
    value.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return float(value.detach()), grads


def _check_same(models: Pair, make_reference: Callable, make_ours: Callable, call: Callable, seed: int = 0) -> None:
    """Build the loss on each side, call it the same way, compare value and every parameter's gradient."""
    reference, ours = models
    expected, expected_grads = _run(reference, lambda: call(make_reference(reference)), seed)
    actual, actual_grads = _run(ours, lambda: call(make_ours(ours)), seed)
    assert actual == pytest.approx(expected, abs=TOLERANCE)
    assert set(actual_grads) == set(expected_grads)
    assert any(float(grad.abs().max()) > 1e-4 for grad in expected_grads.values())  # a real training signal
    for name, grad in expected_grads.items():
        assert float((actual_grads[name] - grad).abs().max()) <= TOLERANCE, name


# ------------------------------------------------------------------------------------ pointwise
@pytest.mark.parametrize(
    "options",
    [{}, {"pos_weight": torch.tensor(3.0)}, {"activation_fn": nn.Tanh(), "reduction": "sum"}],
    ids=["default", "pos_weight", "tanh_sum"],
)
def test_binary_cross_entropy_matches(one_label: Pair, options: dict) -> None:
    labels = torch.tensor([1, 0, 1, 0])
    _check_same(
        one_label,
        lambda model: st_losses.BinaryCrossEntropyLoss(model, **options),
        lambda model: losses.BinaryCrossEntropyLoss(model, **options),
        lambda loss: loss([QUERIES, [POSITIVES[0], NEGATIVES[1], POSITIVES[2], NEGATIVES[3]]], labels),
    )


def test_prompt_goes_before_the_first_text(one_label: Pair) -> None:
    labels = torch.tensor([0.9, 0.1, 0.4, 0.7])
    _check_same(
        one_label,
        st_losses.BinaryCrossEntropyLoss,
        losses.BinaryCrossEntropyLoss,
        lambda loss: loss([QUERIES, POSITIVES], labels, prompt="query: "),
    )


@pytest.mark.parametrize(
    ("labels", "options"),
    [
        (torch.tensor([0, 2, 1, 2]), {}),
        (torch.tensor([[0], [2], [1], [1]]), {"label_smoothing": 0.1}),
        (torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.1, 0.8, 0.1]]), {}),
    ],
    ids=["indices", "column_smoothed", "probabilities"],
)
def test_cross_entropy_matches(three_labels: Pair, labels: torch.Tensor, options: dict) -> None:
    _check_same(
        three_labels,
        lambda model: st_losses.CrossEntropyLoss(model, **options),
        lambda model: losses.CrossEntropyLoss(model, **options),
        lambda loss: loss([QUERIES, POSITIVES], labels),
    )


@pytest.mark.parametrize("activation", [None, nn.Sigmoid()], ids=["identity", "sigmoid"])
def test_mse_matches(one_label: Pair, activation: nn.Module | None) -> None:
    options = {} if activation is None else {"activation_fn": activation}
    labels = torch.tensor([0.8, -0.3, 0.5, 0.1], dtype=torch.float64)
    _check_same(
        one_label,
        lambda model: st_losses.MSELoss(model, **options),
        lambda model: losses.MSELoss(model, **options),
        lambda loss: loss([QUERIES, POSITIVES], labels),
    )


@pytest.mark.parametrize(
    ("columns", "labels"),
    [
        ([QUERIES, POSITIVES, NEGATIVES], torch.tensor([0.5, 1.0, -0.2, 0.3])),
        ([QUERIES, POSITIVES, NEGATIVES, SECOND_NEGATIVES], torch.tensor([[2.0, 0.5, 1.0]] * 4)),
        ([QUERIES, POSITIVES, NEGATIVES, SECOND_NEGATIVES], [torch.tensor([0.3, 0.1])] * 4),
    ],
    ids=["margins", "scores", "list_of_margins"],
)
def test_margin_mse_matches(one_label: Pair, columns: list, labels) -> None:
    _check_same(
        one_label,
        st_losses.MarginMSELoss,
        losses.MarginMSELoss,
        lambda loss: loss(columns, labels),
    )


# -------------------------------------------------------------------------------- in-batch negatives
@pytest.mark.parametrize(
    ("columns", "options"),
    [
        ([QUERIES, POSITIVES], {}),
        ([QUERIES, POSITIVES, NEGATIVES], {"num_negatives": 2}),
        ([QUERIES, POSITIVES, NEGATIVES, SECOND_NEGATIVES], {"num_negatives": None, "scale": 5.0}),
        ([QUERIES, POSITIVES, NEGATIVES], {"activation_fn": None, "scale": 1.0}),
    ],
    ids=["pairs_all", "triplets_sampled", "two_hard_all", "no_activation"],
)
def test_multiple_negatives_ranking_matches(one_label: Pair, columns: list, options: dict) -> None:
    _check_same(
        one_label,
        lambda model: st_losses.MultipleNegativesRankingLoss(model, **options),
        lambda model: losses.MultipleNegativesRankingLoss(model, **options),
        lambda loss: loss(columns, None),
        seed=7,
    )


def test_sampled_negatives_come_from_other_rows(one_label: Pair) -> None:
    loss = losses.MultipleNegativesRankingLoss(one_label[1], num_negatives=3)
    candidates = [POSITIVES, NEGATIVES]
    for seed in range(5):
        torch.manual_seed(seed)
        columns = loss.sample_in_batch_negatives(len(QUERIES), candidates)
        assert len(columns) == 3
        for row in range(len(QUERIES)):
            drawn = [column[row] for column in columns]
            assert len(set(drawn)) == 3  # without replacement
            assert POSITIVES[row] not in drawn
            assert NEGATIVES[row] not in drawn


# -------------------------------------------------------------------------------------- listwise
@pytest.mark.parametrize("mini_batch_size", [None, 3, 0])
def test_list_net_matches(one_label: Pair, mini_batch_size: int | None) -> None:
    _check_same(
        one_label,
        lambda model: st_losses.ListNetLoss(model, mini_batch_size=mini_batch_size),
        lambda model: losses.ListNetLoss(model, mini_batch_size=mini_batch_size),
        lambda loss: loss([QUERIES, DOCUMENT_LISTS], GRADED),
    )


SCHEMES = ["NDCGLoss2PPScheme", "NDCGLoss2Scheme", "LambdaRankScheme", "NDCGLoss1Scheme", "NoWeightingScheme"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lambda_loss_schemes_match(one_label: Pair, scheme: str) -> None:
    _check_same(
        one_label,
        lambda model: st_losses.LambdaLoss(model, weighting_scheme=getattr(st_losses, scheme)()),
        lambda model: losses.LambdaLoss(model, weighting_scheme=getattr(losses, scheme)()),
        lambda loss: loss([QUERIES, DOCUMENT_LISTS], GRADED),
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"k": 2, "sigma": 2.0, "reduction_log": "natural"},
        {"weighting_scheme": None, "activation_fn": nn.Sigmoid(), "mini_batch_size": 2},
    ],
    ids=["defaults", "top2_natural", "unweighted_sigmoid"],
)
def test_lambda_loss_options_match(one_label: Pair, options: dict) -> None:
    _check_same(
        one_label,
        lambda model: st_losses.LambdaLoss(model, **options),
        lambda model: losses.LambdaLoss(model, **options),
        lambda loss: loss([QUERIES, DOCUMENT_LISTS], GRADED),
    )


def test_rank_net_matches(one_label: Pair) -> None:
    binary = [(labels > 1).float() for labels in GRADED]
    _check_same(
        one_label,
        lambda model: st_losses.RankNetLoss(model, k=3),
        lambda model: losses.RankNetLoss(model, k=3),
        lambda loss: loss([QUERIES, DOCUMENT_LISTS], binary),
    )
    assert "weighting_scheme" not in losses.RankNetLoss(one_label[1]).get_config_dict()


# ------------------------------------------------------------------------------- errors, registry
def test_models_the_losses_refuse(one_label: Pair, three_labels: Pair) -> None:
    with pytest.raises(ConfigurationError, match=r"sentkit\.CrossEncoder"):
        losses.BinaryCrossEntropyLoss(one_label[0])  # the reference's model
    for loss in (losses.BinaryCrossEntropyLoss, losses.MultipleNegativesRankingLoss, losses.LambdaLoss):
        with pytest.raises(ConfigurationError, match="1 output label"):
            loss(three_labels[1])
    losses.CrossEntropyLoss(three_labels[1])  # several labels are its purpose
    with pytest.raises(ConfigurationError, match="reduction_log"):
        losses.LambdaLoss(one_label[1], reduction_log="ten")  # type: ignore[arg-type]


def test_bad_batches_are_named(one_label: Pair) -> None:
    ours = one_label[1]
    bce = losses.BinaryCrossEntropyLoss(ours)
    with pytest.raises(InputError, match="two text columns"):
        bce([QUERIES, POSITIVES, NEGATIVES], torch.ones(4))
    with pytest.raises(InputError, match="one label per pair"):
        bce([QUERIES, POSITIVES], torch.ones(3))
    with pytest.raises(InputError, match="4 and 3 texts"):
        bce([QUERIES, POSITIVES[:3]], torch.ones(4))
    with pytest.raises(InputError, match="one text per anchor"):
        losses.MultipleNegativesRankingLoss(ours)([QUERIES, POSITIVES, NEGATIVES[:2]])
    with pytest.raises(InputError, match=r"\(4, 1\) margins"):
        losses.MarginMSELoss(ours)([QUERIES, POSITIVES, NEGATIVES], torch.ones(4, 3))
    listwise = losses.ListNetLoss(ours)
    with pytest.raises(InputError, match="one tensor of relevance labels per query"):
        listwise([QUERIES, DOCUMENT_LISTS], torch.ones(4, 3))
    with pytest.raises(InputError, match="one label per document"):
        listwise([QUERIES, DOCUMENT_LISTS], [torch.ones(1)] * 4)
    with pytest.raises(InputError, match="without documents"):
        losses.LambdaLoss(ours)([QUERIES[:1], [[]]], [torch.ones(0)])


def test_registered_under_short_and_reference_names() -> None:
    for short, cls in [
        ("binary_cross_entropy", losses.BinaryCrossEntropyLoss),
        ("cross_entropy", losses.CrossEntropyLoss),
        ("multiple_negatives_ranking", losses.MultipleNegativesRankingLoss),
        ("list_net", losses.ListNetLoss),
        ("lambda", losses.LambdaLoss),
        ("rank_net", losses.RankNetLoss),
        ("mse", losses.MSELoss),
        ("margin_mse", losses.MarginMSELoss),
    ]:
        assert loss_class(short, family="cross") is cls
        assert loss_class(cls.__name__, family="cross") is cls


def test_config_dicts_name_the_settings(one_label: Pair) -> None:
    ours = one_label[1]
    assert losses.MultipleNegativesRankingLoss(ours).get_config_dict() == {
        "scale": 10.0,
        "num_negatives": 4,
        "activation_fn": "torch.nn.modules.activation.Sigmoid",
    }
    assert losses.BinaryCrossEntropyLoss(ours, pos_weight=torch.tensor(2.0)).get_config_dict() == {
        "activation_fn": "torch.nn.modules.linear.Identity",
        "pos_weight": 2.0,
    }
    config = losses.LambdaLoss(ours, k=5).get_config_dict()
    assert config["weighting_scheme"].endswith("NDCGLoss2PPScheme")
    assert config["k"] == 5
