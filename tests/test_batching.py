"""Token-budget batching, halving on out-of-memory errors, and the engine seam of SentenceTransformer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sentkit import SentenceTransformer
from sentkit.errors import InputError
from sentkit.inference.batching import HalvingRunner, is_out_of_memory, length_sorted_batches
from sentkit.inference.engine import EncodeOptions
from tests.reference import TEXTS, reference_model


@pytest.fixture(scope="module")
def model_folder(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reference_model(hf_checkpoints["bert"], tmp_path_factory.mktemp("batching") / "model")


@pytest.mark.parametrize(("batch_size", "budget"), [(4, None), (4, 40), (100, 25), (3, 1)])
def test_batches_cover_every_input_once_within_limits(batch_size: int, budget: int | None) -> None:
    lengths = np.random.default_rng(0).integers(1, 30, size=50)
    batches = length_sorted_batches(lengths, batch_size, budget)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(50))
    assert list(lengths[flat]) == sorted(lengths, reverse=True)  # longest first
    for batch in batches:
        assert len(batch) <= batch_size
        if budget is not None and len(batch) > 1:
            assert len(batch) * lengths[batch].max() <= budget


def test_out_of_memory_is_recognised() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
    )
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_halving_runner_splits_until_batches_fit() -> None:
    seen: list[int] = []

    def run(rows: np.ndarray) -> list[int]:
        seen.append(len(rows))
        if len(rows) > 3:
            raise RuntimeError("CUDA out of memory.")
        return (rows * 10).tolist()

    runner = HalvingRunner()
    results = list(runner(np.arange(10), run))
    assert np.concatenate([rows for rows, _ in results]).tolist() == list(range(10))
    assert all(output == (rows * 10).tolist() for rows, output in results)
    assert runner.row_limit is not None
    assert runner.row_limit <= 3
    seen.clear()
    list(runner(np.arange(6), run))  # later batches start at the size that worked
    assert max(seen) <= 3


def test_halving_runner_reraises_what_halving_cannot_fix() -> None:
    def always_oom(rows: np.ndarray) -> None:
        raise RuntimeError("CUDA out of memory.")

    with pytest.raises(RuntimeError, match="out of memory"):
        list(HalvingRunner()(np.arange(4), always_oom))

    def other(rows: np.ndarray) -> None:
        raise RuntimeError("index out of range")

    with pytest.raises(RuntimeError, match="index out of range"):
        list(HalvingRunner()(np.arange(4), other))


def test_token_budget_gives_the_same_embeddings(model_folder: Path) -> None:
    model = SentenceTransformer(str(model_folder), device="cpu")
    expected = model.encode(TEXTS, batch_size=8)
    shapes: list[tuple[int, int]] = []
    forward = model.forward

    def recording(features):
        shapes.append(tuple(features["input_ids"].shape))
        return forward(features)

    model.forward = recording  # type: ignore[method-assign]
    got = model.encode(TEXTS, batch_size=8, max_batch_tokens=30)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert len(shapes) > 1
    assert all(rows == 1 or rows * width <= 30 for rows, width in shapes)
    with pytest.raises(InputError, match="max_batch_tokens"):
        model.encode(TEXTS, max_batch_tokens=0)


def test_encode_survives_out_of_memory(model_folder: Path) -> None:
    model = SentenceTransformer(str(model_folder), device="cpu")
    expected = model.encode(TEXTS, batch_size=8)
    forward = model.forward

    def small_batches_only(features):
        if features["input_ids"].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return forward(features)

    model.forward = small_batches_only  # type: ignore[method-assign]
    np.testing.assert_allclose(model.encode(TEXTS, batch_size=8), expected, atol=1e-5)
    tokens = model.encode(TEXTS, batch_size=8, output_value="token_embeddings")
    assert [len(item) for item in tokens] == [int(m.sum()) for m in model.tokenize(TEXTS)["attention_mask"]]


def test_engine_seam_takes_a_fake(model_folder: Path) -> None:
    model = SentenceTransformer(str(model_folder), device="cpu")
    calls: list[EncodeOptions] = []

    class FakeEngine:
        def run(self, texts: list[str], options: EncodeOptions) -> np.ndarray:
            calls.append(options)
            return np.arange(len(texts) * 2, dtype=np.float32).reshape(len(texts), 2)

    model.engine = FakeEngine()
    out = model.encode(["a", "b", "c"], prompt="q: ", batch_size=2, max_batch_tokens=64, normalize_embeddings=True)
    np.testing.assert_array_equal(out, np.arange(6, dtype=np.float32).reshape(3, 2))
    assert calls == [EncodeOptions(prompt="q: ", batch_size=2, max_batch_tokens=64, normalize=True)]


def test_batches_are_formed_by_token_count(model_folder: Path) -> None:
    # Character lengths pair these texts wrongly: 22, 22, 19, 13 characters but 11, 16, 12, 11 tokens.
    texts = ["the cat sat on the mat", "electroencephalography", "x y z w v u t s r q", "a, b, c, d, e"]
    model = SentenceTransformer(str(model_folder), device="cpu")
    lengths = model.tokenize(texts)["attention_mask"].sum(dim=1).tolist()
    expected = model.encode(texts, batch_size=1)
    widths: list[tuple[int, ...]] = []
    forward = model.forward

    def recording(features):
        widths.append(tuple(features["attention_mask"].sum(dim=1).tolist()))
        return forward(features)

    model.forward = recording  # type: ignore[method-assign]
    np.testing.assert_allclose(model.encode(texts, batch_size=2), expected, atol=1e-6)
    assert sorted(length for batch in widths for length in batch) == sorted(lengths)
    pairs = sorted(lengths, reverse=True)
    assert widths == [tuple(pairs[:2]), tuple(pairs[2:])]  # longest tokens first, two per batch


def test_output_value_none_keeps_the_reference_batches(model_folder: Path) -> None:
    from sentence_transformers import SentenceTransformer as Reference

    reference = Reference(str(model_folder), device="cpu")
    model = SentenceTransformer(str(model_folder), device="cpu")
    expected = reference.encode(TEXTS, output_value=None, batch_size=2)
    got = model.encode(TEXTS, output_value=None, batch_size=2)
    assert [item["token_embeddings"].shape for item in got] == [item["token_embeddings"].shape for item in expected]


def test_pipelines_without_a_token_mask_keep_batch_size() -> None:
    from sentkit import models
    from tests.module_builders import pipeline

    model = SentenceTransformer(modules=pipeline(models, "bow"), device="cpu")
    texts = [f"word {i} and some more words" for i in range(30)]
    expected = model.encode(texts, batch_size=64)
    rows: list[int] = []
    forward = model.forward

    def recording(features):
        rows.append(int(next(v for v in features.values() if isinstance(v, torch.Tensor)).shape[0]))
        return forward(features)

    model.forward = recording  # type: ignore[method-assign]
    np.testing.assert_allclose(model.encode(texts, batch_size=4), expected, atol=1e-6)
    assert max(rows) <= 4
    assert sum(rows) == len(texts)


def test_flat_features_keep_batch_size() -> None:
    from sentkit import models
    from tests.tiny_models import wordpiece_tokenizer

    model = SentenceTransformer(modules=[models.StaticEmbedding(wordpiece_tokenizer(), embedding_dim=8)], device="cpu")
    texts = [f"the {i} cat sat on the mat " * (i % 5 + 1) for i in range(30)]
    expected = model.encode(texts, batch_size=64)
    rows: list[int] = []
    forward = model.forward

    def recording(features):
        rows.append(len(features["offsets"]))
        return forward(features)

    model.forward = recording  # type: ignore[method-assign]
    np.testing.assert_allclose(model.encode(texts, batch_size=4), expected, atol=1e-6)
    assert max(rows) <= 4
    assert sum(rows) == len(texts)
