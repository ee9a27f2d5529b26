"""Every limit and error of the server, auth and CORS, graceful shutdown, and the micro-batcher alone."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from sentkit.errors import ConfigurationError  # noqa: E402
from sentkit.server import MicroBatcher, ServerSettings  # noqa: E402
from tests.test_server_support import Controlled, live_server, queued, tiny_dense_model, wait_until  # noqa: E402

JSON_TYPE = {"content-type": "application/json"}
LIMITS = {"max_items_per_request": 4, "max_chars_per_item": 50, "max_payload_bytes": 2000}


@pytest.fixture(scope="module")
def dense(hf_checkpoints: dict[str, Path]) -> Any:
    return tiny_dense_model(hf_checkpoints)


@pytest.fixture(scope="module")
def limited(dense: Any) -> Any:
    with live_server({"tiny": dense}, **LIMITS) as running:
        yield running


def _error(reply: Any, status: int) -> str:
    assert reply.status_code == status, reply.text
    body = reply.json()["error"]
    assert body["code"] == status
    assert body["type"]
    assert body["message"]
    return str(body["message"])


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"inputs": ["a"] * 5}, 413, "limit is 4"),
        ({"inputs": "x" * 51}, 413, "51 characters"),
        ({"inputs": []}, 422, "empty list"),
        ({"inputs": ""}, 422, "inputs has no content"),
        ({"inputs": ["ok", ""]}, 422, "indices [1] have no content"),
        ({"inputs": [" \t", "ok", "\u200b", "\x00"]}, 422, "indices [0, 2, 3] have no content"),
        ({"inputs": ["ok", 3]}, 422, "inputs[1] must be a string"),
        ({"inputs": [1, 2, 3]}, 422, "token-id"),
        (b'{"inputs": "\\ud800"}', 422, "lone surrogate"),  # JSON can carry what UTF-8 cannot
        (b'{"inputs": ', 422, "JSON"),
        ({}, 422, "inputs: Field required"),
        ({"inputs": "a", "prompt_name": "nope"}, 422, "prompt_name='nope'"),
        ({"inputs": "a", "dimensions": 0}, 422, "dimensions must be between 1"),
        ({"inputs": "a", "truncation_direction": "Left"}, 422, "not supported"),
        ({"inputs": "a", "model": "other"}, 404, "not served"),
    ],
)
def test_embed_refusals(limited: Any, body: Any, status: int, words: str) -> None:
    if isinstance(body, bytes):
        reply = httpx.post(f"{limited.url}/embed", content=body, headers=JSON_TYPE)
    else:
        reply = httpx.post(f"{limited.url}/embed", json=body, timeout=30)
    assert words in _error(reply, status)


def test_payload_limit_by_length_and_by_chunked_body(limited: Any) -> None:
    large = b'{"inputs": "' + b"x" * 3000 + b'"}'
    declared = httpx.post(f"{limited.url}/embed", content=large, headers=JSON_TYPE)
    assert "exceeds the limit of 2000 bytes" in _error(declared, 413)
    chunked = httpx.post(f"{limited.url}/embed", content=iter([large[:1500], large[1500:]]), timeout=30)
    assert "exceeds the limit" in _error(chunked, 413)
    small_chunked = httpx.post(
        f"{limited.url}/embed", content=iter([b'{"inputs": ', b'"fine"}']), headers=JSON_TYPE, timeout=30
    )
    assert small_chunked.status_code == 200


def test_too_long_without_truncate_is_413_and_other_endpoint_errors(limited: Any, dense: Any) -> None:
    long_text = "weather " * 6  # 6 tokens + 2 specials; the model reads 4 while this test runs
    dense.max_seq_length, before = 4, dense.max_seq_length
    try:
        refused = httpx.post(f"{limited.url}/embed", json={"inputs": long_text}, timeout=30)
        accepted = httpx.post(f"{limited.url}/embed", json={"inputs": long_text, "truncate": True}, timeout=30)
        openai = httpx.post(f"{limited.url}/v1/embeddings", json={"input": long_text, "model": "tiny"}, timeout=30)
    finally:
        dense.max_seq_length = before
    assert "reads at most 4" in _error(refused, 413)
    assert accepted.status_code == 200
    assert openai.status_code == 200
    assert openai.json()["usage"]["prompt_tokens"] == 4
    no_reranker = httpx.post(f"{limited.url}/rerank", json={"query": "q", "texts": ["a"]}, timeout=30)
    assert "serves no rerank model" in _error(no_reranker, 501)
    bad_format = httpx.post(f"{limited.url}/v1/embeddings", json={"input": "a", "encoding_format": "int"})
    assert "encoding_format" in _error(bad_format, 422)


def test_full_queue_is_429_with_retry_after_and_timeout_is_503(dense: Any) -> None:
    held = Controlled(dense)
    held.gate.clear()
    replies: list[Any] = []
    limits = {"max_queue_items": 3, "max_items_per_request": 3, "request_timeout_s": 0.5}
    with live_server({"held": held}, **limits) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        first = threading.Thread(target=lambda: replies.append(client.post("/embed", json={"inputs": "a"})))
        first.start()
        assert held.entered.wait(10)  # the worker holds "a"; the queue is empty again
        second = threading.Thread(target=lambda: replies.append(client.post("/embed", json={"inputs": ["b", "c"]})))
        second.start()
        assert wait_until(lambda: queued(running, "held") == 2)
        full = client.post("/embed", json={"inputs": ["d", "e"]})
        first.join(30)
        second.join(30)
        held.gate.set()
    assert "is full" in _error(full, 429)
    assert full.headers["retry-after"] == "1"
    assert sorted(reply.status_code for reply in replies) == [503, 503]
    assert "did not finish within 0.5 s" in _error(replies[0], 503)
    assert replies[0].headers["retry-after"] == "1"


def test_api_key_guards_everything_but_health(dense: Any) -> None:
    openai = pytest.importorskip("openai")
    with live_server({"tiny": dense}, api_key="s3cret") as running:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            missing = client.post("/embed", json={"inputs": "a"})
            wrong = client.post("/embed", json={"inputs": "a"}, headers={"Authorization": "Bearer s3cre"})
            metrics = client.get("/metrics")
            health = client.get("/health")
            right = client.post("/embed", json={"inputs": "a"}, headers={"Authorization": "Bearer s3cret"})
        good = openai.OpenAI(base_url=f"{running.url}/v1", api_key="s3cret", max_retries=0, timeout=30)
        bad = openai.OpenAI(base_url=f"{running.url}/v1", api_key="guess", max_retries=0, timeout=30)
        vector = good.embeddings.create(input="a", model="tiny").data[0].embedding
        with pytest.raises(openai.AuthenticationError):
            bad.embeddings.create(input="a", model="tiny")
    for reply in (missing, wrong, metrics):
        assert "API key" in _error(reply, 401)
        assert reply.headers["www-authenticate"] == "Bearer"
    assert health.status_code == 200
    assert right.status_code == 200
    assert np.abs(np.array(vector) - dense.encode("a")).max() <= 1e-6


def test_cors_is_off_unless_configured(dense: Any, limited: Any) -> None:
    origin = {"Origin": "https://app.example"}
    assert "access-control-allow-origin" not in httpx.get(f"{limited.url}/info", headers=origin).headers
    with live_server({"tiny": dense}, cors_origins=("https://app.example",)) as running:
        simple = httpx.get(f"{running.url}/info", headers=origin)
        preflight = httpx.options(
            f"{running.url}/embed",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.status_code == 200


def test_graceful_shutdown_finishes_the_request_in_flight(dense: Any) -> None:
    slow = Controlled(dense)
    slow.gate.clear()
    reply: list[Any] = []
    with live_server({"slow": slow}) as running:
        caller = threading.Thread(
            target=lambda: reply.append(httpx.post(f"{running.url}/embed", json={"inputs": "late"}, timeout=30))
        )
        caller.start()
        assert slow.entered.wait(10)
        running.server.should_exit = True  # what SIGTERM does
        threading.Timer(0.5, slow.gate.set).start()  # the model answers after shutdown has begun
        caller.join(30)
        running.thread.join(30)
        assert not running.thread.is_alive()
    assert reply[0].status_code == 200
    assert np.abs(np.array(reply[0].json()[0]) - dense.encode("late", normalize_embeddings=True)).max() <= 1e-6


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_items_per_request"):
        ServerSettings(max_items_per_request=10, max_queue_items=5)
    with pytest.raises(ConfigurationError, match="request_timeout_s"):
        ServerSettings(request_timeout_s=0)
    with pytest.raises(ConfigurationError, match="api_key"):
        ServerSettings(api_key="")


def _collect(enabled: bool, jobs: list[tuple[list[str], list[int], Any]], budget: int) -> tuple[list[Any], list[Any]]:
    """Queue ``jobs`` while the worker is blocked, release it, return (calls, results per job)."""
    calls: list[tuple[Any, list[str]]] = []
    gate = threading.Event()

    def run(key: Any, items: list[str]) -> list[str]:
        gate.wait(10)
        calls.append((key, list(items)))
        return [f"{key}:{item}" for item in items]

    async def main() -> list[Any]:
        batcher = MicroBatcher(
            run, name="t", max_batch_tokens=budget, max_wait_s=0, max_queue_items=100, enabled=enabled
        )
        blocker = batcher.enqueue(["block"], [1], "k0")
        assert blocker is not None
        await asyncio.sleep(0.05)  # the worker takes the blocker and waits at the gate
        futures = [batcher.enqueue(items, tokens, key) for items, tokens, key in jobs]
        gate.set()
        results = await asyncio.wait_for(asyncio.gather(*futures), 10)  # type: ignore[arg-type]
        await asyncio.to_thread(batcher.close, 10)
        return list(results)

    results = asyncio.run(main())
    return calls[1:], results


def test_batcher_merges_by_key_splits_by_budget_and_keeps_order() -> None:
    jobs = [(["a", "b", "c"], [2, 2, 2], "x"), (["d"], [5], "y"), (["e", "f"], [1, 1], "x")]
    calls, results = _collect(True, jobs, budget=5)
    # Budget 5: a, b and (from the third request, same key) e fill the first call; c and f the next.
    assert calls == [("x", ["a", "b", "e"]), ("x", ["c", "f"]), ("y", ["d"])]
    assert results == [["x:a", "x:b", "x:c"], ["y:d"], ["x:e", "x:f"]]
    calls_off, results_off = _collect(False, jobs, budget=5)
    assert calls_off == [("x", ["a", "b", "c"]), ("y", ["d"]), ("x", ["e", "f"])]
    assert results_off == results


def test_batcher_runs_an_item_over_budget_alone() -> None:
    calls, results = _collect(True, [(["big", "small"], [50, 1], "k")], budget=10)
    assert calls == [("k", ["big"]), ("k", ["small"])]
    assert results == [["k:big", "k:small"]]
