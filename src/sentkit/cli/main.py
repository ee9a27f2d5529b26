"""``sentkit``: the command line. Parsing is cheap; each command imports what it needs when it runs.

Exit codes: 0 success, 1 a failure the user can fix (missing file, unknown model, bad input; one
line on stderr, no traceback), 2 a usage error (bad option), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from sentkit._version import __version__
from sentkit.errors import SentkitError

# Command name -> module with ``register(subparsers)``; the modules import only the standard library.
COMMANDS = (
    ("encode", "sentkit.cli.encode_cmd"),
    ("search", "sentkit.cli.search_cmd"),
    ("similarity", "sentkit.cli.similarity_cmd"),
    ("rerank", "sentkit.cli.rerank_cmd"),
    ("keywords", "sentkit.cli.keywords_cmd"),
    ("plot", "sentkit.cli.plot_cmd"),
    ("models", "sentkit.cli.models_cmd"),
    ("serve", "sentkit.cli.serve_cmd"),
    ("bench", "sentkit.cli.bench_cmd"),
)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sentkit",
        description="Sentence embeddings, search, reranking and serving with sentkit models.",
        epilog="Run 'sentkit COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"sentkit {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for _, module_name in COMMANDS:
        importlib.import_module(module_name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sentkit`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"sentkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, without a second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"sentkit {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 1


def is_user_error(exc: BaseException) -> bool:
    """Errors a user causes and can fix (sentkit's own, files, text decoding): reported, not traced."""
    return isinstance(exc, (SentkitError, OSError, UnicodeError))


def describe(exc: BaseException) -> str:
    """One line for ``exc``: the OS message and file for file errors, else the message."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename and not isinstance(exc, SentkitError):
        return f"{exc.strerror}: {exc.filename}"
    return " ".join(str(exc).split()) or type(exc).__name__
