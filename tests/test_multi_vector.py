"""sentkit's MultiVectorEncoder, MaxSim and late-interaction search against sentence-transformers 6.2."""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import MultiVectorEncoder as StMultiVectorEncoder
from sentence_transformers import util as st_util
from sentence_transformers.base.modules import Dense as StDense
from sentence_transformers.base.modules import Normalize as StNormalize
from sentence_transformers.base.modules import Transformer as StTransformer
from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask as StMultiVectorMask

import sentkit.maxsim as maxsim_module
from sentkit.apps.multi_vector_search import (
    TokenEmbeddingsReader,
    encode_token_embeddings_to_disk,
    multi_vector_search,
)
from sentkit.encoders.multi_vector_encoder import MultiVectorEncoder
from sentkit.errors import ConfigurationError, InputError, InputTypeError, ModelFormatError
from sentkit.maxsim import (
    EMPTY_DOCUMENT_SCORE,
    cat_padded_token_embeddings,
    maxsim,
    maxsim_pairwise,
    mean_maxsim,
    mean_maxsim_pairwise,
    stack_padded_token_embeddings,
)
from sentkit.modules import Dense, Normalize
from sentkit.modules.multi_vector_mask import MultiVectorMask
from sentkit.modules.multi_vector_transformer import MultiVectorTransformer
from tests.reference import TEXTS, max_abs_diff, reference_model
from tests.tiny_models import build

TOLERANCE = 1e-5
DOCUMENTS = [*TEXTS, "Paris is the capital of France.", "Berlin, a city; in Germany!", "x", "The sun is a star."]


def _st_multi_vector(checkpoint: Path, folder: Path, **options: object) -> Path:
    torch.manual_seed(2)
    transformer_options = options.pop("transformer", {})
    transformer = StTransformer(str(checkpoint), **transformer_options)  # type: ignore[arg-type]
    dense = StDense(32, 16, bias=False, activation_function=torch.nn.Identity(), module_input_name="token_embeddings")
    mask = StMultiVectorMask(skiplist_words=options.pop("skiplist", None))  # type: ignore[arg-type]
    modules = [transformer, dense, mask, StNormalize(module_input_name="token_embeddings")]
    StMultiVectorEncoder(modules=modules, device="cpu", **options).save(str(folder))  # type: ignore[arg-type]
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("multi_vector")
    checkpoint = build("bert", root / "bert")
    return {
        "bert": checkpoint,
        "fixed": _st_multi_vector(
            checkpoint,
            root / "fixed",
            transformer={
                "query_length": 12,
                "document_length": 20,
                "query_expansion": {"strategy": "fixed", "length": 10},
            },
            skiplist=list(string.punctuation),
            prompts={"query": "[Q] ", "document": "[D] "},
        ),
        "min": _st_multi_vector(
            checkpoint,
            root / "min",
            transformer={"query_expansion": {"strategy": "min", "length": 8, "attend": True}, "document_length": 24},
            similarity_fn_name="meanmaxsim",
        ),
        "dense_st": reference_model(checkpoint, root / "dense_st", dense=True, normalize=True),
    }


@pytest.fixture(scope="module")
def models(folders: dict[str, Path]) -> dict[str, tuple[MultiVectorEncoder, StMultiVectorEncoder]]:
    names = ("fixed", "min", "dense_st")
    return {
        name: (
            MultiVectorEncoder(str(folders[name]), device="cpu"),
            StMultiVectorEncoder(str(folders[name]), device="cpu"),
        )
        for name in names
    }


# ------------------------------------------------------------------------------ encoder parity
@pytest.mark.parametrize("name", ["fixed", "min", "dense_st"])
@pytest.mark.parametrize("method", ["encode_query", "encode_document", "encode"])
def test_token_embeddings_match_reference(models, name: str, method: str) -> None:
    ours, reference = models[name]
    actual = getattr(ours, method)(DOCUMENTS, batch_size=4)
    expected = getattr(reference, method)(DOCUMENTS, batch_size=4)
    assert isinstance(actual, list)
    assert all(isinstance(item, torch.Tensor) for item in actual)
    assert [item.shape for item in actual] == [item.shape for item in expected]
    assert max_abs_diff(actual, expected) <= TOLERANCE
    arrays = getattr(ours, method)(DOCUMENTS, batch_size=4, convert_to_numpy=True)
    assert all(isinstance(item, np.ndarray) for item in arrays)
    assert max_abs_diff(arrays, getattr(reference, method)(DOCUMENTS, batch_size=4, convert_to_numpy=True)) <= TOLERANCE


def test_query_expansion_and_skiplist_shape_the_outputs(models) -> None:
    ours, _ = models["fixed"]
    queries = ours.encode_query(["a", "what is the capital of france today and tomorrow?"])
    assert [len(query) for query in queries] == [10, 10]  # fixed expansion: exactly 10 tokens
    tokenizer = ours.tokenizer
    text = "Berlin, a city; in Germany!"
    ids = tokenizer("[D] " + text, truncation=True, max_length=20)["input_ids"]
    mask_module = ours[2]
    assert isinstance(mask_module, MultiVectorMask)
    assert mask_module.skiplist_ids is not None
    skipped = set(mask_module.skiplist_ids.tolist())
    assert skipped
    assert len(ours.encode_document(text)) == sum(token not in skipped for token in ids)
    minimum = models["min"][0].encode_query(["a", " ".join(["word"] * 20)])
    assert len(minimum[0]) == 8
    assert len(minimum[1]) > 8


def test_single_input_and_raw_features(models) -> None:
    ours, reference = models["fixed"]
    single = ours.encode_document("Paris is the capital of France.")
    positional = ours.encode_query(DOCUMENTS[:3], None, None, 1, False, "token_embeddings", True)  # ST's order
    assert (
        max_abs_diff(positional, reference.encode_query(DOCUMENTS[:3], None, None, 1, False, "token_embeddings", True))
        <= TOLERANCE
    )
    assert isinstance(single, torch.Tensor)
    assert single.dim() == 2
    raw = ours.encode_query(DOCUMENTS[:3], output_value=None)
    expected = reference.encode_query(DOCUMENTS[:3], output_value=None)
    for ours_item, reference_item in zip(raw, expected, strict=True):
        for key in ("token_embeddings", "attention_mask", "input_ids", "query_expansion_positions"):
            assert max_abs_diff(ours_item[key].float(), reference_item[key].float()) <= TOLERANCE


@pytest.mark.parametrize("name", ["fixed", "min"])
def test_similarity_matches_reference(models, name: str) -> None:
    ours, reference = models[name]
    assert ours.similarity_fn_name == reference.similarity_fn_name
    queries, documents = ours.encode_query(DOCUMENTS[:5]), ours.encode_document(DOCUMENTS)
    expected = reference.similarity(reference.encode_query(DOCUMENTS[:5]), reference.encode_document(DOCUMENTS))
    assert max_abs_diff(ours.similarity(queries, documents), expected) <= TOLERANCE
    pairs = ours.similarity_pairwise(queries, documents[:5])
    expected_pairs = reference.similarity_pairwise(
        reference.encode_query(DOCUMENTS[:5]), reference.encode_document(DOCUMENTS[:5])
    )
    assert max_abs_diff(pairs, expected_pairs) <= TOLERANCE


def test_saved_folders_load_both_ways(models, tmp_path: Path) -> None:
    ours, _ = models["fixed"]
    ours.save(str(tmp_path / "saved"))
    modules = json.loads((tmp_path / "saved" / "modules.json").read_text())
    assert [entry["type"].rsplit(".", 1)[-1] for entry in modules] == [
        "Transformer",
        "Dense",
        "MultiVectorMask",
        "Normalize",
    ]
    reference = StMultiVectorEncoder(str(tmp_path / "saved"), device="cpu")
    reloaded = MultiVectorEncoder(str(tmp_path / "saved"), device="cpu")
    for model in (reference, reloaded):
        assert model.prompts["query"] == "[Q] "
        assert max_abs_diff(model.encode_query(DOCUMENTS), ours.encode_query(DOCUMENTS)) <= TOLERANCE
        assert max_abs_diff(model.encode_document(DOCUMENTS), ours.encode_document(DOCUMENTS)) <= TOLERANCE
    assert reference[0].query_expansion == ours[0].query_expansion
    assert reference[0].document_length == 20
    ours_min, _ = models["min"]
    ours_min.save_pretrained(str(tmp_path / "saved_min"))
    assert StMultiVectorEncoder(str(tmp_path / "saved_min"), device="cpu").similarity_fn_name == "meanmaxsim"


def test_plain_checkpoint_gets_a_projection(folders) -> None:
    model = MultiVectorEncoder(str(folders["bert"]), device="cpu")
    assert [type(module) for module in model] == [MultiVectorTransformer, Dense, MultiVectorMask, Normalize]
    assert model.get_embedding_dimension() == 128
    embeddings = model.encode_document(["hello world"])
    assert embeddings[0].shape[1] == 128
    assert torch.allclose(embeddings[0].norm(dim=-1), torch.ones(len(embeddings[0])), atol=1e-5)


def test_modules_built_in_memory(folders) -> None:
    transformer = MultiVectorTransformer(folders["bert"], query_expansion={"strategy": "fixed", "length": 6})
    model = MultiVectorEncoder(
        modules=[transformer, Dense(32, 8, bias=False, module_input_name="token_embeddings"), MultiVectorMask()],
        device="cpu",
    )
    assert [len(item) for item in model.encode_query(["one", "two words"])] == [6, 6]


# ------------------------------------------------------------------------------------- errors
def test_bad_input_raises_sentkit_errors(models, folders, tmp_path: Path) -> None:
    ours, _ = models["fixed"]
    with pytest.raises(InputError, match="convert_to_tensor"):
        ours.encode(["a"], convert_to_tensor=True)
    with pytest.raises(InputError, match="prompt_name"):
        ours.encode(["a"], prompt_name="missing")
    with pytest.raises(InputError, match="output_value"):
        ours.encode(["a"], output_value="sentence_embedding")
    with pytest.raises(InputError, match="batch_size"):
        ours.encode(["a"], batch_size=0)
    with pytest.raises(InputError, match="token_pooling"):
        ours.encode(["a"], token_pooling=object())
    with pytest.raises(InputTypeError, match="index 1"):
        ours.encode_document(["a", None])
    with pytest.raises(ConfigurationError, match="maxsim"):
        ours.similarity_fn_name = "cosine"
    with pytest.raises(ConfigurationError, match="length"):
        MultiVectorTransformer(folders["bert"], query_expansion={"strategy": "fixed"})
    with pytest.raises(ConfigurationError, match="query_length"):
        MultiVectorTransformer(folders["bert"], query_length=4, query_expansion={"strategy": "fixed", "length": 8})
    with pytest.raises(ConfigurationError, match="strategy"):
        MultiVectorTransformer(folders["bert"], query_expansion={"strategy": "grow", "length": 8})
    legacy = tmp_path / "legacy"
    shutil.copytree(folders["fixed"], legacy)
    settings = json.loads((legacy / "config_sentence_transformers.json").read_text())
    (legacy / "config_sentence_transformers.json").write_text(json.dumps({**settings, "model_type": "ColBERT"}))
    with pytest.raises(ModelFormatError, match="PyLate"):
        MultiVectorEncoder(str(legacy), device="cpu", verify=False)


# ------------------------------------------------------------------------------------- MaxSim
def _ragged(seed: int, count: int, dim: int = 8) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 9, (count,), generator=generator).tolist()
    return [torch.randn(length, dim, generator=generator) for length in lengths]


@pytest.mark.parametrize("length_normalize", [False, True])
def test_maxsim_matches_reference(length_normalize: bool) -> None:
    queries, documents = _ragged(0, 5), _ragged(1, 7)
    expected = st_util.maxsim(queries, documents, length_normalize=length_normalize)
    assert max_abs_diff(maxsim(queries, documents, length_normalize=length_normalize), expected) <= TOLERANCE
    chunked = maxsim(queries, documents, length_normalize=length_normalize, chunk_elements=50)
    assert max_abs_diff(chunked, expected) <= TOLERANCE
    arrays = [item.numpy() for item in documents]
    assert max_abs_diff(maxsim(queries, arrays, length_normalize=length_normalize), expected) <= TOLERANCE
    padded = torch.nn.utils.rnn.pad_sequence(documents, batch_first=True)  # zero rows count as padding
    assert max_abs_diff(maxsim(queries, padded, length_normalize=length_normalize), expected) <= TOLERANCE
    pairs = st_util.maxsim_pairwise(queries, documents[:5], length_normalize=length_normalize)
    ours_pairs = maxsim_pairwise(queries, documents[:5], length_normalize=length_normalize, chunk_elements=40)
    assert max_abs_diff(ours_pairs, pairs) <= TOLERANCE


def test_maxsim_masks_single_items_and_means() -> None:
    queries, documents = _ragged(2, 3), _ragged(3, 4)
    padded_queries = torch.nn.utils.rnn.pad_sequence(queries, batch_first=True)
    padded_documents = torch.nn.utils.rnn.pad_sequence(documents, batch_first=True)
    generator = torch.Generator().manual_seed(4)
    query_mask = (torch.rand(padded_queries.shape[:2], generator=generator) > 0.3).float()
    document_mask = torch.rand(padded_documents.shape[:2], generator=generator) > 0.3
    document_mask[:, 0] = True
    arguments = (padded_queries, padded_documents, query_mask, document_mask)
    assert max_abs_diff(maxsim(*arguments), st_util.maxsim(*arguments)) <= TOLERANCE
    assert max_abs_diff(mean_maxsim(*arguments), st_util.mean_maxsim(*arguments)) <= TOLERANCE
    paired = (padded_queries, padded_documents[:3], query_mask, document_mask[:3])
    assert max_abs_diff(mean_maxsim_pairwise(*paired), st_util.mean_maxsim_pairwise(*paired)) <= TOLERANCE
    single = maxsim(queries[0], documents[0])
    assert single.shape == (1, 1)
    assert max_abs_diff(single, st_util.maxsim(queries[0], documents[0])) <= TOLERANCE
    empty_document = [documents[0], torch.zeros(0, 8)]
    assert maxsim(queries, empty_document)[:, 1].eq(EMPTY_DOCUMENT_SCORE).all()
    assert maxsim([], documents).shape == (0, 4)
    assert maxsim_pairwise([], []).shape == (0,)


def test_maxsim_rejects_bad_input() -> None:
    queries, documents = _ragged(5, 2), _ragged(6, 3)
    with pytest.raises(InputError, match="dimensions"):
        maxsim(queries, [torch.randn(3, 4)])
    with pytest.raises(InputError, match="as many items"):
        maxsim_pairwise(queries, documents)
    with pytest.raises(InputError, match="chunk_elements"):
        maxsim(queries, documents, chunk_elements=0)
    with pytest.raises(InputError, match="b_mask"):
        maxsim(queries, documents, b_mask=torch.ones(3, 99))
    with pytest.raises(InputError, match="shape"):
        maxsim(torch.randn(4), documents)
    with pytest.raises(InputTypeError):
        maxsim("not embeddings", documents)


def test_padded_token_embedding_helpers_match_reference() -> None:
    embeddings = [torch.randn(2, 3, 4), torch.randn(2, 5, 4)]
    masks = [torch.ones(2, 3), torch.ones(2, 5)]
    for ours, reference in (
        (stack_padded_token_embeddings, st_util.stack_padded_token_embeddings),
        (cat_padded_token_embeddings, st_util.cat_padded_token_embeddings),
    ):
        actual, expected = ours(embeddings, masks), reference(embeddings, masks)
        assert max_abs_diff(actual[0], expected[0]) == 0
        assert max_abs_diff(actual[1], expected[1]) == 0


# ------------------------------------------------------------------------------------- search
def test_stored_corpus_search_equals_brute_force(models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = models["fixed"]
    reader = encode_token_embeddings_to_disk(model, iter(DOCUMENTS), tmp_path / "store", shard_size=3, batch_size=2)
    assert isinstance(reader, TokenEmbeddingsReader)
    assert reader.complete
    assert len(reader) == len(DOCUMENTS)
    assert reader.texts == DOCUMENTS
    direct = model.encode_document(DOCUMENTS, convert_to_numpy=True)
    assert max_abs_diff(reader[:], direct) <= TOLERANCE
    queries = model.encode_query(["capital of France", "sunny weather", "stadium"])
    brute = maxsim(queries, direct)  # (3, N)

    budget, sizes, blocks = 2_000, [], []
    original = maxsim_module._score_documents

    def spy(queries_chunk, query_mask, documents_chunk, document_mask):  # type: ignore[no-untyped-def]
        q, tq, dim = queries_chunk.shape
        d, td, _ = documents_chunk.shape
        blocks.append((d, q * tq * d * td + q * tq * dim + d * td * dim))
        return original(queries_chunk, query_mask, documents_chunk, document_mask)

    def counting(a, b, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(len(b))
        return maxsim(a, b, **kwargs)

    monkeypatch.setattr(maxsim_module, "_score_documents", spy)
    results = multi_vector_search(
        queries, reader, top_k=4, corpus_chunk_size=5, score_function=counting, chunk_elements=budget
    )
    assert max(sizes) <= 5
    assert sum(sizes) == len(DOCUMENTS)
    assert len(blocks) > len(sizes)  # each corpus chunk was scored in several smaller blocks
    assert all(elements <= budget for documents, elements in blocks if documents > 1)
    for row, hits in enumerate(results):
        top = torch.topk(brute[row], 4)
        assert [hit["score"] for hit in hits] == pytest.approx(top.values.tolist(), abs=TOLERANCE)
        assert {hit["corpus_id"] for hit in hits} == set(top.indices.tolist())
    in_memory = multi_vector_search(queries, list(direct), top_k=4, corpus_chunk_size=3)
    assert [[hit["corpus_id"] for hit in hits] for hits in in_memory] == [
        [hit["corpus_id"] for hit in hits] for hits in results
    ]


def test_search_and_store_reject_bad_input(models, tmp_path: Path) -> None:
    model, _ = models["fixed"]
    with pytest.raises(InputError, match="top_k"):
        multi_vector_search([torch.randn(2, 16)], [torch.randn(3, 16)], top_k=0)
    with pytest.raises(InputTypeError):
        encode_token_embeddings_to_disk(model, "one string", tmp_path / "store")
    with pytest.raises(InputTypeError, match="index 1"):
        encode_token_embeddings_to_disk(model, ["ok", 3], tmp_path / "store")
    with pytest.raises(InputError, match="is not a token-embeddings folder: it has no manifest"):
        TokenEmbeddingsReader(tmp_path / "nothing")
    (tmp_path / "newer").mkdir()
    (tmp_path / "newer" / "manifest.json").write_text('{"format": "sentkit-token-embeddings", "version": 99}')
    with pytest.raises(InputError, match="format version 99; this sentkit reads up to 1"):
        TokenEmbeddingsReader(tmp_path / "newer")
    (tmp_path / "newer" / "manifest.json").write_text('{"format": "sentkit-embeddings", "version": 1}')
    with pytest.raises(InputError, match="not a sentkit-token-embeddings manifest"):
        TokenEmbeddingsReader(tmp_path / "newer")
