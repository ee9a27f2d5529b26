"""EmbeddingCache: results equal plain encode; a known text costs a lookup, not a forward pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sentkit import SentenceTransformer
from sentkit.errors import InputError
from sentkit.inference.cache import EmbeddingCache
from sentkit.inference.precision import quantize_embeddings
from tests.reference import TEXTS

CORPUS = [f"cached sentence {i} about {TEXTS[i % len(TEXTS)][:40]}" for i in range(120)]


@pytest.fixture(scope="module")
def model(hf_checkpoints: dict[str, Path]) -> SentenceTransformer:
    return SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")


class CountingModel:
    """Wraps a model's encode to record the texts that reach a forward pass."""

    def __init__(self, model: SentenceTransformer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.encoded: list[str] = []
        original = model.encode

        def encode(sentences: Any = None, **kwargs: Any) -> Any:
            if isinstance(sentences, list):
                self.encoded.extend(sentences)
            return original(sentences, **kwargs)

        monkeypatch.setattr(model, "encode", encode)


def test_cached_results_equal_plain_encode(model: SentenceTransformer, tmp_path: Path) -> None:
    plain = model.encode(CORPUS)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        first = cache.encode(model, CORPUS)
        second = cache.encode(model, CORPUS)
        assert cache.misses == len(CORPUS)
        assert cache.hits == len(CORPUS)
        assert len(cache) == len(CORPUS)
    np.testing.assert_allclose(first, plain, atol=1e-6, rtol=0)
    assert np.array_equal(first, second)
    assert second.dtype == np.float32


def test_a_known_text_costs_a_lookup(
    model: SentenceTransformer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache.sqlite"
    with EmbeddingCache(path) as cache:
        cache.encode(model, CORPUS[:80])
    counter = CountingModel(model, monkeypatch)
    with EmbeddingCache(path) as reopened:  # persisted across instances (and processes)
        result = reopened.encode(model, CORPUS[:100] + CORPUS[90:100])
        assert counter.encoded == CORPUS[80:100]  # only the new texts, each once despite the repeats
        assert reopened.hits == 80
        assert reopened.misses == 30
    np.testing.assert_allclose(result, model.encode(CORPUS[:100] + CORPUS[90:100]), atol=1e-6, rtol=0)


def test_keys_depend_on_settings_and_model(
    model: SentenceTransformer, hf_checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    texts = CORPUS[:10]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        cache.encode(model, texts)
        for options in ({"normalize_embeddings": True}, {"truncate_dim": 8}, {"prompt": "query: "}):
            np.testing.assert_allclose(cache.encode(model, texts, **options), model.encode(texts, **options), atol=1e-6)
        assert cache.hits == 0
        assert len(cache) == 40
        cache.encode(model, texts, batch_size=3, show_progress_bar=False)  # not part of the key
        assert cache.hits == 10
        other = SentenceTransformer(str(hf_checkpoints["distilbert"]), device="cpu")
        np.testing.assert_allclose(cache.encode(other, texts), other.encode(texts), atol=1e-6)
        assert cache.hits == 10
        changed = SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")
        with torch.no_grad():
            next(changed.parameters()).add_(0.5)  # same name, other weights
        np.testing.assert_allclose(cache.encode(changed, texts), changed.encode(texts), atol=1e-6)
        assert cache.hits == 10


def test_output_forms_match_encode(model: SentenceTransformer, tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        cache.encode(model, CORPUS)
        one = cache.encode(model, CORPUS[4])
        assert one.shape == (32,)
        np.testing.assert_allclose(one, model.encode(CORPUS[4]), atol=1e-6)
        tensor = cache.encode(model, CORPUS, convert_to_tensor=True)
        assert isinstance(tensor, torch.Tensor)
        assert tensor.shape == (len(CORPUS), 32)
        as_list = cache.encode(model, CORPUS[:3], convert_to_numpy=False)
        assert isinstance(as_list, list)
        assert len(as_list) == 3
        assert isinstance(as_list[0], torch.Tensor)
        int8 = cache.encode(model, CORPUS, precision="int8")  # ranges over the whole call, as encode
        expected = quantize_embeddings(model.encode(CORPUS), "int8")
        assert int8.dtype == np.int8
        assert np.abs(int8.astype(int) - expected.astype(int)).max() <= 1
        assert cache.encode(model, []).shape == model.encode([]).shape
        tokens = cache.encode(model, CORPUS[:2], output_value="token_embeddings")  # passed through, not cached
        assert len(tokens) == 2
        assert tokens[0].ndim == 2
        with pytest.raises(InputError, match="unexpected keyword"):
            cache.encode(model, CORPUS[:2], nonsense=1)
        cache.clear()
        assert len(cache) == 0


def test_a_file_that_is_not_a_cache(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.sqlite"
    path.write_bytes(b"this is not a SQLite database, it is some other file entirely" * 10)
    with pytest.raises(InputError, match="embedding cache"):
        EmbeddingCache(path)
