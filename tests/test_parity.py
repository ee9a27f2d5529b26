"""sentkit against sentence-transformers on the same tiny models: same outputs within 1e-5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sentence_transformers as st

from sentkit import SentenceTransformer
from tests.conftest import FAMILIES
from tests.reference import TEXTS, max_abs_diff, reference_model

TOLERANCE = 1e-5
POOLING_MODES = [
    "mean",
    "cls",
    "max",
    "mean_sqrt_len_tokens",
    "weightedmean",
    "lasttoken",
    ("cls", "mean", "max"),
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("pooling_mode", POOLING_MODES, ids=str)
def test_every_pooling_mode_matches(hf_checkpoints: dict[str, Path], tmp_path: Path, family: str, pooling_mode) -> None:
    folder = reference_model(hf_checkpoints[family], tmp_path / "model", pooling_mode=pooling_mode)
    reference = st.SentenceTransformer(str(folder), device="cpu")
    ours = SentenceTransformer(folder, device="cpu")
    expected = reference.encode(TEXTS, batch_size=3)
    actual = ours.encode(TEXTS, batch_size=3)
    assert actual.shape == expected.shape
    assert max_abs_diff(actual, expected) <= TOLERANCE


@pytest.fixture(params=FAMILIES)
def model_pair(request: pytest.FixtureRequest, hf_checkpoints: dict[str, Path], tmp_path: Path):
    folder = reference_model(
        hf_checkpoints[request.param],
        tmp_path / "model",
        dense=True,
        prompts={"query": "query: ", "classify": "Classify this text please: "},
        default_prompt_name=None,
    )
    return st.SentenceTransformer(str(folder), device="cpu"), SentenceTransformer(folder, device="cpu")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"normalize_embeddings": True},
        {"truncate_dim": 8},
        {"truncate_dim": 8, "normalize_embeddings": True},
        {"prompt_name": "classify"},
        {"prompt": "search: "},
        {"convert_to_tensor": True},
        {"batch_size": 1},
    ],
    ids=str,
)
def test_encode_options_match(model_pair, options) -> None:
    reference, ours = model_pair
    assert max_abs_diff(ours.encode(TEXTS, **options), reference.encode(TEXTS, **options)) <= TOLERANCE


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_precisions_match(model_pair, precision: str) -> None:
    reference, ours = model_pair
    expected = reference.encode(TEXTS, precision=precision)
    actual = ours.encode(TEXTS, precision=precision)
    assert actual.dtype == expected.dtype
    # Quantized values may differ by one bucket where a float lands on a bucket edge.
    assert max_abs_diff(actual.astype(np.int32), expected.astype(np.int32)) <= 1


def test_single_string_gives_one_vector(model_pair) -> None:
    reference, ours = model_pair
    actual = ours.encode(TEXTS[0])
    assert actual.ndim == 1
    assert max_abs_diff(actual, reference.encode(TEXTS[0])) <= TOLERANCE


def test_token_embeddings_match(model_pair) -> None:
    reference, ours = model_pair
    expected = reference.encode(TEXTS, output_value="token_embeddings")
    actual = ours.encode(TEXTS, output_value="token_embeddings")
    assert [tuple(t.shape) for t in actual] == [tuple(t.shape) for t in expected]
    assert max_abs_diff(actual, expected) <= TOLERANCE


def test_output_value_none_gives_all_features(model_pair) -> None:
    reference, ours = model_pair
    expected = reference.encode(TEXTS[:3], output_value=None)
    actual = ours.encode(TEXTS[:3], output_value=None)
    assert len(actual) == 3
    for mine, theirs in zip(actual, expected, strict=False):
        assert max_abs_diff(mine["sentence_embedding"], theirs["sentence_embedding"]) <= TOLERANCE
        assert max_abs_diff(mine["token_embeddings"], theirs["token_embeddings"]) <= TOLERANCE


def test_query_and_document_prompts_match(model_pair) -> None:
    reference, ours = model_pair
    assert ours.prompts == reference.prompts
    assert max_abs_diff(ours.encode_query(TEXTS), reference.encode_query(TEXTS)) <= TOLERANCE
    assert max_abs_diff(ours.encode_document(TEXTS), reference.encode_document(TEXTS)) <= TOLERANCE


@pytest.mark.parametrize("family", FAMILIES)
def test_pooling_without_prompt_tokens_matches(hf_checkpoints: dict[str, Path], tmp_path: Path, family: str) -> None:
    folder = reference_model(
        hf_checkpoints[family], tmp_path / "model", pooling_mode=("mean", "cls"), include_prompt=False
    )
    reference = st.SentenceTransformer(str(folder), device="cpu")
    ours = SentenceTransformer(folder, device="cpu")
    prompt = "Represent this sentence for retrieval: "
    expected = reference.encode(TEXTS, prompt=prompt)
    actual = ours.encode(TEXTS, prompt=prompt)
    assert max_abs_diff(actual, expected) <= TOLERANCE
    # Leaving the prompt out really changes the pooled vector.
    assert max_abs_diff(actual, ours.encode([prompt + t for t in TEXTS])) > 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_plain_checkpoint_loads_as_transformer_plus_mean(hf_checkpoints: dict[str, Path], family: str) -> None:
    reference = st.SentenceTransformer(str(hf_checkpoints[family]), device="cpu")
    ours = SentenceTransformer(hf_checkpoints[family], device="cpu")
    assert [type(m).__name__ for m in ours] == ["Transformer", "Pooling"]
    assert max_abs_diff(ours.encode(TEXTS), reference.encode(TEXTS)) <= TOLERANCE


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_by_sentkit_loads_in_reference(hf_checkpoints: dict[str, Path], tmp_path: Path, family: str) -> None:
    source = reference_model(
        hf_checkpoints[family], tmp_path / "src", pooling_mode=("mean", "max"), dense=True, normalize=True
    )
    ours = SentenceTransformer(source, device="cpu", prompts={"query": "q: "}, truncate_dim=12)
    ours.similarity_fn_name = "dot"
    ours.save(tmp_path / "saved")
    reloaded_reference = st.SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert reloaded_reference.similarity_fn_name == "dot"
    assert reloaded_reference.prompts["query"] == "q: "
    assert reloaded_reference.truncate_dim == 12
    assert reloaded_reference.max_seq_length == ours.max_seq_length
    for method in ("encode", "encode_query"):
        expected = getattr(reloaded_reference, method)(TEXTS)
        assert max_abs_diff(getattr(ours, method)(TEXTS), expected) <= TOLERANCE
    reloaded_ours = SentenceTransformer(tmp_path / "saved", device="cpu")
    assert max_abs_diff(reloaded_ours.encode(TEXTS), ours.encode(TEXTS)) == 0.0


def test_model_built_from_modules_matches_reference(hf_checkpoints: dict[str, Path]) -> None:
    from sentence_transformers import models as st_models

    from sentkit import models

    checkpoint = str(hf_checkpoints["bert"])
    ours = SentenceTransformer(
        modules=[
            models.Transformer(checkpoint, max_seq_length=32),
            models.Pooling(word_embedding_dimension=32, pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True),
        ],
        device="cpu",
    )
    reference = st.SentenceTransformer(
        modules=[
            st_models.Transformer(checkpoint, max_seq_length=32),
            st_models.Pooling(32, pooling_mode="max"),
        ],
        device="cpu",
    )
    assert max_abs_diff(ours.encode(TEXTS), reference.encode(TEXTS)) <= TOLERANCE


@pytest.mark.parametrize("name", ["cosine", "dot", "euclidean", "manhattan"])
def test_similarity_functions_match(model_pair, name: str) -> None:
    reference, ours = model_pair
    reference.similarity_fn_name = name
    ours.similarity_fn_name = name
    embeddings = ours.encode(TEXTS)
    assert (
        max_abs_diff(ours.similarity(embeddings, embeddings), reference.similarity(embeddings, embeddings)) <= TOLERANCE
    )
    assert (
        max_abs_diff(
            ours.similarity_pairwise(embeddings, embeddings[::-1].copy()),
            reference.similarity_pairwise(embeddings, embeddings[::-1].copy()),
        )
        <= TOLERANCE
    )
