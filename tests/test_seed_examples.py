"""The seed documents' code, with only the import line changed (hub-only model names swapped for local ones)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.reference import max_abs_diff

pytestmark = pytest.mark.slow


def test_computing_embeddings_seed(tmp_path: Path, capsys) -> None:
    from sentkit import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2")

    # Our sentences we like to encode
    sentences = [
        "This framework generates embeddings for each input sentence",
        "Sentences are passed as a list of strings.",
        "The quick brown fox jumps over the lazy dog.",
    ]

    # Sentences are encoded by calling model.encode()
    embeddings = model.encode(sentences)

    # Print the embeddings
    for sentence, embedding in zip(sentences, embeddings):  # noqa: B905 - the seed code as published
        print("Sentence:", sentence)
        print("Embedding:", embedding)
        print("")

    print("Max Sequence Length:", model.max_seq_length)
    model.max_seq_length = 200
    print("Max Sequence Length:", model.max_seq_length)

    with open(tmp_path / "embeddings.pkl", "wb") as fOut:
        pickle.dump({"sentences": sentences, "embeddings": embeddings}, fOut, protocol=pickle.HIGHEST_PROTOCOL)
    with open(tmp_path / "embeddings.pkl", "rb") as fIn:
        stored_data = pickle.load(fIn)
        stored_sentences = stored_data["sentences"]
        stored_embeddings = stored_data["embeddings"]

    output = capsys.readouterr().out
    assert "Max Sequence Length: 256" in output
    assert "Max Sequence Length: 200" in output
    assert stored_sentences == sentences
    assert np.array_equal(stored_embeddings, embeddings)
    assert embeddings.shape == (3, 384)


def test_prompt_templates_seed(hf_checkpoints: dict[str, Path]) -> None:
    from sentkit import SentenceTransformer

    model = SentenceTransformer(
        str(hf_checkpoints["bert"]),  # the seed uses "intfloat/multilingual-e5-large", a hub-only name
        prompts={
            "classification": "Classify the following text: ",
            "retrieval": "Retrieve semantically similar text: ",
            "clustering": "Identify the topic or theme based on the text: ",
        },
        default_prompt_name="retrieval",
    )
    explicit = model.encode("How to bake a strawberry cake", prompt="Retrieve semantically similar text: ")
    named = model.encode("How to bake a strawberry cake", prompt_name="retrieval")
    default = model.encode("How to bake a strawberry cake")
    assert max_abs_diff(explicit, named) == 0.0
    assert max_abs_diff(explicit, default) == 0.0
    model.default_prompt_name = None
    assert max_abs_diff(model.encode("How to bake a strawberry cake"), default) > 1e-4


def test_models_reference_seed_asym_example(hf_checkpoints: dict[str, Path]) -> None:
    from sentkit import SentenceTransformer, models

    model_name = str(hf_checkpoints["bert"])
    word_embedding_model = models.Transformer(model_name)
    pooling_model = models.Pooling(word_embedding_model.get_word_embedding_dimension())
    asym_model = models.Asym(
        {
            "query": [models.Dense(word_embedding_model.get_word_embedding_dimension(), 128)],
            "doc": [models.Dense(word_embedding_model.get_word_embedding_dimension(), 128)],
        }
    )
    model = SentenceTransformer(modules=[word_embedding_model, pooling_model, asym_model])
    queries = model.encode([{"query": "Q1"}, {"query": "Q2"}])
    docs = model.encode([{"doc": "Doc1"}, {"doc": "Doc2"}])
    assert queries.shape == docs.shape == (2, 128)
