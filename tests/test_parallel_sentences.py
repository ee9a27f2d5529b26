"""ParallelSentencesDataset against the reference's, and the multilingual distillation example."""

from __future__ import annotations

import gzip
import importlib.util
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sentkit import SentenceTransformer
from sentkit.errors import InputError
from tests.reference import reference_model
from tests.tiny_models import build, corpus_lines

pytest.importorskip("datasets")
pytest.importorskip("accelerate")

from sentkit.train import InputExample
from sentkit.train.parallel_sentences import ParallelSentencesDataset

LINES = corpus_lines()
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "multilingual_distillation.py"


def translations(line: str) -> list[str]:
    """Two stand-in "translations" of ``line``: its words reversed, and upper-cased."""
    return [" ".join(reversed(line.split())), line.upper()]


def parallel_lines() -> list[list[str]]:
    """60 source lines with two translations; a repeated source with a new translation; one over-long line."""
    rows = [[line, *translations(line)] for line in LINES[:60]]
    rows.insert(10, [LINES[3], "a different translation of line three"])  # merges into line 3's set
    rows.insert(20, [LINES[70], "x" * 300])  # longer than max_sentence_length: skipped
    return rows


@pytest.fixture(scope="module")
def teacher_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT SentenceTransformer saved by the reference; both libraries load it."""
    root = tmp_path_factory.mktemp("parallel")
    return reference_model(build("bert", root / "hf"), root / "teacher")


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The parallel lines as a plain .tsv and, the last 25 with a third column, as a .tsv.gz."""
    root = tmp_path_factory.mktemp("parallel-data")
    plain = root / "parallel.tsv"
    plain.write_text("".join("\t".join(row) + "\n" for row in parallel_lines()), encoding="utf-8")
    packed = root / "more.tsv.gz"
    with gzip.open(packed, "wt", encoding="utf8") as handle:
        for line in LINES[100:125]:
            handle.write(f"{line}\t{line.lower()}\t{line.title()}\n")
    return plain, packed


def fill(dataset: Any, files: tuple[Path, Path]) -> Any:
    """Load the same data into ``dataset`` (ours or the reference's) in the same way."""
    plain, packed = files
    dataset.load_data(str(plain), weight=7, max_sentence_length=128)
    dataset.load_data(str(packed), weight=3, max_sentences=20)
    dataset.add_dataset([[line, *translations(line)] for line in LINES[200:230]], weight=5, max_sentences=12)
    return dataset


@pytest.mark.parametrize("use_embedding_cache", [True, False])
def test_items_match_the_reference(
    teacher_folder: Path, data_files: tuple[Path, Path], use_embedding_cache: bool
) -> None:
    from sentence_transformers import SentenceTransformer as ReferenceModel
    from sentence_transformers.sentence_transformer.datasets import ParallelSentencesDataset as Reference

    teacher = SentenceTransformer(str(teacher_folder), device="cpu")
    reference_teacher = ReferenceModel(str(teacher_folder), device="cpu")
    random.seed(7)
    ours = fill(ParallelSentencesDataset(teacher, teacher, 4, use_embedding_cache), data_files)
    ours_items = [ours[i] for i in range(3 * len(ours))]  # several rounds, past the end of each dataset
    random.seed(7)
    theirs = fill(Reference(reference_teacher, reference_teacher, 4, use_embedding_cache), data_files)
    their_items = [theirs[i] for i in range(3 * len(theirs))]

    assert len(ours) == len(theirs) == ours.num_sentences
    assert ours.dataset_indices == theirs.dataset_indices
    assert [len(data) for data in ours.datasets] == [len(data) for data in theirs.datasets] == [60, 20, 12]
    assert [example.texts for example in ours_items] == [example.texts for example in their_items]
    for example, expected in zip(ours_items, their_items, strict=True):
        assert isinstance(example, InputExample)
        assert isinstance(example.label, np.ndarray)
        assert example.label.dtype == expected.label.dtype == np.float32
        np.testing.assert_allclose(example.label, expected.label, atol=1e-5)
    if use_embedding_cache:
        assert sorted(ours.embedding_cache) == sorted(theirs.embedding_cache)


def test_labels_are_the_teacher_embedding_of_the_source(teacher_folder: Path, data_files: tuple[Path, Path]) -> None:
    teacher = SentenceTransformer(str(teacher_folder), device="cpu")
    dataset = ParallelSentencesDataset(student_model=None, teacher_model=teacher)
    dataset.load_data(str(data_files[0]))
    source_of = {}
    for source, group in dataset.datasets[0]:
        source_of.update({sentence: source for sentence in group})
    assert LINES[70] not in source_of  # its line holds a sentence over max_sentence_length
    assert source_of["a different translation of line three"] == LINES[3]
    items = list(dataset)  # what fit() reads: len(dataset) examples
    assert len(items) == len(dataset) == 60 * 3 + 1
    sources = [source_of[example.texts[0]] for example in items]
    expected = teacher.encode(sources, convert_to_numpy=True)
    np.testing.assert_allclose(np.stack([example.label for example in items]), expected, atol=1e-5)


def test_bad_input_raises_input_error(teacher_folder: Path) -> None:
    dataset = ParallelSentencesDataset(None, SentenceTransformer(str(teacher_folder), device="cpu"))
    with pytest.raises(InputError, match="nothing to sample"):
        dataset[0]
    with pytest.raises(InputError, match="item 1"):
        dataset.add_dataset([["a", "b"], "c\td"])
    with pytest.raises(InputError, match="item 0"):
        dataset.add_dataset([[]])
    with pytest.raises(InputError, match="weight"):
        dataset.add_dataset([["a", "b"]], weight=1.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="weight"):
        dataset.add_dataset([["a", "b"]], weight=-1)
    dataset.add_dataset([["a", "b"]], weight=0)  # kept, never sampled: still nothing to sample
    with pytest.raises(InputError, match="nothing to sample"):
        dataset[0]


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("multilingual_distillation", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("one_thread")
def test_distillation_example_brings_the_student_to_the_teacher(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _example().main(["--output", str(tmp_path / "student")])
    # The student's embeddings of the translations move onto the teacher's embeddings of the sources,
    # closer than a student that had only learnt the teacher's mean vector.
    assert results["train_mse_after"] < results["train_mse_before"] / 10
    assert results["train_mse_after"] < results["train_mse_of_mean"]
    assert results["dev_mse_after"] < results["dev_mse_before"] / 10  # held-out lines too
    assert "train: MSE x 100" in capsys.readouterr().out
    student = SentenceTransformer(str(tmp_path / "student"), device="cpu")
    assert student.encode(["Hallo Welt"]).shape == (1, 64)
