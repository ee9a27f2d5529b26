"""Options and helpers the commands share: model options, input options, loading, progress, output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sentkit.errors import InputError
from sentkit.inference.auto import BACKENDS

DEFAULT_MODEL = "all-MiniLM-L6-v2"
INPUT_FORMATS = ("auto", "text", "jsonl", "csv", "tsv")
MODEL_CLASSES = {
    "dense": ("sentkit.encoders.sentence_transformer", "SentenceTransformer"),
    "sparse": ("sentkit.encoders.sparse_encoder", "SparseEncoder"),
    "rerank": ("sentkit.encoders.cross_encoder", "CrossEncoder"),
}


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_model_options(parser: argparse.ArgumentParser, default: str | None = DEFAULT_MODEL) -> None:
    help_text = "model name, hub id or folder" + (f" (default: {default})" if default else " (required)")
    parser.add_argument("-m", "--model", default=default, required=default is None, help=help_text)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")
    parser.add_argument(
        "--backend",
        default="torch",
        choices=BACKENDS,
        help="inference engine; auto: the fastest for this CPU (default: torch)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=32, help="texts per forward pass (default: 32)")


def add_input_options(parser: argparse.ArgumentParser, what: str = "texts") -> None:
    parser.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default="auto",
        help=f"how the {what} file is read: one text per line, JSONL or CSV/TSV (default: from the extension)",
    )
    parser.add_argument("--field", default="text", help="JSONL key or CSV column that holds the text (default: text)")


def load_model(kind: str, args: argparse.Namespace, light: bool = False) -> Any:
    """Load ``args.model`` as a ``dense`` (SentenceTransformer), ``sparse`` or ``rerank`` model.

    ``light``: the command only encodes, so with ``--backend onnx`` on the CPU a dense model is
    an :class:`~sentkit.encoders.onnx_encoder.OnnxEncoder`, which starts without torch.

    Raises:
        ModelNotFoundError, ModelFormatError, ConfigurationError: from the model class.
        MissingDependencyError: the model class is not part of this sentkit installation.
    """
    if light and kind == "dense" and args.backend == "onnx" and args.device in (None, "cpu"):
        from sentkit.encoders.onnx_encoder import OnnxEncoder

        return OnnxEncoder.load(args.model)
    return build_model(kind, args.model, args.device, args.backend)


def build_model(kind: str, name: str, device: str | None, backend: str) -> Any:
    """``name`` loaded as a ``kind`` model; ``backend="auto"`` means torch for rerank and sparse
    models, which have that engine only.

    Raises:
        MissingDependencyError, ModelNotFoundError, ModelFormatError, ConfigurationError: from the model class.
    """
    backend = "torch" if kind != "dense" and backend == "auto" else backend
    return model_class(kind)(name, device=device, backend=backend)


def model_class(kind: str) -> Any:
    """The sentkit class for ``kind``, imported now (this is where torch loads).

    Raises:
        MissingDependencyError: the class is not available in this installation.
    """
    import importlib

    from sentkit.errors import MissingDependencyError

    module_name, class_name = MODEL_CLASSES[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise MissingDependencyError(f"{class_name} is not available in this sentkit installation.") from exc
    _quiet_transformers()
    return getattr(module, class_name)


def _quiet_transformers() -> None:
    """No per-load weight progress bars from transformers in command output."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # an old transformers without the switch: keep its bars
        pass


def show_progress(args: argparse.Namespace) -> bool:
    """A progress bar when asked, or by default when stderr is a terminal."""
    choice = getattr(args, "progress", None)
    return sys.stderr.isatty() if choice is None else bool(choice)


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None, help="show a progress bar")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def print_json_line(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def shorten(text: str, width: int = 80) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def require_texts(texts: list[str], what: str) -> list[str]:
    if not texts:
        raise InputError(f"No {what} given; pass them as arguments or in a file.")
    return texts
