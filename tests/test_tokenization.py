"""Long texts are cut before tokenizing, and the kept tokens are exactly those of the full text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sentkit.models import Transformer
from tests.tiny_models import corpus_lines


@pytest.fixture(scope="module", params=["bert", "roberta"])
def transformer(request: pytest.FixtureRequest, hf_checkpoints: dict[str, Path]) -> Transformer:
    return Transformer(hf_checkpoints[request.param], max_seq_length=64)


def _long_text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    vocabulary = [*" ".join(corpus_lines()).split(), "naïve", "日本語", "émigré", "x" * 150, "\t", "  "]
    return " ".join(rng.choice(vocabulary) for _ in range(words))


@pytest.mark.parametrize("seed", range(5))
def test_cut_keeps_the_same_tokens(transformer: Transformer, seed: int) -> None:
    text = _long_text(seed, 20_000)
    tokenizer = transformer.tokenizer.hf_tokenizer
    expected = tokenizer([text], truncation=True, max_length=64, padding=True, return_tensors="pt")
    actual = transformer.tokenize([text])
    assert actual["input_ids"].tolist() == expected["input_ids"].tolist()
    assert actual["attention_mask"].tolist() == expected["attention_mask"].tolist()


def test_long_text_is_not_tokenized_whole(transformer: Transformer, monkeypatch) -> None:
    text = _long_text(7, 25_000)  # over 100,000 characters
    assert len(text) > 100_000
    seen: list[int] = []
    original = type(transformer.tokenizer.hf_tokenizer).__call__

    def spy(self, text_input, *args, **kwargs):
        items = [text_input] if isinstance(text_input, str) else text_input
        seen.extend(len(item) for item in items)
        return original(self, text_input, *args, **kwargs)

    monkeypatch.setattr(type(transformer.tokenizer.hf_tokenizer), "__call__", spy)
    transformer.tokenize([text, "short text"])
    assert seen
    assert max(seen) < 5_000


def test_text_without_spaces_is_kept_whole(transformer: Transformer) -> None:
    text = "a" * 5_000
    tokenizer = transformer.tokenizer.hf_tokenizer
    expected = tokenizer([text], truncation=True, max_length=64, return_tensors="pt")["input_ids"].tolist()
    assert transformer.tokenize([text])["input_ids"].tolist() == expected


def test_pairs_are_tokenized_together(transformer: Transformer) -> None:
    features = transformer.tokenize([("a question", "an answer"), ("another question", "and its answer")])
    tokenizer = transformer.tokenizer.hf_tokenizer
    expected = tokenizer(["a question", "another question"], ["an answer", "and its answer"], padding=True)
    assert features["input_ids"].tolist() == expected["input_ids"]
