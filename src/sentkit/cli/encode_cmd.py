"""``sentkit encode``: texts in, embeddings out (.npy, .safetensors or JSONL), streamed in chunks."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sentkit.cli.common import (
    add_input_options,
    add_model_options,
    add_progress_option,
    load_model,
    positive_int,
    show_progress,
)

PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
CHUNK_TEXTS = 8192


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "encode",
        help="embed texts from a file or stdin into .npy, .safetensors or JSONL",
        description=(
            "Embed texts (one per line, a JSONL field or a CSV column; stdin when INPUT is '-' or absent) "
            "and write the embeddings in input order. Large inputs are streamed: only --chunk-size texts "
            "are held in memory at a time."
        ),
    )
    parser.add_argument("input", nargs="?", default="-", help="input file, or '-' for stdin (default)")
    parser.add_argument("-o", "--output", default=None, help="output file; default: JSONL on stdout")
    parser.add_argument(
        "--output-format",
        choices=("auto", "npy", "safetensors", "jsonl", "store"),
        default="auto",
        help=(
            "default: from the extension; 'store' (a folder, or -o without an extension) writes a sharded, "
            "crash-safe embeddings folder that a rerun resumes"
        ),
    )
    parser.add_argument("--restart", action="store_true", help="with a store: start over instead of resuming")
    parser.add_argument("--no-texts", action="store_true", help="with a store: do not keep the texts next to rows")
    add_input_options(parser)
    add_model_options(parser)
    parser.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32", help="stored precision")
    parser.add_argument("--prompt-name", default=None, help="a prompt saved with the model, e.g. query")
    parser.add_argument("--prompt", default=None, help="a text put before every input")
    parser.add_argument("--truncate-dim", type=positive_int, default=None, help="keep the first N dimensions")
    parser.add_argument(
        "--chunk-size",
        type=positive_int,
        default=CHUNK_TEXTS,
        help=f"texts read, encoded and written at a time (default: {CHUNK_TEXTS})",
    )
    add_progress_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentkit.cli.textio import chunks, iter_texts
    from sentkit.cli.writers import open_writer, output_format

    fmt = output_format(args.output, args.output_format)
    batches = chunks(iter_texts(args.input, args.input_format, args.field), args.chunk_size)
    first = next(batches, None)  # read first: input errors come before the model loads or the output exists
    model = load_model("dense", args, light=fmt != "store")
    if fmt == "store":
        return _encode_to_store(model, first, batches, args)
    writer = open_writer(args.output, fmt, args.precision)
    try:
        count = _encode_chunks(model, first, batches, writer, args)
    except BaseException:
        writer.abort()
        raise
    if args.output not in (None, "-"):
        print(f"Wrote {count} embeddings to {args.output}", file=sys.stderr)
    return 0


def _encode_chunks(model: Any, first: list[str] | None, rest: Any, writer: Any, args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from sentkit.inference.precision import numpy_dtype, output_width

    # int8 / uint8 are quantized by the writer with the ranges of all embeddings.
    precision = "float32" if args.precision in ("int8", "uint8") else args.precision
    progress = tqdm(unit=" texts", desc="Encoding", disable=not show_progress(args), file=sys.stderr)
    chunk = first
    while chunk is not None:
        embeddings = model.encode(
            chunk,
            prompt_name=args.prompt_name,
            prompt=args.prompt,
            batch_size=args.batch_size,
            show_progress_bar=False,
            precision=precision,
            normalize_embeddings=args.normalize,
            truncate_dim=args.truncate_dim,
        )  # (n, D) numpy
        writer.write(embeddings)
        progress.update(len(chunk))
        chunk = next(rest, None)
    progress.close()
    width = output_width(model.get_sentence_embedding_dimension(args.truncate_dim) or 0, args.precision)
    return int(writer.close(width, numpy_dtype(args.precision)))


def _encode_to_store(model: Any, first: list[str] | None, rest: Any, args: argparse.Namespace) -> int:
    """Stream into an embeddings folder with :func:`~sentkit.inference.streaming.encode_to_disk` (resumable)."""
    import itertools

    from sentkit.inference.streaming import encode_to_disk

    texts = itertools.chain(first or [], itertools.chain.from_iterable(rest))
    reader = encode_to_disk(
        model,
        texts,
        args.output,
        shard_size=args.chunk_size,
        batch_size=args.batch_size,
        resume=not args.restart,
        store_texts=not args.no_texts,
        prompt_name=args.prompt_name,
        prompt=args.prompt,
        normalize_embeddings=args.normalize,
        truncate_dim=args.truncate_dim,
        precision=args.precision,
        show_progress_bar=show_progress(args),
    )
    print(f"Wrote {len(reader)} embeddings to the folder {args.output}", file=sys.stderr)
    return 0
