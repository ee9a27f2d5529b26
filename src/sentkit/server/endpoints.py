"""The HTTP endpoints: OpenAI's ``/v1/embeddings``, TEI's ``/embed``, ``/embed_sparse``, ``/rerank``,
``/similarity``, ``/tokenize``, sentkit's ``/search`` (over saved vector indexes), and ``/health``,
``/info``, ``/metrics``, ``/v1/models``."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from sentkit.server.handling import (
    api_error,
    check_prompt,
    check_text,
    check_texts,
    check_truncation_direction,
    count_tokens,
    resolve_model,
    run_items,
)
from sentkit.server.metrics import Registry
from sentkit.server.runners import ServedModel, server_info
from sentkit.server.schemas import (
    EmbeddingsRequest,
    EmbedRequest,
    EmbedSparseRequest,
    RerankRequest,
    SearchRequest,
    SimilarityRequest,
    TokenizeRequest,
)
from sentkit.server.settings import ServerSettings

router = APIRouter()

PROBE_TEXT = "health check"
MAX_SEARCH_TOP_K = 10_000  # hits per query that /search answers at most


@dataclass
class ServerState:
    """What the endpoints share, kept on ``app.state.sentkit``."""

    models: dict[str, ServedModel]
    settings: ServerSettings
    metrics: Registry
    indexes: dict[str, Any] = field(default_factory=dict)  # name -> sentkit.index.VectorIndex


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.sentkit
    return state


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status_code=status, media_type="application/json")


def _shape_rows(rows: list[np.ndarray], dimensions: int | None, normalize: bool, served: ServedModel) -> np.ndarray:
    """Stack float32 rows (N, D), cut to ``dimensions`` then L2-normalise, in ``encode``'s order."""
    matrix = np.stack(rows).astype(np.float32, copy=False)  # (N, D)
    if dimensions is not None:
        if isinstance(dimensions, bool) or dimensions <= 0 or dimensions > matrix.shape[1]:
            raise api_error(422, f"dimensions must be between 1 and {matrix.shape[1]} for model {served.name!r}.")
        matrix = matrix[:, :dimensions]  # (N, dimensions)
    if normalize:
        import torch

        matrix = torch.nn.functional.normalize(torch.from_numpy(np.ascontiguousarray(matrix)), p=2, dim=1).numpy()
    return matrix


async def _embed_dense(
    state: ServerState, served: ServedModel, texts: list[str], prompt_name: str | None, truncate: bool
) -> tuple[list[np.ndarray], int]:
    """Dense rows for ``texts`` through the batcher, and the tokens they held."""
    check_prompt(served, prompt_name)
    prompt = served.prompt_text(prompt_name)
    tokens = await count_tokens(served, [prompt + text for text in texts], truncate)
    rows = await run_items(served, texts, tokens, prompt_name, state.settings, state.metrics)
    return rows, sum(tokens)


@router.post("/v1/embeddings")
async def openai_embeddings(body: EmbeddingsRequest, request: Request) -> Response:
    """OpenAI's embeddings API; inputs longer than the model's limit are truncated, as ``encode`` does.

    ``dimensions`` keeps the first N values (``encode(truncate_dim=N)``), without re-normalising.
    """
    state = _state(request)
    texts, _ = check_texts(body.input, "input", state.settings)
    served = resolve_model(state.models, body.model, "dense")
    rows, tokens = await _embed_dense(state, served, texts, None, truncate=True)
    matrix = _shape_rows(rows, body.dimensions, False, served)
    data = []
    for index, row in enumerate(matrix):
        vector: Any = row.tolist()
        if body.encoding_format == "base64":
            vector = base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": vector})
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return _json({"object": "list", "data": data, "model": served.name, "usage": usage})


@router.post("/embed")
async def embed(body: EmbedRequest, request: Request) -> Response:
    """TEI's ``/embed``: a list of vectors, L2-normalised unless ``normalize`` is false."""
    state = _state(request)
    check_truncation_direction(body.truncation_direction)
    texts, _ = check_texts(body.inputs, "inputs", state.settings)
    served = resolve_model(state.models, body.model, "dense")
    rows, _ = await _embed_dense(state, served, texts, body.prompt_name, body.truncate)
    return _json(_shape_rows(rows, body.dimensions, body.normalize, served).tolist())


@router.post("/embed_sparse")
async def embed_sparse(body: EmbedSparseRequest, request: Request) -> Response:
    """TEI's ``/embed_sparse``: per text, its non-zero ``{"index": token id, "value": weight}``, by index."""
    state = _state(request)
    check_truncation_direction(body.truncation_direction)
    texts, _ = check_texts(body.inputs, "inputs", state.settings)
    served = resolve_model(state.models, body.model, "sparse")
    check_prompt(served, body.prompt_name)
    prompt = served.prompt_text(body.prompt_name)
    tokens = await count_tokens(served, [prompt + text for text in texts], body.truncate)
    rows = await run_items(served, texts, tokens, body.prompt_name, state.settings, state.metrics)
    return _json(
        [
            [{"index": int(i), "value": float(v)} for i, v in zip(ids.tolist(), weights.tolist(), strict=True)]
            for ids, weights in rows
        ]
    )


@router.post("/rerank")
async def rerank(body: RerankRequest, request: Request) -> Response:
    """TEI's ``/rerank``: ``[{"index", "score"(, "text")}]`` best first (ties in input order), cut to ``top_n``.

    Scores are ``CrossEncoder.predict``'s (the model's activation), or the logits with ``raw_scores``.
    """
    state = _state(request)
    check_truncation_direction(body.truncation_direction)
    query = check_text(body.query, "query", state.settings)
    texts, _ = check_texts(body.texts, "texts", state.settings)
    if body.top_n is not None and body.top_n <= 0:
        raise api_error(422, f"top_n must be positive, got {body.top_n}.")
    served = resolve_model(state.models, body.model, "rerank")
    labels = getattr(served.model, "num_labels", 1)
    if labels != 1:
        raise api_error(400, f"Model {served.name!r} has {labels} labels; /rerank needs a model with one.")
    pairs = [(query, text) for text in texts]
    tokens = await count_tokens(served, pairs, body.truncate)
    scores = await run_items(served, pairs, tokens, bool(body.raw_scores), state.settings, state.metrics)
    ranked = sorted(range(len(texts)), key=lambda i: float(scores[i]), reverse=True)[: body.top_n]
    results = []
    for index in ranked:
        result: dict[str, Any] = {"index": index, "score": float(scores[index])}
        if body.return_text:
            result["text"] = texts[index]
        results.append(result)
    return _json(results)


@router.post("/similarity")
async def similarity(body: SimilarityRequest, request: Request) -> Response:
    """TEI's ``/similarity``: the model's similarity of ``source_sentence`` to each of ``sentences``."""
    state = _state(request)
    check_truncation_direction(body.truncation_direction)
    source = check_text(body.inputs.source_sentence, "inputs.source_sentence", state.settings)
    sentences, _ = check_texts(body.inputs.sentences, "inputs.sentences", state.settings)
    served = resolve_model(state.models, body.model, "dense")
    rows, _ = await _embed_dense(state, served, [source, *sentences], body.prompt_name, body.truncate)
    scores = served.model.similarity(np.stack(rows[:1]), np.stack(rows[1:]))  # (1, M)
    return _json([float(score) for score in scores[0].tolist()])


@router.post("/search")
async def search(body: SearchRequest, request: Request) -> Response:
    """Search a served vector index: per query, ``[{"corpus_id", "score", "metadata"}]`` best first.

    The queries are embedded by the dense model (``model``, default the first) with ``prompt_name``,
    by default its "query" prompt when it has one (as ``encode_query``), then searched with
    ``VectorIndex.search(top_k, rescore)`` off the event loop.
    """
    state = _state(request)
    queries, _ = check_texts(body.inputs, "inputs", state.settings)
    if not state.indexes:
        raise api_error(501, "This server serves no vector index; start it with --index NAME=PATH.")
    if body.index is not None and body.index not in state.indexes:
        raise api_error(404, f"Index {body.index!r} is not served here; available: {sorted(state.indexes)}.")
    index = state.indexes[body.index] if body.index is not None else next(iter(state.indexes.values()))
    if not 0 < body.top_k <= MAX_SEARCH_TOP_K:
        raise api_error(422, f"top_k must be between 1 and {MAX_SEARCH_TOP_K}, got {body.top_k}.")
    served = resolve_model(state.models, body.model, "dense")
    prompt_name = body.prompt_name
    if prompt_name is None and served.has_prompt("query"):
        prompt_name = "query"
    rows, _ = await _embed_dense(state, served, queries, prompt_name, body.truncate)
    matrix = np.stack(rows).astype(np.float32, copy=False)  # (Q, D)
    if matrix.shape[1] != index.dimension:
        raise api_error(
            400,
            f"Model {served.name!r} gives {matrix.shape[1]}-dimensional embeddings but the index holds "
            f"{index.dimension}-dimensional ones; pass the model that built it.",
        )
    hits = await run_in_threadpool(index.search, matrix, body.top_k, body.rescore)
    return _json(hits)


@router.post("/tokenize")
async def tokenize(body: TokenizeRequest, request: Request) -> Response:
    """TEI's ``/tokenize``: per text, ``{"id", "text", "special", "start", "stop"}`` (offsets in characters)."""
    state = _state(request)
    texts, _ = check_texts(body.inputs, "inputs", state.settings)
    if body.model is not None and body.model not in state.models:
        raise api_error(404, f"Model {body.model!r} is not served here; available: {sorted(state.models)}.")
    served = state.models[body.model] if body.model is not None else next(iter(state.models.values()))
    if not served.counter.exact:
        raise api_error(501, f"Model {served.name!r} has no Hugging Face fast tokenizer to tokenize with.")
    check_prompt(served, body.prompt_name)
    prompt = served.prompt_text(body.prompt_name)
    tokens = await run_in_threadpool(served.counter.tokens, [prompt + text for text in texts], body.add_special_tokens)
    return _json(tokens)


@router.get("/health")
async def health(request: Request) -> Response:
    """A real forward pass per served model: 200 when all answer with finite values, else 503."""
    state = _state(request)
    problems: dict[str, str] = {}
    for served in state.models.values():
        item: Any = (PROBE_TEXT, PROBE_TEXT) if served.kind == "rerank" else PROBE_TEXT
        key: Any = False if served.kind == "rerank" else None
        try:
            (result,) = await run_items(
                served, [item], [8], key, state.settings, state.metrics, timeout=state.settings.health_timeout_s
            )
        except HTTPException as exc:
            problems[served.name] = str(exc.detail)
            continue
        values = result[1] if served.kind == "sparse" else result
        if not np.all(np.isfinite(np.asarray(values, dtype=np.float32))):
            problems[served.name] = "the model returned NaN or inf"
    if problems:
        return _json({"status": "unavailable", "models": problems}, status=503)
    return _json({"status": "ok", "models": sorted(state.models)})


@router.get("/info")
async def info(request: Request) -> Response:
    state = _state(request)
    facts = server_info(state.models, state.settings)
    if state.indexes:
        facts["indexes"] = [{"name": name, "index": repr(index)} for name, index in state.indexes.items()]
    return _json(facts)


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    """OpenAI's model list, so clients that ask for it find the served names."""
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "sentkit"} for name in _state(request).models]
    return _json({"object": "list", "data": data})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format: requests, latency, batch sizes and tokens, queue depth, tokens."""
    text = _state(request).metrics.render()
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
