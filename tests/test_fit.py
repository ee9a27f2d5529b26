"""The classic ``model.fit(...)`` API (InputExample + DataLoader) on tiny random models."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from sentkit import CrossEncoder, SentenceTransformer
from sentkit.errors import InputError
from tests.tiny_models import build_sequence_classifier, corpus_lines

pytest.importorskip("datasets")
pytest.importorskip("accelerate")

from sentkit.train import InputExample
from sentkit.train.losses import CosineSimilarityLoss, MultipleNegativesRankingLoss

LINES = corpus_lines()


pytestmark = pytest.mark.usefixtures("one_thread")


def scored_examples(count: int, cls: type = InputExample) -> list[Any]:
    return [cls(texts=[LINES[i], LINES[count + i]], label=((i * 7) % 11) / 10) for i in range(count)]


def mean_loss(model: SentenceTransformer, examples: list[InputExample]) -> float:
    """CosineSimilarityLoss (MSE of cosine vs label) over ``examples``, without dropout."""
    first = model.encode([e.texts[0] for e in examples], convert_to_tensor=True)
    second = model.encode([e.texts[1] for e in examples], convert_to_tensor=True)
    labels = torch.tensor([e.label for e in examples])
    return float(((torch.cosine_similarity(first, second) - labels) ** 2).mean())


class ScriptedEvaluator:
    def __init__(self, scores: list[float]) -> None:
        self.scores = list(scores)
        self.primary_metric = "score"
        self.calls: list[int] = []

    def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1) -> dict:
        self.calls.append(steps)
        return {"score": self.scores[len(self.calls) - 1]}


def test_fit_trains_evaluates_each_epoch_and_keeps_the_best_model(
    hf_checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    model = SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")
    examples = scored_examples(32)
    before = mean_loss(model, examples)
    evaluator = ScriptedEvaluator([0.1, 0.7, 0.4])
    reported: list[tuple[float, float, int]] = []
    model.fit(
        train_objectives=[(DataLoader(examples, shuffle=True, batch_size=8), CosineSimilarityLoss(model))],
        evaluator=evaluator,
        epochs=3,
        warmup_steps=2,
        optimizer_params={"lr": 1e-3},
        output_path=str(tmp_path / "best"),
        callback=lambda score, epoch, steps: reported.append((score, epoch, steps)),
        show_progress_bar=False,
    )
    assert mean_loss(model, examples) < before * 0.8
    assert evaluator.calls == [4, 8, 12]  # the end of each epoch
    assert reported == [(0.1, 1.0, 4), (0.7, 2.0, 8), (0.4, 3.0, 12)]
    # output_path holds the model of the best evaluation (epoch 2), not the last.
    best = SentenceTransformer(str(tmp_path / "best"), device="cpu")
    assert not np.allclose(best.encode(LINES[:4]), model.encode(LINES[:4]), atol=1e-4)
    with (tmp_path / "best" / "training_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["eval_score"] for row in rows if row["eval_score"]] == ["0.1", "0.7", "0.4"]
    assert (tmp_path / "best" / "training_curves.png").is_file()


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true:UserWarning")  # the reference's loader
def test_fit_matches_the_reference_fit(
    hf_checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentence_transformers as st
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss as ReferenceLoss
    from sentence_transformers.sentence_transformer.readers.input_example import InputExample as ReferenceExample

    options: dict[str, Any] = {"epochs": 2, "warmup_steps": 2, "optimizer_params": {"lr": 5e-4}}
    ours = SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")
    loader = DataLoader(scored_examples(24), batch_size=8)
    ours.fit([(loader, CosineSimilarityLoss(ours))], show_progress_bar=False, **options)

    reference = st.SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")
    reference_loader = DataLoader(scored_examples(24, ReferenceExample), batch_size=8)
    monkeypatch.chdir(tmp_path)  # the reference may create checkpoints/ in the working directory
    reference.fit([(reference_loader, ReferenceLoss(reference))], show_progress_bar=False, **options)
    reference.eval()
    np.testing.assert_allclose(ours.encode(LINES[:8]), reference.encode(LINES[:8]), atol=1e-6)


def test_fit_resumes_from_the_latest_checkpoint(hf_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """Two objectives in turns (2 x 3 steps); a run resumed from step 2 ends where the full run did."""

    def run(folder: Path, resume: bool) -> SentenceTransformer:
        model = SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")
        objectives = [
            (DataLoader(scored_examples(24), batch_size=8), CosineSimilarityLoss(model)),
            (DataLoader(scored_examples(30)[::-1], batch_size=8), MultipleNegativesRankingLoss(model)),
        ]
        model.fit(
            objectives,
            epochs=1,
            warmup_steps=1,
            optimizer_params={"lr": 1e-3},
            checkpoint_path=str(folder),
            checkpoint_save_steps=2,
            resume_from_checkpoint=resume,
            show_progress_bar=False,
        )
        return model

    full = run(tmp_path / "full", resume=False)
    assert sorted(p.name for p in (tmp_path / "full").glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
        "checkpoint-6",
    ]
    with (tmp_path / "full" / "training_log.csv").open() as handle:
        assert max(int(row["step"]) for row in csv.DictReader(handle)) == 6  # round robin: 3 batches each
    shutil.copytree(tmp_path / "full" / "checkpoint-2", tmp_path / "resumed" / "checkpoint-2")
    resumed = run(tmp_path / "resumed", resume=True)
    np.testing.assert_allclose(resumed.encode(LINES[:6]), full.encode(LINES[:6]), atol=1e-6)


def test_cross_encoder_fit_trains_and_saves_a_model_both_libraries_load(tmp_path: Path) -> None:
    import sentence_transformers as st

    folder = build_sequence_classifier(tmp_path / "hf")
    model = CrossEncoder(str(folder), device="cpu")
    examples = [InputExample(texts=[LINES[i], LINES[40 + i]], label=float(i % 2)) for i in range(32)]
    pairs = [tuple(example.texts) for example in examples]
    labels = torch.tensor([example.label for example in examples])
    loss = nn.BCEWithLogitsLoss()
    before = float(loss(torch.as_tensor(model.predict(pairs, activation_fn=nn.Identity())), labels))
    model.fit(
        DataLoader(examples, shuffle=True, batch_size=8),
        epochs=4,
        warmup_steps=2,
        optimizer_params={"lr": 3e-3},
        output_path=str(tmp_path / "out"),
        show_progress_bar=False,
    )
    after = float(loss(torch.as_tensor(model.predict(pairs, activation_fn=nn.Identity())), labels))
    assert after < before * 0.9
    expected = model.predict(pairs[:5])
    np.testing.assert_allclose(
        CrossEncoder(str(tmp_path / "out"), device="cpu").predict(pairs[:5]), expected, atol=1e-6
    )
    reference = st.CrossEncoder(str(tmp_path / "out"), device="cpu")
    np.testing.assert_allclose(reference.predict(pairs[:5]), expected, atol=1e-5)


def test_fit_rejects_what_is_not_an_input_example(hf_checkpoints: dict[str, Path]) -> None:
    model = SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")
    with pytest.raises(InputError, match="InputExample"):
        model.fit([(DataLoader([("a", "b")], batch_size=1), CosineSimilarityLoss(model))], show_progress_bar=False)
    mixed = [InputExample(texts=["a", "b"]), InputExample(texts=["a", "b", "c"])]
    with pytest.raises(InputError, match="same number of texts"):
        model.fit([(DataLoader(mixed, batch_size=1), CosineSimilarityLoss(model))], show_progress_bar=False)
