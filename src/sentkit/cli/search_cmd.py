"""``sentkit search``: the top-k corpus entries for queries, from a corpus file or saved embeddings."""

from __future__ import annotations

import argparse
from typing import Any

from sentkit.cli.common import (
    add_input_options,
    add_model_options,
    positive_int,
    print_json_line,
    require_texts,
    shorten,
)
from sentkit.errors import InputError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "search",
        help="find the corpus entries closest to queries",
        description=(
            "Semantic search: embed the queries (encode_query) and return the top-k entries of the corpus, "
            "given as texts (--corpus, embedded with encode_document) or as saved embeddings (--embeddings, "
            "e.g. from 'sentkit encode'; add --corpus to show their texts). Scores are cosine similarities."
        ),
    )
    parser.add_argument("queries", nargs="*", help="query texts")
    parser.add_argument("--queries-file", default=None, help="more queries, one per line (or JSONL/CSV)")
    parser.add_argument("--corpus", default=None, help="corpus texts file (one per line, JSONL or CSV)")
    parser.add_argument(
        "--embeddings", default=None, help="saved corpus embeddings (.npy, .safetensors, .jsonl or a store folder)"
    )
    parser.add_argument("-k", "--top-k", type=positive_int, default=10, help="hits per query (default: 10)")
    parser.add_argument("--json", action="store_true", help="one JSON line per query")
    add_input_options(parser, "corpus")
    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentkit.apps.search import semantic_search
    from sentkit.cli.common import load_model
    from sentkit.cli.textio import load_embeddings, read_texts

    if args.corpus is None and args.embeddings is None:
        raise InputError("Give the corpus: --corpus FILE (texts) or --embeddings FILE (saved embeddings).")
    queries = list(args.queries)
    if args.queries_file is not None:
        queries += read_texts(args.queries_file, args.input_format, args.field)
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
    query_embeddings = model.encode_query(queries, batch_size=args.batch_size, show_progress_bar=False)
    hits = semantic_search(query_embeddings, corpus_embeddings, top_k=args.top_k)
    for query, query_hits in zip(queries, hits, strict=True):
        _print_hits(query, query_hits, corpus, args.json)
    return 0


def _print_hits(query: str, hits: list[dict[str, Any]], corpus: list[str] | None, as_json: bool) -> None:
    if as_json:
        rows = [{"corpus_id": hit["corpus_id"], "score": hit["score"]} for hit in hits]
        if corpus is not None:
            for row in rows:
                row["text"] = corpus[int(row["corpus_id"])]
        print_json_line({"query": query, "hits": rows})
        return
    print(f"Query: {shorten(query)}")
    for rank, hit in enumerate(hits, start=1):
        text = f"  {shorten(corpus[int(hit['corpus_id'])], 70)}" if corpus is not None else ""
        print(f"{rank:>4}. {hit['score']:.4f}  [{hit['corpus_id']}]{text}")
