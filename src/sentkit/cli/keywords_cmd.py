"""``sentkit keywords``: KeyBERT keyword extraction for documents from a file, stdin or arguments."""

from __future__ import annotations

import argparse
from typing import Any

from sentkit.cli.common import add_input_options, add_model_options, positive_int, print_json_line, require_texts

STRATEGIES = ("similarity", "mmr", "maxsum")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "keywords",
        help="extract keywords from documents (KeyBERT)",
        description=(
            "KeyBERT.extract_keywords on each document: the documents given with --text, else one per line "
            "(or a JSONL field / CSV column) of INPUT, stdin when INPUT is '-'. Needs the keywords extra."
        ),
    )
    parser.add_argument("input", nargs="?", default=None, help="documents file, or '-' for stdin")
    parser.add_argument("--text", action="append", default=None, help="a document (repeatable)")
    parser.add_argument("-n", "--top-n", type=positive_int, default=5, help="keywords per document (default: 5)")
    parser.add_argument(
        "--ngram-range", type=positive_int, nargs=2, default=(1, 1), metavar=("MIN", "MAX"), help="words per keyword"
    )
    parser.add_argument("--stop-words", default="english", help="'english' (default), or 'none'")
    parser.add_argument("--strategy", choices=STRATEGIES, default="similarity", help="how keywords are picked")
    parser.add_argument("--diversity", type=float, default=0.5, help="with --strategy mmr, 0..1 (default: 0.5)")
    parser.add_argument("--nr-candidates", type=positive_int, default=20, help="with --strategy maxsum (default: 20)")
    parser.add_argument("--json", action="store_true", help="one JSON line per document")
    add_input_options(parser, "documents")
    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentkit.cli.common import load_model
    from sentkit.cli.textio import read_texts

    documents = list(args.text or [])
    if args.input is not None or not documents:
        documents += read_texts(args.input, args.input_format, args.field)
    require_texts(documents, "documents")
    from sentkit.apps.keywords import KeyBERT

    extractor = KeyBERT(model=load_model("dense", args))
    found: Any = extractor.extract_keywords(
        documents,
        keyphrase_ngram_range=tuple(args.ngram_range),
        stop_words=None if args.stop_words.lower() == "none" else args.stop_words,
        top_n=args.top_n,
        use_mmr=args.strategy == "mmr",
        use_maxsum=args.strategy == "maxsum",
        diversity=args.diversity,
        nr_candidates=args.nr_candidates,
    )
    per_document = [found] if len(documents) == 1 else found
    for index, keywords in enumerate(per_document):
        if args.json:
            print_json_line({"index": index, "keywords": [[word, float(score)] for word, score in keywords]})
        else:
            print(f"{index}: " + ", ".join(f"{word} ({score:.4f})" for word, score in keywords))
    return 0
