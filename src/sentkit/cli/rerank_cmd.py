"""``sentkit rerank``: score documents against a query with a CrossEncoder, best first."""

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


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "rerank",
        help="rank documents for a query with a cross-encoder",
        description="Score (query, document) pairs with a CrossEncoder (CrossEncoder.rank) and print them best first.",
    )
    parser.add_argument("query", help="the query")
    parser.add_argument("documents", nargs="*", help="documents to rank")
    parser.add_argument("--documents-file", default=None, help="more documents (one per line, JSONL or CSV)")
    parser.add_argument("-k", "--top-k", type=positive_int, default=None, help="keep the best k (default: all)")
    parser.add_argument("--raw-scores", action="store_true", help="logits, without the model's activation")
    parser.add_argument("--json", action="store_true", help="one JSON line per document")
    add_input_options(parser, "documents")
    add_model_options(parser, default=None)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentkit.cli.common import load_model
    from sentkit.cli.textio import read_texts

    documents = list(args.documents)
    if args.documents_file is not None:
        documents += read_texts(args.documents_file, args.input_format, args.field)
    require_texts(documents, "documents")
    model = load_model("rerank", args)
    activation = None
    if args.raw_scores:
        import torch

        activation = torch.nn.Identity()
    hits = model.rank(
        args.query,
        documents,
        top_k=args.top_k,
        batch_size=args.batch_size,
        show_progress_bar=False,
        activation_fn=activation,
    )
    for rank, hit in enumerate(hits, start=1):
        index = int(hit["corpus_id"])
        if args.json:
            print_json_line({"corpus_id": index, "score": float(hit["score"]), "text": documents[index]})
        else:
            print(f"{rank:>4}. {hit['score']:.4f}  [{index}]  {shorten(documents[index], 70)}")
    return 0
