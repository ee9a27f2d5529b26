"""encode_long: overlapping token windows for texts longer than max_seq_length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentkit import SentenceTransformer
from sentkit.apps.long_documents import encode_long
from sentkit.errors import InputError, InputTypeError
from tests.reference import max_abs_diff
from tests.tiny_models import corpus_lines

MAX_SEQ_LENGTH = 16
SHORT = "the cat sat on the mat"


@pytest.fixture(scope="module")
def model(hf_checkpoints) -> SentenceTransformer:
    model = SentenceTransformer(hf_checkpoints["bert"], device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    return model


@pytest.fixture(scope="module")
def long_text(model: SentenceTransformer) -> str:
    """About 60 words that are one token each in the tiny vocabulary, so windows decode to their texts."""
    words = [word.strip(".,;:!?'\"()").lower() for line in corpus_lines() for word in line.split()]
    whole = [
        word for word in dict.fromkeys(words) if len(model.tokenizer(word, add_special_tokens=False)["input_ids"]) == 1
    ]
    assert len(whole) >= 20
    return " ".join((whole * 3)[:60])


def cut(ids: list[int], budget: int, stride: int) -> list[list[int]]:
    """Pieces of ``budget`` ids starting ``stride`` apart, until one reaches the end."""
    pieces, start = [], 0
    while True:
        pieces.append(ids[start : start + budget])
        if start + budget >= len(ids):
            return pieces
        start += stride


def expected_windows(model: SentenceTransformer, text: str, window: int, stride: int, prompt: str = "") -> list[str]:
    """The texts of the windows, cut independently of sentkit: content ids, then decoded."""
    tokenizer = model.tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    budget = window - 2 - len(tokenizer(prompt, add_special_tokens=False)["input_ids"])  # [CLS] ... [SEP]
    pieces = cut(ids, budget, stride)
    texts = [tokenizer.decode(piece) for piece in pieces]
    for piece, decoded in zip(pieces, texts, strict=True):  # the comparison needs texts that tokenize back
        assert tokenizer(decoded, add_special_tokens=False)["input_ids"] == piece
    return texts


def test_a_text_that_fits_gives_exactly_encode(model: SentenceTransformer) -> None:
    assert np.array_equal(encode_long(model, SHORT), model.encode(SHORT))
    assert np.array_equal(encode_long(model, [SHORT, "a dog"]), model.encode([SHORT, "a dog"]))
    options = {"normalize_embeddings": True, "truncate_dim": 8, "convert_to_tensor": True}
    assert torch.equal(encode_long(model, [SHORT], **options), model.encode([SHORT], **options))
    windows = encode_long(model, SHORT, aggregate=None)
    assert windows.shape == (1, model.get_sentence_embedding_dimension())
    assert np.array_equal(windows[0], model.encode(SHORT))


@pytest.mark.parametrize(("window", "stride"), [(MAX_SEQ_LENGTH, None), (MAX_SEQ_LENGTH, 14), (10, 3), (8, 6)])
def test_windows_are_cut_on_tokens_with_special_tokens(
    model: SentenceTransformer, long_text: str, window: int, stride
) -> None:
    budget = window - 2
    step = stride if stride is not None else budget - budget // 4
    texts = expected_windows(model, long_text, window, step)
    assert len(texts) > 2
    actual = encode_long(model, long_text, window=window, stride=stride, aggregate=None)
    assert actual.shape == (len(texts), model.get_sentence_embedding_dimension())
    assert max_abs_diff(actual, model.encode(texts)) <= 1e-5


@pytest.mark.parametrize("aggregate", ["mean", "max"])
def test_aggregates_the_windows(model: SentenceTransformer, long_text: str, aggregate: str) -> None:
    windows = encode_long(model, long_text, aggregate=None, convert_to_tensor=True)
    expected = windows.mean(dim=0) if aggregate == "mean" else windows.max(dim=0).values
    vectors = encode_long(model, [SHORT, long_text], aggregate=aggregate)
    assert vectors.shape == (2, model.get_sentence_embedding_dimension())
    assert max_abs_diff(vectors[1], expected.numpy()) <= 1e-6
    assert np.array_equal(vectors[0], model.encode(SHORT))
    assert not np.allclose(vectors[1], model.encode(long_text), atol=1e-3)  # more than the truncated head


def test_prompt_is_repeated_in_every_window(model: SentenceTransformer, long_text: str) -> None:
    prompt = "query: "
    texts = expected_windows(model, long_text, MAX_SEQ_LENGTH, 5, prompt=prompt)
    actual = encode_long(model, long_text, stride=5, aggregate=None, prompt=prompt)
    assert max_abs_diff(actual, model.encode(texts, prompt=prompt)) <= 1e-5
    model.prompts["doc"] = prompt
    try:
        by_name = encode_long(model, long_text, stride=5, aggregate=None, prompt_name="doc")
    finally:
        del model.prompts["doc"]
    assert np.array_equal(by_name, actual)


def test_output_options(model: SentenceTransformer, long_text: str) -> None:
    texts = [long_text, SHORT, long_text[:150]]
    plain = encode_long(model, texts)
    normalized = encode_long(model, texts, normalize_embeddings=True, truncate_dim=8)
    assert normalized.shape == (3, 8)
    assert np.allclose(np.linalg.norm(normalized, axis=1), 1.0, atol=1e-5)
    listed = encode_long(model, texts, convert_to_numpy=False)
    assert isinstance(listed, list)
    assert max_abs_diff(torch.stack(listed).numpy(), plain) == 0.0
    quantized = encode_long(model, [*texts, SHORT.upper(), "x y z"], precision="int8")
    assert quantized.dtype == np.int8
    assert quantized.shape == (5, plain.shape[1])
    windows = encode_long(model, texts, aggregate=None, convert_to_tensor=True, batch_size=2)
    assert [len(w) for w in windows][1] == 1
    assert all(isinstance(w, torch.Tensor) for w in windows)
    assert max_abs_diff(torch.stack([w.mean(dim=0) for w in windows]).numpy(), plain) <= 1e-6
    assert encode_long(model, []).shape == (0, plain.shape[1])
    assert encode_long(model, [], aggregate=None) == []


def test_rejects_bad_arguments(model: SentenceTransformer, long_text: str) -> None:
    with pytest.raises(InputError, match="aggregate"):
        encode_long(model, long_text, aggregate="sum")
    with pytest.raises(InputError, match="window"):
        encode_long(model, long_text, window=MAX_SEQ_LENGTH + 1)
    with pytest.raises(InputError, match="no room"):
        encode_long(model, long_text, window=2)
    with pytest.raises(InputError, match="stride"):
        encode_long(model, long_text, window=10, stride=9)
    with pytest.raises(InputError, match="output_value"):
        encode_long(model, long_text, output_value="token_embeddings")
    with pytest.raises(InputTypeError, match="index 1"):
        encode_long(model, [long_text, None])


def test_windows_may_cut_inside_words(model: SentenceTransformer, hf_checkpoints) -> None:
    # Token ids, not text: windows that start inside a word are run as they are. The oracle is the
    # plain Hugging Face model with mean pooling (what this checkpoint's SentenceTransformer is).
    from transformers import AutoModel

    text = "meteorologists track hurricanes with satellites, unsurprisingly " * 3
    tokenizer = model.tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert any(tokenizer.convert_ids_to_tokens(i).startswith("##") for i in ids)
    budget, stride = MAX_SEQ_LENGTH - 2, 3
    windows = [[tokenizer.cls_token_id, *piece, tokenizer.sep_token_id] for piece in cut(ids, budget, stride)]
    hf_model = AutoModel.from_pretrained(hf_checkpoints["bert"]).eval()
    with torch.no_grad():
        expected = torch.stack(
            [hf_model(input_ids=torch.tensor([w])).last_hidden_state[0].mean(dim=0) for w in windows]
        )
    actual = encode_long(model, text, stride=stride, aggregate=None)
    assert actual.shape == tuple(expected.shape)
    assert max_abs_diff(actual, expected.numpy()) <= 1e-5
