"""The HTTP server, started for real with uvicorn on 127.0.0.1: every endpoint against the library,
with httpx and with the official openai client."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.reference import TEXTS  # noqa: E402
from tests.test_server_support import (  # noqa: E402
    Controlled,
    live_server,
    optional_model,
    queued,
    tiny_dense_model,
    wait_until,
)

TOL = 1e-6
SHORT_TEXTS = [text for text in TEXTS if text]  # the server refuses empty texts (as OpenAI and TEI do)


@pytest.fixture(scope="module")
def dense(hf_checkpoints: dict[str, Path]) -> Any:
    return tiny_dense_model(hf_checkpoints)


@pytest.fixture(scope="module")
def reranker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return optional_model("rerank", tmp_path_factory.mktemp("ce") / "model")


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return optional_model("sparse", tmp_path_factory.mktemp("splade") / "model")


@pytest.fixture(scope="module")
def server(dense: Any) -> Any:
    with live_server({"tiny": dense}) as running:
        yield running


def test_openai_client_float_and_base64_equal_encode(server: Any, dense: Any) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=30)
    expected = dense.encode(SHORT_TEXTS)
    for encoding_format in ("float", "base64"):
        reply = client.embeddings.create(input=SHORT_TEXTS, model="tiny", encoding_format=encoding_format)
        vectors = [item.embedding for item in reply.data]
        if encoding_format == "base64":  # asked for explicitly, the client hands the strings back as they came
            vectors = [np.frombuffer(base64.b64decode(vector), dtype="<f4") for vector in vectors]
        got = np.array(vectors, dtype=np.float32)
        assert [item.index for item in reply.data] == list(range(len(SHORT_TEXTS)))
        assert np.abs(got - expected).max() <= TOL
        assert reply.model == "tiny"
        assert reply.usage.prompt_tokens == reply.usage.total_tokens > len(SHORT_TEXTS)
    # The client's default (base64, decoded by the client) and a single string.
    single = client.embeddings.create(input=SHORT_TEXTS[0], model="tiny")
    assert np.abs(np.array(single.data[0].embedding, dtype=np.float32) - expected[0]).max() <= TOL
    cut = client.embeddings.create(input=SHORT_TEXTS[:2], model="tiny", dimensions=8, encoding_format="float")
    assert (
        np.abs(np.array([d.embedding for d in cut.data]) - dense.encode(SHORT_TEXTS[:2], truncate_dim=8)).max() <= TOL
    )


def test_embed_tei_options_equal_encode(server: Any, dense: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        normalized = client.post("/embed", json={"inputs": SHORT_TEXTS, "truncate": True}).json()
        raw = client.post("/embed", json={"inputs": SHORT_TEXTS[0], "normalize": False}).json()
        cut = client.post("/embed", json={"inputs": SHORT_TEXTS[:3], "dimensions": 5, "truncate": True}).json()
        prompted = client.post("/embed", json={"inputs": SHORT_TEXTS[:2], "prompt_name": "query"}).json()
    assert np.abs(np.array(normalized) - dense.encode(SHORT_TEXTS, normalize_embeddings=True)).max() <= TOL
    assert np.abs(np.array(raw) - dense.encode(SHORT_TEXTS[:1])).max() <= TOL
    expected_cut = dense.encode(SHORT_TEXTS[:3], truncate_dim=5, normalize_embeddings=True)
    assert np.abs(np.array(cut) - expected_cut).max() <= TOL
    expected_prompted = dense.encode(SHORT_TEXTS[:2], prompt_name="query", normalize_embeddings=True)
    assert np.abs(np.array(prompted) - expected_prompted).max() <= TOL


def test_concurrent_requests_share_model_calls_and_keep_their_results(dense: Any) -> None:
    held = Controlled(dense)
    held.gate.clear()
    texts = [f"request number {i} about {'weather ' * (i % 5)}" for i in range(12)]
    results: dict[int, Any] = {}

    def call(index: int, client: Any) -> None:
        results[index] = client.post("/embed", json={"inputs": [texts[index]], "normalize": False}).json()

    with (
        live_server({"held": held}, max_wait_ms=0) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        first = threading.Thread(target=call, args=(0, client))
        first.start()
        assert held.entered.wait(10)  # the worker is busy with request 0; the others queue up meanwhile
        others = [threading.Thread(target=call, args=(i, client)) for i in range(1, len(texts))]
        for thread in others:
            thread.start()
        assert wait_until(lambda: queued(running, "held") == len(others))
        held.gate.set()
        for thread in [first, *others]:
            thread.join(30)
    assert [len(call_texts) for call_texts in held.calls] == [1, len(others)]
    for index, text in enumerate(texts):
        assert np.abs(np.array(results[index][0]) - dense.encode(text)).max() <= TOL


def test_similarity_and_tokenize(server: Any, dense: Any) -> None:
    sentences = SHORT_TEXTS[1:4]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        scores = client.post(
            "/similarity", json={"inputs": {"source_sentence": SHORT_TEXTS[0], "sentences": sentences}}
        )
        tokens = client.post("/tokenize", json={"inputs": ["Hello there", "a"]})
        plain = client.post("/tokenize", json={"inputs": "Hello there", "add_special_tokens": False})
    expected = dense.similarity(dense.encode(SHORT_TEXTS[:1]), dense.encode(sentences))[0]
    assert np.abs(np.array(scores.json()) - expected.numpy()).max() <= TOL
    ids = dense.tokenizer(["Hello there", "a"])["input_ids"]
    assert [[token["id"] for token in row] for row in tokens.json()] == ids
    first = tokens.json()[0]
    assert first[0]["special"]
    assert first[0]["start"] is None
    assert "".join(t["text"] for t in first if not t["special"]).lower() == "hellothere"
    assert [t["id"] for t in plain.json()[0]] == ids[0][1:-1]


def test_info_health_models_and_metrics(server: Any, dense: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        info = client.get("/info").json()
        health = client.get("/health")
        listed = client.get("/v1/models").json()
        client.post("/embed", json={"inputs": ["one", "two"]})
        metrics = client.get("/metrics")
    assert info["models"][0] == {
        "name": "tiny",
        "kind": "dense",
        "class": "SentenceTransformer",
        "max_seq_length": dense.max_seq_length,
        "prompts": dense.prompts,
        "default_prompt_name": None,
        "dimension": dense.get_sentence_embedding_dimension(),
        "similarity_fn_name": "cosine",
    }
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert [model["id"] for model in listed["data"]] == ["tiny"]
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'sentkit_requests_total{endpoint="/embed",status="200"}' in text
    assert 'sentkit_request_duration_seconds_bucket{endpoint="/embed",le="+Inf"}' in text
    assert 'sentkit_batch_size_count{model="tiny"}' in text
    assert 'sentkit_queue_depth{model="tiny"} 0' in text
    assert 'sentkit_tokens_total{model="tiny"}' in text


def test_health_is_503_when_the_model_cannot_answer(dense: Any) -> None:
    broken = Controlled(dense)
    broken.fail_on = "health check"
    with live_server({"broken": broken}) as running:
        reply = httpx.get(f"{running.url}/health", timeout=30)
    assert reply.status_code == 503
    assert "refusing" in reply.json()["models"]["broken"]


def test_one_bad_request_does_not_fail_its_batch_neighbours(dense: Any) -> None:
    held = Controlled(dense)
    held.fail_on = "poison"
    held.gate.clear()
    replies: dict[str, Any] = {}

    def call(text: str, client: Any) -> None:
        replies[text] = client.post("/embed", json={"inputs": [text]})

    with live_server({"held": held}) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        threads = [threading.Thread(target=call, args=(text, client)) for text in ("warm up", "good one", "poison")]
        threads[0].start()
        assert held.entered.wait(10)
        for thread in threads[1:]:
            thread.start()
        assert wait_until(lambda: queued(running, "held") == 2)
        held.gate.set()
        for thread in threads:
            thread.join(30)
    assert replies["poison"].status_code == 422
    assert "refusing" in replies["poison"].json()["error"]["message"]
    assert replies["good one"].status_code == 200
    assert (
        np.abs(np.array(replies["good one"].json()[0]) - dense.encode("good one", normalize_embeddings=True)).max()
        <= TOL
    )


def test_rerank_equals_cross_encoder(reranker: Any) -> None:
    query, texts = "what is the weather", SHORT_TEXTS[:5]
    with live_server({"ce": reranker}) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        ranked = client.post("/rerank", json={"query": query, "texts": texts, "return_text": True}).json()
        top = client.post("/rerank", json={"query": query, "texts": texts, "top_n": 2}).json()
        raw = client.post("/rerank", json={"query": query, "texts": texts, "raw_scores": True}).json()
        missing = client.post("/embed", json={"inputs": "a"})
    expected = reranker.rank(query, texts, return_documents=True)
    assert [hit["index"] for hit in ranked] == [hit["corpus_id"] for hit in expected]
    assert [hit["text"] for hit in ranked] == [hit["text"] for hit in expected]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(ranked, expected, strict=True)) <= TOL
    assert top == [{"index": hit["index"], "score": hit["score"]} for hit in ranked[:2]]
    import torch

    logits = reranker.predict([(query, text) for text in texts], activation_fn=torch.nn.Identity())
    assert max(abs(hit["score"] - float(logits[hit["index"]])) for hit in raw) <= TOL
    assert missing.status_code == 501


def test_embed_sparse_equals_sparse_encoder(sparse: Any, dense: Any) -> None:
    texts = SHORT_TEXTS[:4]
    with live_server({"splade": sparse, "tiny": dense}) as running:
        reply = httpx.post(f"{running.url}/embed_sparse", json={"inputs": texts}, timeout=30)
        wrong_kind = httpx.post(f"{running.url}/embed", json={"inputs": "a", "model": "splade"}, timeout=30)
    expected = sparse.encode(texts, convert_to_sparse_tensor=False).cpu().numpy()  # (N, V) dense
    got = np.zeros_like(expected)
    for row, entries in enumerate(reply.json()):
        assert [entry["index"] for entry in entries] == sorted(entry["index"] for entry in entries)
        for entry in entries:
            got[row, entry["index"]] = entry["value"]
    assert np.abs(got - expected).max() <= TOL
    assert wrong_kind.status_code == 400


@pytest.mark.slow
def test_real_model_through_the_openai_client() -> None:
    openai = pytest.importorskip("openai")
    from sentkit import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")
    sentences = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    with live_server({"all-MiniLM-L6-v2": model}) as running:
        client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="unused", max_retries=0, timeout=60)
        reply = client.embeddings.create(input=sentences, model="all-MiniLM-L6-v2")
    got = np.array([item.embedding for item in reply.data], dtype=np.float32)
    assert got.shape == (3, 384)
    assert np.abs(got - model.encode(sentences)).max() <= TOL
    similarities = got @ got.T
    assert round(float(similarities[0, 1]), 4) == 0.6660
    assert round(float(similarities[0, 2]), 4) == 0.1046
