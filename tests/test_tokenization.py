"""Long texts are cut before tokenizing, and the kept tokens are exactly those of the full text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import sentkit.inference.onnx.tokens
from sentkit._text import text_head
from sentkit.models import Transformer
from sentkit.modules.native_bert import NativeBertModel
from tests.tiny_models import corpus_lines


@pytest.fixture(scope="module", params=["bert", "bert-native", "roberta"])
def transformer(request: pytest.FixtureRequest, hf_checkpoints: dict[str, Path]) -> Transformer:
    """The Hugging Face tokenizer path, and (bert-native) the tokenizer snapshot of the native path."""
    family = request.param.removesuffix("-native")
    transformer = Transformer(hf_checkpoints[family], max_seq_length=64)
    if request.param.endswith("-native"):
        transformer = Transformer(hf_checkpoints[family], max_seq_length=64)  # the snapshot is cached now
        assert isinstance(transformer.model, NativeBertModel)
    return transformer


def _recording(function, seen: list[int]):
    """``function`` that also records the lengths of the texts it returns (what gets tokenized)."""

    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        seen.append(len(result))
        return result

    return wrapper


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
    if isinstance(transformer.model, NativeBertModel):
        monkeypatch.setattr(sentkit.inference.onnx.tokens, "text_head", _recording(text_head, seen))
        transformer.tokenize([text, "short text"])
        assert seen
        assert max(seen) < 5_000
        return
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
