"""Each module that sentence-transformers also has: same outputs on the same weights, folders both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentence_transformers as st
from sentence_transformers.sentence_transformer import modules as st_modules

import sentkit.models
from sentkit import SentenceTransformer
from tests.module_builders import pipeline
from tests.reference import TEXTS, max_abs_diff

TOLERANCE = 1e-5
KINDS = ["word_weights", "cnn", "lstm", "bow", "layer_norm", "asym", "weighted_layer_pooling", "router_first"]
TASKS = {"asym": ["query", "doc"], "router_first": ["query", "document"]}


class ReferenceModules:
    """sentence-transformers' building blocks under the names the builders use."""

    def __getattr__(self, name: str):
        from sentence_transformers.base import modules as base_modules

        if name in ("Transformer", "Router", "Dense", "Normalize"):
            return getattr(base_modules, name)
        if name == "Asym":
            return base_modules.Router
        if name == "WhitespaceTokenizer":
            from sentence_transformers.sentence_transformer.modules.tokenizer import WhitespaceTokenizer

            return WhitespaceTokenizer
        return getattr(st_modules, name)


def _encodings(model, kind: str) -> list:
    texts = [t for t in TEXTS if len(t) > 1] + ["A cat and a dog in the garden."]  # none only stop words
    return [model.encode(texts, task=task) for task in TASKS.get(kind, [None])]


@pytest.mark.parametrize("kind", KINDS)
def test_reference_folder_loads_in_sentkit(hf_checkpoints: dict[str, Path], tmp_path: Path, kind: str) -> None:
    reference = st.SentenceTransformer(modules=pipeline(ReferenceModules(), kind, hf_checkpoints["bert"]), device="cpu")
    reference.save(str(tmp_path / "model"))
    ours = SentenceTransformer(tmp_path / "model", device="cpu")
    for mine, theirs in zip(_encodings(ours, kind), _encodings(reference, kind), strict=True):
        assert max_abs_diff(mine, theirs) <= TOLERANCE


@pytest.mark.parametrize("kind", KINDS)
def test_sentkit_folder_loads_in_reference(hf_checkpoints: dict[str, Path], tmp_path: Path, kind: str) -> None:
    ours = SentenceTransformer(modules=pipeline(sentkit.models, kind, hf_checkpoints["bert"]), device="cpu")
    ours.save(tmp_path / "model")
    reference = st.SentenceTransformer(str(tmp_path / "model"), device="cpu")
    for mine, theirs in zip(_encodings(ours, kind), _encodings(reference, kind), strict=True):
        assert max_abs_diff(mine, theirs) <= TOLERANCE
    reloaded = SentenceTransformer(tmp_path / "model", device="cpu")
    for again, mine in zip(_encodings(reloaded, kind), _encodings(ours, kind), strict=True):
        assert max_abs_diff(again, mine) == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_same_weights_same_outputs(hf_checkpoints: dict[str, Path], kind: str) -> None:
    """Built side by side from the same config and weights, without going through a folder."""
    reference = st.SentenceTransformer(modules=pipeline(ReferenceModules(), kind, hf_checkpoints["bert"]), device="cpu")
    ours = SentenceTransformer(modules=pipeline(sentkit.models, kind, hf_checkpoints["bert"]), device="cpu")
    ours.load_state_dict(reference.state_dict())
    for mine, theirs in zip(_encodings(ours, kind), _encodings(reference, kind), strict=True):
        assert max_abs_diff(mine, theirs) <= TOLERANCE


def test_static_embedding_from_model2vec_folder(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    from tests.tiny_models import wordpiece_tokenizer

    folder = tmp_path / "m2v"
    folder.mkdir()
    tokenizer = wordpiece_tokenizer()
    vocab_size = tokenizer.get_vocab_size()
    rng = np.random.default_rng(0)
    save_file(
        {
            "embeddings": rng.normal(size=(50, 8)).astype(np.float32),
            "mapping": rng.integers(0, 50, size=vocab_size).astype(np.int64),
            "weights": rng.uniform(0.1, 1.0, size=vocab_size).astype(np.float32),
        },
        str(folder / "model.safetensors"),
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    ours = SentenceTransformer(modules=[sentkit.models.StaticEmbedding.from_model2vec(folder)], device="cpu")
    reference = st.SentenceTransformer(modules=[st_modules.StaticEmbedding.load(str(folder))], device="cpu")
    assert max_abs_diff(ours.encode(TEXTS), reference.encode(TEXTS)) <= TOLERANCE
    ours.save(tmp_path / "saved")
    again = st.SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert max_abs_diff(again.encode(TEXTS), reference.encode(TEXTS)) <= TOLERANCE


def test_phrase_tokenizer_matches_reference() -> None:
    from sentence_transformers.sentence_transformer.modules.tokenizer import PhraseTokenizer as ReferencePhrases

    vocab = ["PADDING_TOKEN", "New_York", "new_york", "is", "big", "city", "the", "San_Francisco_Bay", "bay", "Wow"]
    texts = ["New York is a big city!", "the san francisco bay, and new york.", "Wow... NEW YORK", "city."]
    for stop_words in (None, ["is", "the"]):
        kwargs = {} if stop_words is None else {"stop_words": stop_words}
        ours = sentkit.models.PhraseTokenizer(vocab, **kwargs)
        theirs = ReferencePhrases(vocab, **kwargs)
        assert [ours.tokenize(t) for t in texts] == [theirs.tokenize(t) for t in texts]


def test_whitespace_tokenizer_matches_reference() -> None:
    from sentence_transformers.sentence_transformer.modules.tokenizer import WhitespaceTokenizer as Reference

    vocab = ["PADDING_TOKEN", "cat", "Dog", "dog", "is", "the", "sunny", "(sunny)", "it's"]
    texts = ["The cat is (sunny) today.", "Dog, dog... DOG!", "it's IT'S sunny?", ""]
    for lower in (False, True):
        ours = sentkit.models.WhitespaceTokenizer(vocab, do_lower_case=lower)
        theirs = Reference(vocab, do_lower_case=lower)
        assert [ours.tokenize(t) for t in texts] == [theirs.tokenize(t) for t in texts]
