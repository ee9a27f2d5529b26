"""``sentkit search``: the top-k corpus entries for queries, from a corpus file, saved embeddings or a saved index."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sentkit.cli.common import (
    DEFAULT_MODEL,
    add_input_options,
    add_model_options,
    positive_int,
    print_json_line,
    require_texts,
    shorten,
)
from sentkit.errors import InputError

INDEX_ENGINES = ("exact", "usearch", "faiss")
INDEX_PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "search",
        help="find the corpus entries closest to queries",
        description=(
            "Semantic search: embed the queries (encode_query) and return the top-k entries of the corpus, "
            "given as texts (--corpus, embedded with encode_document), as saved embeddings (--embeddings, "
            "e.g. from 'sentkit encode'; add --corpus to show their texts) or as a saved vector index "
            "(--index, built once with --save-index). Scores are cosine similarities."
        ),
    )
    parser.add_argument("queries", nargs="*", help="query texts")
    parser.add_argument("--queries-file", default=None, help="more queries, one per line (or JSONL/CSV)")
    parser.add_argument("--corpus", default=None, help="corpus texts file (one per line, JSONL or CSV)")
    parser.add_argument(
        "--embeddings", default=None, help="saved corpus embeddings (.npy, .safetensors, .jsonl or a store folder)"
    )
    parser.add_argument(
        "--index", default=None, help="a saved vector index to search (the model defaults to the one that built it)"
    )
    parser.add_argument(
        "--save-index", default=None, metavar="PATH", help="save the corpus as a vector index (queries optional)"
    )
    parser.add_argument("--index-engine", choices=INDEX_ENGINES, default="exact", help="--save-index engine")
    parser.add_argument("--index-precision", choices=INDEX_PRECISIONS, default="float32", help="--save-index storage")
    parser.add_argument("-k", "--top-k", type=positive_int, default=10, help="hits per query (default: 10)")
    parser.add_argument("--json", action="store_true", help="one JSON line per query")
    add_input_options(parser, "corpus")
    add_model_options(parser)
    parser.set_defaults(run=run, model=None)  # None: the index's model with --index, else DEFAULT_MODEL


def run(args: argparse.Namespace) -> int:
    from sentkit.apps.search import semantic_search
    from sentkit.cli.common import load_model
    from sentkit.cli.textio import load_embeddings, read_texts

    if args.index is not None:
        return _search_index(args)
    if args.corpus is None and args.embeddings is None:
        raise InputError(
            "Give the corpus: --corpus FILE (texts), --embeddings FILE (saved embeddings) "
            "or --index FILE (a saved index)."
        )
    args.model = args.model or DEFAULT_MODEL
    queries = _queries(args)
    if args.save_index is None:
        require_texts(queries, "queries")
    corpus = read_texts(args.corpus, args.input_format, args.field) if args.corpus is not None else None
    model = load_model("dense", args)
    corpus_embeddings: Any
    if args.embeddings is not None:
        corpus_embeddings, stored_texts = load_embeddings(args.embeddings)
        corpus = corpus if corpus is not None else stored_texts
        if corpus_embeddings.dtype.kind != "f":
            raise InputError(f"{args.embeddings} holds {corpus_embeddings.dtype} embeddings; search needs float32.")
        if corpus is not None and len(corpus) != len(corpus_embeddings):
            raise InputError(
                f"{args.corpus} has {len(corpus)} texts but {args.embeddings} holds {len(corpus_embeddings)} rows."
            )
    else:
        corpus_embeddings = model.encode_document(
            require_texts(corpus or [], "corpus texts"), batch_size=args.batch_size, show_progress_bar=False
        )
    if args.save_index is not None:
        _save_index(args, corpus_embeddings, corpus)
    if not queries:
        return 0
    query_embeddings = model.encode_query(queries, batch_size=args.batch_size, show_progress_bar=False)
    hits = semantic_search(query_embeddings, corpus_embeddings, top_k=args.top_k)
    text_of = _corpus_text(corpus)
    for query, query_hits in zip(queries, hits, strict=True):
        _print_hits(query, query_hits, text_of, args.json)
    return 0


def _queries(args: argparse.Namespace) -> list[str]:
    from sentkit.cli.textio import read_texts

    queries = list(args.queries)
    if args.queries_file is not None:
        queries += read_texts(args.queries_file, args.input_format, args.field)
    return queries


def _save_index(args: argparse.Namespace, embeddings: Any, corpus: list[str] | None) -> None:
    """Save the corpus embeddings (with their texts as metadata, when known) as a cosine vector index."""
    import sys

    import numpy as np

    from sentkit.index import VectorIndex

    matrix = np.asarray(embeddings.cpu() if hasattr(embeddings, "cpu") else embeddings, dtype=np.float32)  # (N, D)
    index = VectorIndex(
        matrix.shape[1], engine=args.index_engine, precision=args.index_precision, info={"model": args.model}
    )
    index.add(matrix, metadata=None if corpus is None else [{"text": text} for text in corpus])
    index.save(args.save_index)
    print(f"Saved a vector index of {len(index)} entries to {args.save_index}", file=sys.stderr)


def _search_index(args: argparse.Namespace) -> int:
    """Search the saved index ``args.index`` with the queries, embedded by its model (or ``--model``)."""
    from sentkit.cli.common import load_model
    from sentkit.index import VectorIndex

    if args.corpus is not None or args.embeddings is not None or args.save_index is not None:
        raise InputError("--index searches a saved index; leave out --corpus, --embeddings and --save-index.")
    queries = require_texts(_queries(args), "queries")
    index = VectorIndex.load(args.index)
    args.model = args.model or index.info.get("model") or DEFAULT_MODEL
    model = load_model("dense", args)
    query_embeddings = model.encode_query(queries, batch_size=args.batch_size, show_progress_bar=False)
    if query_embeddings.shape[-1] != index.dimension:
        raise InputError(
            f"Model {args.model} gives {query_embeddings.shape[-1]}-dimensional embeddings but {args.index} holds "
            f"{index.dimension}-dimensional ones; use the model that built the index (-m)."
        )
    hits = index.search(query_embeddings, top_k=args.top_k)
    for query, query_hits in zip(queries, hits, strict=True):
        _print_hits(query, query_hits, _metadata_text, args.json)
    return 0


def _corpus_text(corpus: list[str] | None) -> Callable[[dict[str, Any]], str | None]:
    return lambda hit: None if corpus is None else corpus[int(hit["corpus_id"])]


def _metadata_text(hit: dict[str, Any]) -> str | None:
    text = (hit.get("metadata") or {}).get("text")
    return text if isinstance(text, str) else None


def _print_hits(query: str, hits: list[Any], text_of: Callable[[dict[str, Any]], str | None], as_json: bool) -> None:
    if as_json:
        rows = []
        for hit in hits:
            row = {"corpus_id": hit["corpus_id"], "score": hit["score"]}
            text = text_of(hit)
            if text is not None:
                row["text"] = text
            rows.append(row)
        print_json_line({"query": query, "hits": rows})
        return
    print(f"Query: {shorten(query)}")
    for rank, hit in enumerate(hits, start=1):
        text = text_of(hit)
        shown = f"  {shorten(text, 70)}" if text is not None else ""
        print(f"{rank:>4}. {hit['score']:.4f}  [{hit['corpus_id']}]{shown}")
