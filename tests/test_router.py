"""Router (and its older name Asym): routing by task or by {route: text} inputs, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import sentkit.models as models
from sentkit import SentenceTransformer
from sentkit.errors import ConfigurationError, InputError
from tests.module_builders import WORD_DIM, pipeline
from tests.reference import max_abs_diff

QUERIES = ["A cat and a dog in the garden.", "It's so sunny outside!"]


@pytest.fixture(scope="module")
def asym_model() -> SentenceTransformer:
    return SentenceTransformer(modules=pipeline(models, "asym"), device="cpu")


def test_seed_asym_example_with_dict_inputs(asym_model: SentenceTransformer) -> None:
    by_key = asym_model.encode([{"query": QUERIES[0]}, {"query": QUERIES[1]}])
    by_task = asym_model.encode(QUERIES, task="query")
    docs = asym_model.encode([{"doc": QUERIES[0]}, {"doc": QUERIES[1]}])
    assert by_key.shape == (2, 4)
    assert max_abs_diff(by_key, by_task) == 0.0
    assert max_abs_diff(docs, by_key) > 1e-3  # the two routes have different Dense layers
    assert max_abs_diff(asym_model.encode({"doc": QUERIES[0]}), docs[0]) <= 1e-6


def test_without_a_task_the_first_route_is_the_default(asym_model: SentenceTransformer) -> None:
    assert max_abs_diff(asym_model.encode(QUERIES), asym_model.encode(QUERIES, task="query")) == 0.0


def test_mixed_routes_in_one_batch_are_an_error(asym_model: SentenceTransformer) -> None:
    with pytest.raises(InputError, match=r"mix the routes \['doc', 'query'\]"):
        asym_model.encode([{"query": "Q1"}, {"doc": "Doc1"}])
    with pytest.raises(InputError, match="has keys"):
        asym_model.encode([{"query": "Q1", "doc": "D1"}])
    with pytest.raises(InputError, match="contradicts"):
        asym_model.encode([{"query": "Q1"}], task="doc")


def test_unknown_task_names_the_routes(asym_model: SentenceTransformer) -> None:
    with pytest.raises(InputError, match=r"No route for task 'document'; the routes are \['query', 'doc'\]"):
        asym_model.encode_document(QUERIES)


def test_allow_empty_key_false_needs_a_task() -> None:
    modules = pipeline(models, "asym")
    routes = modules[2].routes()
    strict = models.Asym(routes, allow_empty_key=False)
    model = SentenceTransformer(modules=[modules[0], modules[1], strict], device="cpu")
    with pytest.raises(InputError, match="needs a task"):
        model.encode(QUERIES)
    assert model.encode(QUERIES, task="doc").shape == (2, 4)


def test_query_document_router_with_encode_query_and_document(hf_checkpoints: dict[str, Path]) -> None:
    model = SentenceTransformer(modules=pipeline(models, "router_first", hf_checkpoints["bert"]), device="cpu")
    query = model.encode_query(QUERIES)
    document = model.encode_document(QUERIES)
    assert max_abs_diff(query, model.encode(QUERIES, task="query")) == 0.0
    assert max_abs_diff(document, model.encode(QUERIES)) == 0.0  # default route: document
    assert max_abs_diff(query, document) > 1e-4  # cls pooling vs mean pooling


def test_route_mappings_take_precedence() -> None:
    modules = pipeline(models, "asym")
    router = models.Router(modules[2].routes(), route_mappings={("search", None): "doc"})
    model = SentenceTransformer(modules=[modules[0], modules[1], router], device="cpu")
    assert max_abs_diff(model.encode(QUERIES, task="search"), model.encode(QUERIES, task="doc")) == 0.0


def test_bad_router_configurations() -> None:
    with pytest.raises(ConfigurationError, match="at least one route"):
        models.Router({})
    with pytest.raises(ConfigurationError, match="'nope' is not among the routes"):
        models.Router({"query": [models.Dense(WORD_DIM, 4)]}, default_route="nope")
