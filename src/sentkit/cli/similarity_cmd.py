"""``sentkit similarity``: the model's similarity matrix of texts (or of texts against others)."""

from __future__ import annotations

import argparse
from typing import Any

from sentkit.cli.common import add_input_options, add_model_options, print_json_line, require_texts, shorten


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "similarity",
        help="similarity matrix of texts",
        description=(
            "Embed the texts and print model.similarity of each against each (or against the --against "
            "texts), with the model's similarity function (cosine unless the model says otherwise)."
        ),
    )
    parser.add_argument("texts", nargs="*", help="texts to compare")
    parser.add_argument("--file", default=None, help="more texts from a file (one per line, JSONL or CSV)")
    parser.add_argument("--against", nargs="+", default=None, help="compare with these texts instead")
    parser.add_argument("--json", action="store_true", help='print {"scores": [[...]]} as JSON')
    add_input_options(parser)
    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentkit.cli.common import load_model
    from sentkit.cli.textio import read_texts

    texts = list(args.texts)
    if args.file is not None:
        texts += read_texts(args.file, args.input_format, args.field)
    require_texts(texts, "texts")
    others = texts if args.against is None else list(args.against)
    model = load_model("dense", args, light=True)
    embeddings = model.encode(texts, batch_size=args.batch_size, show_progress_bar=False)
    other_embeddings = (
        embeddings
        if args.against is None
        else model.encode(others, batch_size=args.batch_size, show_progress_bar=False)
    )
    scores = model.similarity(embeddings, other_embeddings).tolist()  # (N, M)
    if args.json:
        print_json_line({"similarity_fn_name": model.similarity_fn_name, "scores": scores})
        return 0
    print(f"{model.similarity_fn_name} similarity")
    print("      " + "".join(f"{column:>9}" for column in range(len(others))))
    for row, values in enumerate(scores):
        print(f"{row:>5} " + "".join(f"{value:9.4f}" for value in values) + f"   {shorten(texts[row], 50)}")
    return 0
