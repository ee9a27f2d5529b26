"""sentkit.SparseEncoder against sentence-transformers' on tiny masked-LM (SPLADE) models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import sentence_transformers as st
import torch
from sentence_transformers import util as st_util
from sentence_transformers.sparse_encoder.modules import Router as StRouter
from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding as StSparseStaticEmbedding
from sentence_transformers.sparse_encoder.modules import SpladePooling as StSpladePooling
from sentence_transformers.sparse_encoder.modules import Transformer as StTransformer
from transformers import AutoTokenizer

from sentkit import SparseEncoder, util
from sentkit.errors import ConfigurationError, InputError, InputTypeError, ModelFormatError
from sentkit.modules import MLMTransformer, SparseStaticEmbedding, SpladePooling
from tests.reference import TEXTS, max_abs_diff
from tests.tiny_models import build_masked_lm, build_sequence_classifier

# The reference's sparse similarity code trips two one-time torch warnings about sparse tensors.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning"),
    pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled:UserWarning"),
]

TOLERANCE = 1e-5
SIMILARITIES = ["dot", "cosine", "euclidean", "manhattan"]


def _dense(embeddings) -> torch.Tensor:
    if isinstance(embeddings, list):
        return torch.stack([_dense(row) for row in embeddings])
    return embeddings.to_dense() if embeddings.is_sparse else embeddings


def _same(actual, expected) -> None:
    assert isinstance(actual, torch.Tensor)
    assert actual.is_sparse == expected.is_sparse
    assert actual.shape == expected.shape
    assert max_abs_diff(_dense(actual), _dense(expected)) <= TOLERANCE


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A plain MLM checkpoint and SparseEncoder folders saved by sentence-transformers from it."""
    root = tmp_path_factory.mktemp("sparse")
    mlm = build_masked_lm(root / "mlm")
    result = {"mlm": mlm}
    variants = {"max_relu": ("max", "relu"), "sum_log1p": ("sum", "log1p_relu")}
    for name, (strategy, activation) in variants.items():
        modules = [StTransformer(str(mlm), transformer_task="fill-mask"), StSpladePooling(strategy, activation)]
        st.SparseEncoder(modules=modules, device="cpu", prompts={"query": "query: "}).save(str(root / name))
        result[name] = root / name
    torch.manual_seed(3)
    static = StSparseStaticEmbedding(AutoTokenizer.from_pretrained(mlm), weight=torch.rand(400), frozen=True)
    st.SparseEncoder(modules=[static], device="cpu").save(str(root / "static"))
    result["static"] = root / "static"
    # Inference-free SPLADE: static weights for queries, the MLM for documents.
    documents = [StTransformer(str(mlm), transformer_task="fill-mask"), StSpladePooling("max")]
    router = StRouter.for_query_document(query_modules=[static], document_modules=documents)
    st.SparseEncoder(modules=[router], device="cpu").save(str(root / "router"))
    result["router"] = root / "router"
    return result


@pytest.fixture(scope="module")
def pair(folders: dict[str, Path]) -> tuple[st.SparseEncoder, SparseEncoder]:
    return st.SparseEncoder(str(folders["max_relu"]), device="cpu"), SparseEncoder(folders["max_relu"], device="cpu")


# --------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("name", ["mlm", "sum_log1p", "static"])  # max_relu: the pair fixture
def test_sparse_weights_match(folders: dict[str, Path], name: str) -> None:
    reference, ours = st.SparseEncoder(str(folders[name]), device="cpu"), SparseEncoder(folders[name], device="cpu")
    _same(ours.encode(TEXTS, batch_size=3), reference.encode(TEXTS, batch_size=3))
    assert ours.get_embedding_dimension() == 400


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"convert_to_sparse_tensor": False},
        {"convert_to_tensor": False},
        {"max_active_dims": 8},
        {"prompt": "search: "},
        {"prompt_name": "query"},
        {"batch_size": 1, "save_to_cpu": True},
    ],
    ids=str,
)
def test_encode_options_match(pair, options) -> None:
    reference, ours = pair
    expected, actual = reference.encode(TEXTS, **options), ours.encode(TEXTS, **options)
    if isinstance(expected, list):
        assert isinstance(actual, list)
        assert len(actual) == len(expected)
        assert all(mine.is_sparse == theirs.is_sparse for mine, theirs in zip(actual, expected, strict=True))
    assert max_abs_diff(_dense(actual), _dense(expected)) <= TOLERANCE


def test_single_text_query_and_document(pair) -> None:
    reference, ours = pair
    _same(ours.encode(TEXTS[0]), reference.encode(TEXTS[0]))
    _same(ours.encode_query(TEXTS), reference.encode_query(TEXTS))
    _same(ours.encode_document(TEXTS), reference.encode_document(TEXTS))
    assert ours.prompts == reference.prompts


def test_max_active_dims_setting_is_saved_and_read(folders: dict[str, Path], tmp_path: Path) -> None:
    ours = SparseEncoder(folders["max_relu"], max_active_dims=5, device="cpu")
    reference = st.SparseEncoder(str(folders["max_relu"]), max_active_dims=5, device="cpu")
    embeddings = ours.encode(TEXTS)
    _same(embeddings, reference.encode(TEXTS))
    assert ours.sparsity(embeddings)["active_dims"] <= 5
    ours.save(tmp_path / "saved")
    _same(st.SparseEncoder(str(tmp_path / "saved"), device="cpu").encode(TEXTS), embeddings)
    _same(SparseEncoder(tmp_path / "saved", device="cpu").encode(TEXTS), embeddings)


@pytest.mark.parametrize("name", SIMILARITIES)
def test_similarities_on_sparse_embeddings(pair, name: str) -> None:
    reference, ours = pair
    reference.similarity_fn_name = ours.similarity_fn_name = name
    try:
        queries, documents = reference.encode(TEXTS[:4]), reference.encode(TEXTS[2:])
        assert max_abs_diff(ours.similarity(queries, documents), reference.similarity(queries, documents)) <= 1e-4
        first_four = documents.index_select(0, torch.arange(4))  # sparse tensors cannot be sliced
        expected = reference.similarity_pairwise(queries, first_four)
        assert max_abs_diff(ours.similarity_pairwise(queries, first_four), expected) <= 1e-4
        mixed = reference.similarity(queries, documents.to_dense())
        assert max_abs_diff(ours.similarity(queries, documents.to_dense()), mixed) <= 1e-4
    finally:
        reference.similarity_fn_name = ours.similarity_fn_name = "dot"


def test_default_similarity_is_dot(pair) -> None:
    reference, ours = pair
    assert ours.similarity_fn_name == reference.similarity_fn_name == "dot"
    embeddings = ours.encode(TEXTS)
    assert max_abs_diff(ours.similarity(embeddings, embeddings), reference.similarity(embeddings, embeddings)) <= 1e-4


def test_sparsity_decode_and_intersection_match(pair) -> None:
    reference, ours = pair
    embeddings = ours.encode(TEXTS)
    for value in (embeddings, embeddings[0], embeddings.to_dense(), ours.encode(TEXTS, max_active_dims=3)):
        assert ours.sparsity(value) == pytest.approx(reference.sparsity(value))
        for top_k in (None, 1, 5):
            assert ours.decode(value, top_k=top_k) == reference.decode(value, top_k=top_k)
    for second in (embeddings[1], embeddings):
        _same(ours.intersection(embeddings[0], second).coalesce(), reference.intersection(embeddings[0], second))
    assert ours.decode(ours.intersection(embeddings[0], embeddings[2])) == reference.decode(
        reference.intersection(embeddings[0], embeddings[2])
    )


def test_semantic_search_on_sparse_embeddings(pair) -> None:
    ours = pair[1]
    queries, corpus = ours.encode(TEXTS[:3]), ours.encode(TEXTS)
    for score_function, theirs in ((util.dot_score, st_util.dot_score), (util.cos_sim, st_util.cos_sim)):
        expected = st_util.semantic_search(queries, corpus, top_k=4, score_function=theirs)
        for chunks in ({}, {"query_chunk_size": 2, "corpus_chunk_size": 3}):
            actual = util.semantic_search(queries, corpus, top_k=4, score_function=score_function, **chunks)
            assert [[hit["corpus_id"] for hit in hits] for hits in actual] == [
                [hit["corpus_id"] for hit in hits] for hits in expected
            ]
            scores = [[hit["score"] for hit in hits] for hits in actual]
            assert np.allclose(scores, [[hit["score"] for hit in hits] for hits in expected], atol=1e-4)
    listed = util.semantic_search(list(queries), list(corpus), top_k=2, score_function=util.cos_sim)
    assert [hit["corpus_id"] for hit in listed[0]] == [hit["corpus_id"] for hit in expected[0][:2]]


# ------------------------------------------------------------------------------- saved formats
def test_sentkit_folders_load_in_reference(folders: dict[str, Path], tmp_path: Path) -> None:
    for name in ("sum_log1p", "static"):
        ours = SparseEncoder(folders[name], device="cpu")
        ours.save_pretrained(tmp_path / name)
        reference = st.SparseEncoder(str(tmp_path / name), device="cpu")
        _same(ours.encode(TEXTS), reference.encode(TEXTS))
        _same(ours.encode_query(TEXTS), reference.encode_query(TEXTS))


def test_older_sparse_folder_layout(folders: dict[str, Path], tmp_path: Path) -> None:
    """sentence-transformers 5 named the MLMTransformer class and SpladePooling's word_embedding_dimension."""
    folder = Path(shutil.copytree(folders["max_relu"], tmp_path / "v5"))
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["type"] = "sentence_transformers.sparse_encoder.models.MLMTransformer"
    modules[1]["type"] = "sentence_transformers.sparse_encoder.models.SpladePooling"
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    pooling = {"pooling_strategy": "max", "activation_function": "relu", "word_embedding_dimension": 400}
    (folder / "1_SpladePooling" / "config.json").write_text(json.dumps(pooling))
    ours = SparseEncoder(folder, device="cpu")
    assert isinstance(ours[0], MLMTransformer)
    assert ours.max_seq_length == 64
    _same(ours.encode(TEXTS), st.SparseEncoder(str(folder), device="cpu").encode(TEXTS))


def test_inference_free_router_folders_move_both_ways(folders: dict[str, Path], tmp_path: Path) -> None:
    reference = st.SparseEncoder(str(folders["router"]), device="cpu")
    ours = SparseEncoder(folders["router"], device="cpu")
    for method in ("encode_query", "encode_document", "encode"):
        _same(getattr(ours, method)(TEXTS), getattr(reference, method)(TEXTS))
    assert ours.sparsity(ours.encode_query(TEXTS[:3]))["active_dims"] < 20  # the query side only marks its tokens
    ours.save(tmp_path / "router")
    again = st.SparseEncoder(str(tmp_path / "router"), device="cpu")
    for method in ("encode_query", "encode_document"):
        _same(getattr(ours, method)(TEXTS), getattr(again, method)(TEXTS))


def test_built_from_modules(folders: dict[str, Path], tmp_path: Path) -> None:
    modules = [MLMTransformer(folders["mlm"]), SpladePooling("sum", "log1p_relu", chunk_size=3)]
    ours = SparseEncoder(modules=modules, device="cpu", prompts={"query": "query: "})
    assert ours.splade_pooling_chunk_size == 3
    reference = st.SparseEncoder(str(folders["sum_log1p"]), device="cpu")
    reference.splade_pooling_chunk_size = 3  # chunks change the order of the sums
    _same(ours.encode(TEXTS), reference.encode(TEXTS))
    static = SparseStaticEmbedding(AutoTokenizer.from_pretrained(folders["mlm"]), frozen=True)
    assert SparseEncoder(modules=[static], device="cpu").encode(["hello there"]).coalesce().values().tolist() == [
        1.0
    ] * len(static.tokenize(["hello there"])["input_ids"][0].unique())


# ----------------------------------------------------------------------------------- bad input
def test_empty_and_bad_inputs(pair, folders: dict[str, Path], tmp_path: Path) -> None:
    _, ours = pair
    empty = ours.encode([])
    assert empty.is_sparse
    assert empty.shape == (0, 400)
    assert ours.encode([], convert_to_tensor=False) == []
    with pytest.raises(InputTypeError, match="index 1 is NoneType"):
        ours.encode(["a", None])
    with pytest.raises(InputError, match="max_active_dims"):
        ours.encode(TEXTS, max_active_dims=0)
    with pytest.raises(InputError, match="top_k"):
        ours.decode(ours.encode(TEXTS), top_k=0)
    with pytest.raises(InputError, match="1-D or 2-D"):
        ours.sparsity(torch.zeros(2, 2, 2))
    with pytest.raises(InputTypeError, match="Tensor"):
        ours.sparsity(np.zeros(3))
    with pytest.raises(InputError, match="vocabulary sizes differ"):
        ours.intersection(torch.ones(3), torch.ones(4))
    with pytest.raises(InputError, match="unexpected keyword"):
        ours.encode(TEXTS, colour="red")
    with pytest.raises(ConfigurationError, match="max_active_dims"):
        SparseEncoder(folders["max_relu"], max_active_dims=-2, device="cpu")
    with pytest.raises(ModelFormatError, match="not a masked language model"):
        SparseEncoder(build_sequence_classifier(tmp_path / "classifier"), device="cpu")
