"""Bad module configurations fail when the model is built, with both sizes or the valid values named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sentkit.models as models
from sentkit import SentenceTransformer
from sentkit.errors import ConfigurationError, InputError, ModelFormatError


def test_dense_size_mismatch_fails_at_construction(hf_checkpoints: dict[str, Path]) -> None:
    transformer = models.Transformer(hf_checkpoints["bert"])
    pooling = models.Pooling(32, pooling_mode=("mean", "max"))
    with pytest.raises(ConfigurationError, match=r"Dense \(module 2\) takes embeddings of size 32, .*outputs size 64"):
        SentenceTransformer(modules=[transformer, pooling, models.Dense(32, 8)], device="cpu")


def test_pooling_size_mismatch_fails_at_construction(hf_checkpoints: dict[str, Path]) -> None:
    with pytest.raises(ConfigurationError, match=r"Pooling \(module 1\) takes embeddings of size 768"):
        SentenceTransformer(modules=[models.Transformer(hf_checkpoints["bert"]), models.Pooling(768)], device="cpu")


def test_mismatch_inside_a_router_route(hf_checkpoints: dict[str, Path]) -> None:
    router = models.Router({"query": [models.Dense(32, 8)], "doc": [models.Dense(16, 8)]})
    modules = [models.Transformer(hf_checkpoints["bert"]), models.Pooling(32), router]
    with pytest.raises(ConfigurationError, match="size 16"):
        SentenceTransformer(modules=modules, device="cpu")


def test_unknown_pooling_mode_names_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"Invalid pooling mode \['avg'\]; valid modes are cls, max, mean"):
        models.Pooling(32, pooling_mode="avg")
    with pytest.raises(ConfigurationError, match="Unknown Pooling arguments"):
        models.Pooling(32, pooling_mode_avg_tokens=True)


def test_word_vector_file_with_a_ragged_row_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "vectors.txt"
    path.write_text("cat 0.1 0.2 0.3\ndog 0.4 0.5 0.6\nbird 0.7 0.8\n", encoding="utf-8")
    with pytest.raises(ModelFormatError, match=r"vectors.txt, line 3: 2 values where the first row has 3"):
        models.WordEmbeddings.from_text_file(str(path))
    with pytest.raises(InputError, match="never downloads"):
        models.WordEmbeddings.from_text_file("glove.6B.300d.txt.gz")


def test_word_vector_file_loads_glove_and_word2vec_layouts(tmp_path: Path) -> None:
    glove = tmp_path / "glove.txt"
    glove.write_text("cat 0.1 0.2 0.3\ndog 0.4 0.5 0.6\n", encoding="utf-8")
    word2vec = tmp_path / "w2v.txt"
    word2vec.write_text("2 3\ncat 0.1 0.2 0.3\ndog 0.4 0.5 0.6\n", encoding="utf-8")
    for path in (glove, word2vec):
        module = models.WordEmbeddings.from_text_file(str(path))
        model = SentenceTransformer(modules=[module, models.Pooling(3)], device="cpu")
        assert module.tokenizer.get_vocab() == ["PADDING_TOKEN", "cat", "dog"]
        assert np.allclose(model.encode("cat dog"), [0.25, 0.35, 0.45])


def test_weighted_layer_pooling_is_given_every_layer(hf_checkpoints: dict[str, Path]) -> None:
    transformer = models.Transformer(hf_checkpoints["bert"])
    assert not transformer.output_hidden_states
    model = SentenceTransformer(
        modules=[transformer, models.WeightedLayerPooling(32, num_hidden_layers=2, layer_start=0), models.Pooling(32)],
        device="cpu",
    )
    assert transformer.output_hidden_states
    assert model.encode("the weather").shape == (32,)
    with pytest.raises(ConfigurationError, match="no layer of the 2"):
        models.WeightedLayerPooling(32, num_hidden_layers=2, layer_start=5)
