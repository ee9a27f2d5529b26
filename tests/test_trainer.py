"""The trainers (sentkit.train) on tiny random models: learning, checkpoints, resume, best model,
gradient accumulation, training log, multi-dataset losses, cross-encoder and sparse trainers, and
equality with the sentence-transformers trainer."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from torch import nn

from sentkit import CrossEncoder, SentenceTransformer, SparseEncoder
from sentkit.errors import ConfigurationError, InputError, MissingDependencyError
from tests.tiny_models import build_masked_lm, build_sequence_classifier, corpus_lines

datasets = pytest.importorskip("datasets")
pytest.importorskip("accelerate")

from sentkit.train import (  # noqa: E402 - after the skips
    BatchSamplers,
    CrossEncoderTrainer,
    CrossEncoderTrainingArguments,
    SentenceTransformerDataCollator,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
    SparseEncoderTrainer,
    SparseEncoderTrainingArguments,
    SpladeRegularizerWeightSchedulerCallback,
)
from sentkit.train.losses import CoSENTLoss, CosineSimilarityLoss, MultipleNegativesRankingLoss  # noqa: E402

LINES = corpus_lines()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train_heads")
    return {"classifier": build_sequence_classifier(root / "cls"), "mlm": build_masked_lm(root / "mlm")}


def pairs(count: int, offset: int = 0, label: str | None = "score") -> Any:
    """``count`` (sentence1, sentence2[, score]) rows from the test corpus; scores in 0..1."""
    columns: dict[str, list[Any]] = {
        "sentence1": [LINES[offset + i] for i in range(count)],
        "sentence2": [LINES[offset + count + i] for i in range(count)],
    }
    if label:
        columns[label] = [((i * 7) % 11) / 10 for i in range(count)]
    return datasets.Dataset.from_dict(columns)


def settings(folder: Path, **options: Any) -> dict[str, Any]:
    """Training arguments for a few quick steps on CPU, as keyword arguments."""
    values: dict[str, Any] = {
        "output_dir": str(folder),
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 8,
        "learning_rate": 1e-3,
        "use_cpu": True,
        "report_to": "none",
        "disable_tqdm": True,
        "save_strategy": "no",
        "logging_steps": 1,
        "seed": 3,
    }
    return {**values, **options}


def arguments(folder: Path, args_class: type = SentenceTransformerTrainingArguments, **options: Any) -> Any:
    return args_class(**settings(folder, **options))


def model_of(folder: Path, dropout: bool = True) -> SentenceTransformer:
    model = SentenceTransformer(str(folder), device="cpu")
    model.train()  # a natively loaded BERT has no dropout modules until the transformers model takes over
    if not dropout:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
    return model


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def max_difference(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> float:
    assert first.keys() == second.keys()
    return max(float((first[name].float() - second[name].float()).abs().max()) for name in first)


class ScaledCosineLoss(nn.Module):
    """MSE between a learnable scale times the cosine and the score: a loss that owns a parameter."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, features: list[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        first, second = (self.model(feature)["sentence_embedding"] for feature in features)  # (B, D) each
        return ((self.scale * torch.cosine_similarity(first, second) - labels) ** 2).mean()


class ScriptedEvaluator:
    """Returns the next of ``scores`` on each call, as an evaluator with ``primary_metric`` does."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = list(scores)
        self.primary_metric = "scripted_score"
        self.greater_is_better = True
        self.calls: list[tuple[Any, int]] = []

    def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1) -> dict:
        self.calls.append((epoch, steps))
        return {self.primary_metric: self.scores[len(self.calls) - 1]}


# ----------------------------------------------------------------------------- bi-encoder
def test_training_lowers_the_loss_and_both_libraries_load_the_result(
    hf_checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    import sentence_transformers as st

    model = model_of(hf_checkpoints["bert"])
    data = pairs(32)
    args = arguments(tmp_path / "run", num_train_epochs=4, learning_rate=3e-3)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, eval_dataset=data)
    assert isinstance(trainer.loss, CoSENTLoss)  # the default loss, as in the reference
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < before * 0.9

    model.save(str(tmp_path / "saved"))
    ours = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    reference = st.SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    texts = LINES[100:106]
    expected = model.encode(texts)
    np.testing.assert_allclose(ours.encode(texts), expected, atol=1e-6)
    np.testing.assert_allclose(reference.encode(texts), expected, atol=1e-5)
    assert not np.allclose(expected, model_of(hf_checkpoints["bert"]).encode(texts), atol=1e-3)  # it trained

    with (tmp_path / "run" / "training_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sum(1 for row in rows if row["loss"]) == 16  # one row per logging step (every step here)
    # The history starts with train(): the evaluation after it is there, the one before is not.
    assert [row["step"] for row in rows if row.get("eval_loss")] == ["16"]
    assert (tmp_path / "run" / "training_curves.png").stat().st_size > 1000


def test_same_weights_as_the_reference_trainer(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """Same seed, data, loss and arguments: data order, collation, dropout draws and updates all match."""
    import sentence_transformers as st
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss as ReferenceCoSENTLoss

    data = pairs(24)
    options = {"num_train_epochs": 2, "learning_rate": 5e-4, "logging_steps": 100}
    ours = model_of(hf_checkpoints["bert"])
    args = arguments(tmp_path / "ours", **options)
    SentenceTransformerTrainer(model=ours, args=args, train_dataset=data, loss=CoSENTLoss(ours)).train()

    reference = st.SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")
    reference_args = st.SentenceTransformerTrainingArguments(**settings(tmp_path / "ref", **options))
    loss = ReferenceCoSENTLoss(reference)
    st.SentenceTransformerTrainer(model=reference, args=reference_args, train_dataset=data, loss=loss).train()

    reference.eval()
    texts = LINES[100:108]
    np.testing.assert_allclose(ours.encode(texts), reference.encode(texts), atol=1e-6)
    assert not np.allclose(ours.encode(texts), model_of(hf_checkpoints["bert"]).encode(texts), atol=1e-3)


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """7 steps over 3 epochs (dropout on, a loss with its own parameter); resume mid-epoch 2 from step 4."""
    data = pairs(24)
    options = {"max_steps": 7, "save_strategy": "steps", "save_steps": 2}

    model = model_of(hf_checkpoints["bert"])
    loss = ScaledCosineLoss(model)
    SentenceTransformerTrainer(
        model=model, args=arguments(tmp_path / "full", **options), train_dataset=data, loss=loss
    ).train()
    checkpoint = tmp_path / "full" / "checkpoint-4"
    assert (checkpoint / "loss_state.safetensors").is_file()
    assert SentenceTransformer(str(checkpoint), device="cpu").encode(LINES[:2]).shape == (2, 32)

    resumed = model_of(hf_checkpoints["bert"])
    resumed_loss = ScaledCosineLoss(resumed)
    trainer = SentenceTransformerTrainer(
        model=resumed, args=arguments(tmp_path / "resumed", **options), train_dataset=data, loss=resumed_loss
    )
    trainer.train(resume_from_checkpoint=str(checkpoint))

    assert trainer.state.global_step == 7
    assert max_difference(weights(resumed), weights(model)) <= 1e-6
    assert abs(resumed_loss.scale.item() - loss.scale.item()) <= 1e-6
    assert loss.scale.item() != 1.0  # the loss parameter trained (and was restored)


def test_best_model_is_selected_by_the_evaluator_metric(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    evaluator = ScriptedEvaluator([0.2, 0.9, 0.5])
    model = model_of(hf_checkpoints["bert"])
    args = arguments(
        tmp_path / "run",
        max_steps=6,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=2,
        load_best_model_at_end=True,
        metric_for_best_model="scripted_score",
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=pairs(24), evaluator=evaluator)
    trainer.train()

    assert [steps for _, steps in evaluator.calls] == [2, 4, 6]
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-4")
    best = SentenceTransformer(str(tmp_path / "run" / "checkpoint-4"), device="cpu")
    assert max_difference(weights(model), weights(best)) == 0.0
    last = SentenceTransformer(str(tmp_path / "run" / "checkpoint-6"), device="cpu")
    assert max_difference(weights(model), weights(last)) > 0
    with (tmp_path / "run" / "training_log.csv").open() as handle:
        logged = [float(row["eval_scripted_score"]) for row in csv.DictReader(handle) if row["eval_scripted_score"]]
    assert logged == [0.2, 0.9, 0.5]


def test_gradient_accumulation_equals_the_larger_batch(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """2 x 4 rows with accumulation = 8 rows at once, for a loss that averages over rows (no dropout)."""
    data = pairs(16)
    results = []
    for name, batch, steps in (("accumulated", 4, 2), ("whole", 8, 1)):
        model = model_of(hf_checkpoints["bert"], dropout=False)
        args = arguments(
            tmp_path / name, per_device_train_batch_size=batch, gradient_accumulation_steps=steps, num_train_epochs=1
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=data, loss=CosineSimilarityLoss(model)
        )
        trainer.train()
        assert trainer.state.global_step == 2
        results.append(weights(model))
    assert max_difference(*results) <= 1e-5
    assert max_difference(results[0], weights(model_of(hf_checkpoints["bert"]))) > 1e-4


def test_a_dict_of_datasets_trains_each_with_its_loss(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    model = model_of(hf_checkpoints["bert"])
    seen: dict[str, list[int]] = {"scored": [], "paired": []}

    class Recording(nn.Module):
        def __init__(self, name: str, loss: nn.Module) -> None:
            super().__init__()
            self.name, self.loss = name, loss

        def forward(self, features: list[dict[str, torch.Tensor]], labels: Any) -> torch.Tensor:
            seen[self.name].append(features[0]["input_ids"].shape[0])
            assert (labels is None) == (self.name == "paired")
            return self.loss(features, labels)

    train = {"scored": pairs(24), "paired": pairs(16, offset=60, label=None)}
    loss = {
        "scored": Recording("scored", CoSENTLoss(model)),
        "paired": Recording("paired", MultipleNegativesRankingLoss(model)),
    }
    args = arguments(tmp_path / "run", num_train_epochs=1, batch_sampler="no_duplicates")
    SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=loss).train()
    assert seen == {"scored": [8, 8, 8], "paired": [8, 8]}  # proportional: every batch of every dataset

    with pytest.raises(ConfigurationError, match="have no loss"):
        SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss={"scored": CoSENTLoss(model)})


# ------------------------------------------------------------------ cross-encoder, sparse
def test_cross_encoder_trainer_lowers_its_loss(heads: dict[str, Path], tmp_path: Path) -> None:
    model = CrossEncoder(str(heads["classifier"]), device="cpu")
    data = pairs(24, label="label").map(lambda row: {"label": float(row["label"] > 0.5)})
    args = arguments(tmp_path / "run", CrossEncoderTrainingArguments, num_train_epochs=4)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, eval_dataset=data)
    assert type(trainer.loss).__name__ == "BinaryCrossEntropyLoss"
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    assert trainer.evaluate()["eval_loss"] < before * 0.9
    scores = model.predict([(LINES[0], LINES[24])])
    assert np.isfinite(scores).all()


def test_cross_encoder_trainer_gives_the_reference_weights(heads: dict[str, Path], tmp_path: Path) -> None:
    import sentence_transformers as st
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss as ReferenceLoss

    from sentkit.train.cross_encoder_losses import BinaryCrossEntropyLoss

    data = pairs(24, label="label").map(lambda row: {"label": float(row["label"] > 0.5)})
    options = {"num_train_epochs": 1, "learning_rate": 5e-4, "logging_steps": 100}
    ours = CrossEncoder(str(heads["classifier"]), device="cpu")
    args = arguments(tmp_path / "ours", CrossEncoderTrainingArguments, **options)
    CrossEncoderTrainer(model=ours, args=args, train_dataset=data, loss=BinaryCrossEntropyLoss(ours)).train()
    reference = st.CrossEncoder(str(heads["classifier"]), device="cpu")
    reference_args = st.CrossEncoderTrainingArguments(**settings(tmp_path / "ref", **options))
    st.CrossEncoderTrainer(
        model=reference, args=reference_args, train_dataset=data, loss=ReferenceLoss(reference)
    ).train()
    reference.eval()
    test_pairs = list(zip(LINES[100:106], LINES[106:112], strict=True))
    np.testing.assert_allclose(ours.predict(test_pairs), reference.predict(test_pairs), atol=1e-6)
    untrained = CrossEncoder(str(heads["classifier"]), device="cpu").predict(test_pairs)
    assert not np.allclose(ours.predict(test_pairs), untrained, atol=1e-3)


def test_sparse_encoder_trainer_lowers_its_loss(heads: dict[str, Path], tmp_path: Path) -> None:
    model = SparseEncoder(str(heads["mlm"]), device="cpu")
    data = pairs(24, label=None)
    args = arguments(tmp_path / "run", SparseEncoderTrainingArguments, num_train_epochs=4, learning_rate=5e-3)
    trainer = SparseEncoderTrainer(model=model, args=args, train_dataset=data, eval_dataset=data)
    assert type(trainer.loss).__name__ == "SpladeLoss"  # the default, with its weight warm-up
    assert any(isinstance(c, SpladeRegularizerWeightSchedulerCallback) for c in trainer.callback_handler.callbacks)
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    assert trainer.evaluate()["eval_loss"] < before * 0.5
    with (tmp_path / "run" / "training_log.csv").open() as handle:
        header = next(csv.reader(handle))
    assert {"base_loss", "document_regularizer_loss", "document_regularizer_weight"} <= set(header)


# --------------------------------------------------------------------- parts and errors
def test_batch_samplers_keep_their_promises() -> None:
    from sentkit.train.samplers import GroupByLabelBatchSampler, NoDuplicatesBatchSampler

    texts = ["a", "b", "a", "c", "d", "b", "e", "f", "a", "g"]
    data = datasets.Dataset.from_dict({"x": texts, "y": [f"{t}!" for t in texts], "label": [0] * 10})
    sampler = NoDuplicatesBatchSampler(
        data, batch_size=3, drop_last=False, valid_label_columns=["label"], generator=torch.Generator(), seed=1
    )
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(10))
    for batch in batches:
        assert len({texts[i] for i in batch}) == len(batch)
    assert batches == list(sampler)  # same seed and epoch, same batches (what resuming relies on)
    sampler.set_epoch(1)
    assert batches != list(sampler)

    labelled = datasets.Dataset.from_dict({"x": [str(i) for i in range(12)], "label": [i % 3 for i in range(12)]})
    grouped = GroupByLabelBatchSampler(
        labelled, batch_size=4, drop_last=True, valid_label_columns=["label"], generator=torch.Generator()
    )
    for epoch in range(5):
        grouped.set_epoch(epoch)
        batches = list(grouped)
        assert len(batches) == len(grouped) == 3
        for batch in batches:
            labels = [labelled[i]["label"] for i in batch]
            assert len(set(labels)) >= 2
            assert all(labels.count(label) >= 2 for label in labels)
    with pytest.raises(ConfigurationError, match="even batch_size"):
        GroupByLabelBatchSampler(labelled, batch_size=5, drop_last=True, valid_label_columns=["label"])


def test_collator_tokenizes_columns_in_order_with_prompts(hf_checkpoints: dict[str, Path]) -> None:
    model = model_of(hf_checkpoints["bert"])
    collator = SentenceTransformerDataCollator(model.tokenize, prompts={"query": "query: "})
    rows = [
        {"query": "a cat", "query_b": "a dog", "score": 0.5},
        {"query": "sun", "query_b": "the moon", "score": 1.0},
    ]
    batch = collator(rows)
    assert torch.equal(batch["label"], torch.tensor([0.5, 1.0]))
    assert torch.equal(batch["query_input_ids"], model.tokenize(["query: a cat", "query: sun"])["input_ids"])
    assert torch.equal(batch["query_b_input_ids"], model.tokenize(["a dog", "the moon"])["input_ids"])
    # Columns come back in order, each key with the longest column name it starts with.
    collect = SentenceTransformerTrainer.collect_features
    features, labels = collect(cast(Any, None), batch)
    assert torch.equal(features[1]["input_ids"], batch["query_b_input_ids"])
    assert torch.equal(features[0]["attention_mask"], batch["query_attention_mask"])
    assert "b_input_ids" not in features[0]
    assert labels is batch["label"]
    with pytest.raises(InputError, match="'count' holds int"):
        collator([{"query": "a", "count": 3}])
    keyed = SentenceTransformerDataCollator(model.tokenize, prompts={"pairs": {"query": "q: "}})
    with pytest.raises(ConfigurationError, match="keyed by dataset names"):
        keyed(rows)


def test_wrong_set_ups_raise_clear_errors(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    model = model_of(hf_checkpoints["bert"])
    with pytest.raises(ConfigurationError, match="SentenceTransformerTrainingArguments"):
        SentenceTransformerTrainer(model=model, args=arguments(tmp_path, CrossEncoderTrainingArguments))
    with pytest.raises(ConfigurationError, match="eval_dataset or an evaluator"):
        SentenceTransformerTrainer(model=model, args=arguments(tmp_path, eval_strategy="steps"), train_dataset=pairs(8))
    with pytest.raises(InputError, match="reserved"):
        SentenceTransformerTrainer(model=model, args=arguments(tmp_path), train_dataset=pairs(8, label="dataset_name"))
    with pytest.raises(ConfigurationError, match="batch_sampler='sometimes'"):
        arguments(tmp_path, batch_sampler="sometimes")
    assert arguments(tmp_path, batch_sampler="no_duplicates").batch_sampler is BatchSamplers.NO_DUPLICATES


def test_losses_run_their_forward_passes_through_a_ddp_like_wrapper(heads: dict[str, Path]) -> None:
    """What the trainer does under DDP / torch.compile: calls go through the wrapper, the API stays the model's."""
    from sentkit.train.cross_encoder_losses import BinaryCrossEntropyLoss
    from sentkit.train.wrapped_model import route_through, unroute

    class Counting(nn.Module):  # stands in for DistributedDataParallel: hides the model's API
        def __init__(self, module: nn.Module) -> None:
            super().__init__()
            self.module, self.calls = module, 0

        def forward(self, features: Any) -> Any:
            self.calls += 1
            return self.module(features)

    model = CrossEncoder(str(heads["classifier"]), device="cpu")
    loss = BinaryCrossEntropyLoss(model)
    expected = loss([LINES[:3], LINES[3:6]], torch.tensor([1.0, 0.0, 1.0]))
    wrapper = Counting(model)
    route_through(loss, model, wrapper)
    route_through(loss, model, wrapper)  # a second call changes nothing
    assert loss.model[0] is model[0]
    assert loss.model.num_labels == 1
    assert not list(loss.parameters())  # neither wrapper nor model is registered twice
    value = loss([LINES[:3], LINES[3:6]], torch.tensor([1.0, 0.0, 1.0]))
    assert wrapper.calls == 1
    assert torch.allclose(value, expected)
    unroute(loss)
    assert loss.model is model


def test_training_log_without_matplotlib_writes_the_csv_and_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from transformers import TrainerControl, TrainerState

    from sentkit.train import callbacks

    def missing(*args: Any) -> None:
        raise MissingDependencyError("matplotlib is not installed")

    monkeypatch.setattr(callbacks, "require", missing)
    state = TrainerState(log_history=[{"loss": 1.0, "step": 1}, {"loss": 0.5, "step": 2, "eval_x": 3.0}])
    with caplog.at_level(logging.WARNING, logger="sentkit.train.callbacks"):
        callbacks.TrainingLogCallback(folder=tmp_path).on_train_end(arguments(tmp_path), state, TrainerControl())
    assert "Skipping training_curves.png" in caplog.text
    assert not (tmp_path / "training_curves.png").exists()
    assert (tmp_path / "training_log.csv").read_text().splitlines() == [
        "step,epoch,loss,eval_x",
        "1,,1.0,",
        "2,,0.5,3.0",
    ]
