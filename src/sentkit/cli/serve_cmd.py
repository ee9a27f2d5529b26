"""``sentkit serve``: the HTTP server (OpenAI and TEI endpoints) over one or several models."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sentkit.cli.common import BACKENDS, DEFAULT_MODEL, positive_int
from sentkit.errors import InputError

API_KEY_VARIABLE = "SENTKIT_API_KEY"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve models over HTTP (OpenAI /v1/embeddings, TEI /embed, /rerank, ...)",
        description=(
            "Serve models over HTTP. Each model is NAME or ALIAS=NAME (the alias is what requests pass as "
            "'model'); requests without 'model' go to the first model of the kind the endpoint needs. "
            "Needs the server extra: pip install 'sentkit[server]'."
        ),
    )
    parser.add_argument(
        "-m", "--model", action="append", default=None, help=f"embedding model (repeatable; default: {DEFAULT_MODEL})"
    )
    parser.add_argument("--reranker", action="append", default=[], help="cross-encoder model (repeatable)")
    parser.add_argument("--sparse", action="append", default=[], help="sparse (SPLADE) model (repeatable)")
    parser.add_argument(
        "--index", action="append", default=[], help="saved vector index for POST /search, NAME=PATH (repeatable)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--device", default=None, help="device for all models (default: the best available)")
    parser.add_argument(
        "--backend",
        default="torch",
        choices=BACKENDS,
        help="inference engine; auto: the fastest for this CPU (default: torch)",
    )
    parser.add_argument(
        "--api-key", default=None, help=f"require 'Authorization: Bearer KEY' (or set {API_KEY_VARIABLE})"
    )
    parser.add_argument("--cors-origin", action="append", default=[], help="allow this CORS origin (repeatable)")
    parser.add_argument("--no-batching", action="store_true", help="run each request alone (no micro-batching)")
    parser.add_argument("--max-batch-tokens", type=positive_int, default=16384, help="token budget per model call")
    parser.add_argument("--max-wait-ms", type=float, default=2.0, help="wait for more requests (default: 2 ms)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="encode batch size (default: 32)")
    parser.add_argument("--max-items", type=positive_int, default=2048, help="texts per request (default: 2048)")
    parser.add_argument("--max-chars", type=positive_int, default=100_000, help="characters per text")
    parser.add_argument("--max-payload-mb", type=float, default=16.0, help="request body limit in MiB (default: 16)")
    parser.add_argument("--max-queue", type=positive_int, default=16384, help="queued texts before 429 (per model)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds (default: 60)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    parser.set_defaults(run=run)


def parse_model_specs(specs: list[str]) -> list[tuple[str, str]]:
    """``["a=path", "name"]`` -> ``[("a", "path"), ("name", "name")]``.

    Raises:
        InputError: an empty alias or name.
    """
    pairs = []
    for spec in specs:
        alias, separator, name = spec.partition("=")
        if not separator:
            alias, name = spec, spec
        if not alias or not name:
            raise InputError(f"Model {spec!r} must be NAME or ALIAS=NAME.")
        pairs.append((alias, name))
    return pairs


def run(args: argparse.Namespace) -> int:
    from sentkit.server import ServerSettings, create_app, serve

    settings = ServerSettings(
        max_items_per_request=args.max_items,
        max_chars_per_item=args.max_chars,
        max_payload_bytes=int(args.max_payload_mb * 1024 * 1024),
        max_queue_items=args.max_queue,
        request_timeout_s=args.timeout,
        micro_batching=not args.no_batching,
        max_batch_tokens=args.max_batch_tokens,
        max_wait_ms=args.max_wait_ms,
        encode_batch_size=args.batch_size,
        api_key=args.api_key or os.environ.get(API_KEY_VARIABLE) or None,
        cors_origins=tuple(args.cors_origin),
    )
    models = load_models(args)
    indexes = load_indexes(args.index)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    print(f"sentkit: serving {', '.join(models)} on http://{args.host}:{args.port}", file=sys.stderr)
    serve(create_app(models, settings, indexes), args.host, args.port, log_level=args.log_level)
    return 0


def load_models(args: argparse.Namespace) -> dict[str, Any]:
    """Load every model named on the command line, keyed by its alias.

    Raises:
        InputError: the same alias twice. Model loading errors as the model classes raise them.
    """
    from sentkit.cli.common import build_model

    wanted = [("dense", spec) for spec in (args.model or ([] if args.reranker or args.sparse else [DEFAULT_MODEL]))]
    wanted += [("rerank", spec) for spec in args.reranker] + [("sparse", spec) for spec in args.sparse]
    models: dict[str, Any] = {}
    for kind, spec in wanted:
        for alias, name in parse_model_specs([spec]):
            if alias in models:
                raise InputError(f"Two models are named {alias!r}; give one another alias with ALIAS=NAME.")
            models[alias] = build_model(kind, name, args.device, args.backend)
    return models


def load_indexes(specs: list[str]) -> dict[str, Any]:
    """Load each saved vector index of ``--index NAME=PATH`` (or PATH, named after itself).

    Raises:
        InputError: the same name twice. IndexFormatError, OSError: from ``VectorIndex.load``.
    """
    from sentkit.index import VectorIndex

    indexes: dict[str, Any] = {}
    for name, path in parse_model_specs(specs):
        if name in indexes:
            raise InputError(f"Two indexes are named {name!r}; give one another name with NAME=PATH.")
        indexes[name] = VectorIndex.load(path)
    return indexes
