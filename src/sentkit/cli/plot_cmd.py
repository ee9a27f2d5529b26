"""``sentkit plot``: a 2-D picture (PCA, t-SNE or UMAP) of texts' or saved embeddings, as PNG."""

from __future__ import annotations

import argparse
from typing import Any

from sentkit.cli.common import add_input_options, add_model_options, require_texts
from sentkit.errors import InputError

METHODS = ("pca", "tsne", "umap")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "plot",
        help="plot embeddings in 2-D (PCA, t-SNE, UMAP) to a PNG",
        description=(
            "Embed the texts of INPUT (or read saved embeddings with --embeddings) and save a 2-D scatter "
            "plot with sentkit.viz.plot_embeddings. Needs the viz extra: pip install 'sentkit[viz]'."
        ),
    )
    parser.add_argument("input", nargs="?", default=None, help="texts file, or '-' for stdin")
    parser.add_argument("--embeddings", default=None, help="saved embeddings (.npy, .safetensors, .jsonl, store)")
    parser.add_argument("-o", "--output", required=True, help="the PNG file to write")
    parser.add_argument("--labels", default=None, help="a file with one label per embedding (colours the points)")
    parser.add_argument("--method", choices=METHODS, default="pca", help="projection (default: pca)")
    parser.add_argument("--title", default=None, help="the plot title")
    add_input_options(parser)
    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentkit.cli.textio import load_embeddings, read_texts

    if (args.input is None) == (args.embeddings is None):
        raise InputError("Give either INPUT (texts to embed) or --embeddings FILE, not both or neither.")
    labels = read_texts(args.labels, "text") if args.labels is not None else None
    viz = _viz()
    if args.embeddings is not None:
        embeddings, _ = load_embeddings(args.embeddings)
    else:
        from sentkit.cli.common import load_model

        texts = require_texts(read_texts(args.input, args.input_format, args.field), "texts")
        embeddings = load_model("dense", args).encode(texts, batch_size=args.batch_size, show_progress_bar=False)
    path = viz.plot_embeddings(embeddings, args.output, labels=labels, method=args.method, title=args.title)
    print(f"Wrote a {args.method} plot of {len(embeddings)} embeddings to {path}")
    return 0


def _viz() -> Any:
    """``sentkit.viz``, or MissingDependencyError when this installation has no plotting module."""
    import importlib

    from sentkit.errors import MissingDependencyError

    try:
        return importlib.import_module("sentkit.viz")
    except ModuleNotFoundError as exc:
        if exc.name != "sentkit.viz":
            raise
        raise MissingDependencyError("sentkit plot needs sentkit.viz, which this installation does not have.") from exc
