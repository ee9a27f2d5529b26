"""Build a module pipeline from a model folder, and write one back in the reference's format."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentkit._version import __version__
from sentkit.errors import ModelFormatError
from sentkit.io.files import read_json_object
from sentkit.io.integrity import checksummed
from sentkit.io.layouts import HUGGING_FACE, SENTENCE_TRANSFORMERS, ModuleEntry, check_not_damaged
from sentkit.modules import LoadOptions, Module, Pooling, Transformer, module_class_for_type, type_string_for

logger = logging.getLogger(__name__)

# Written as the version of the reference format in config_sentence_transformers.json.
REFERENCE_FORMAT_VERSION = "6.2.0"


@dataclass
class LoadedPipeline:
    """Modules read from a folder and the model-level settings saved with them."""

    modules: list[Module]
    settings: dict[str, Any] = field(default_factory=dict)


def load_pipeline(folder: Path, options: LoadOptions) -> LoadedPipeline:
    """Read the modules in ``folder``: a sentence-transformers folder, else a plain HF checkpoint.

    Raises:
        ModelFormatError: a folder in neither layout, or a broken one (the error names the file).
    """
    if SENTENCE_TRANSFORMERS.matches(folder):
        return LoadedPipeline(load_modules(folder, options), SENTENCE_TRANSFORMERS.read_settings(folder))
    check_not_damaged(folder, strict=options.verify)
    if HUGGING_FACE.matches(folder):
        logger.info("No modules.json in %s: using Transformer + mean pooling.", folder)
        transformer = Transformer.load(folder, options)
        return LoadedPipeline([transformer, Pooling(transformer.get_embedding_dimension(), _default_pooling(folder))])
    raise ModelFormatError(
        f"{folder} is not a model folder: it has neither modules.json (sentence-transformers) "
        "nor config.json (Hugging Face)."
    )


def load_modules(folder: Path, options: LoadOptions) -> list[Module]:
    """The modules listed in ``folder/modules.json``, in order.

    Raises:
        ModelFormatError: a malformed ``modules.json``, a module folder that is missing, or broken files.
    """
    return [_load_entry(folder, entry, options) for entry in SENTENCE_TRANSFORMERS.read_entries(folder)]


def format_versions() -> dict[str, str]:
    """The ``__version__`` block of ``config_sentence_transformers.json``."""
    import torch
    import transformers

    return {
        "sentence_transformers": REFERENCE_FORMAT_VERSION,
        "sentkit": __version__,
        "transformers": transformers.__version__,
        "pytorch": torch.__version__,
    }


def _load_entry(folder: Path, entry: ModuleEntry, options: LoadOptions) -> Module:
    module_class = module_class_for_type(entry.type)
    module_folder = folder / entry.path
    # A module without files (Normalize) may have no folder at all, as in the reference's own models.
    if not module_folder.is_dir() and module_class.needs_files:
        raise ModelFormatError(
            f"{folder / SENTENCE_TRANSFORMERS.marker} names the folder {entry.path!r} for module "
            f"{entry.name} ({entry.type}), but {module_folder} does not exist."
        )
    return module_class.load(module_folder, options)


def _default_pooling(folder: Path) -> str:
    """Last-token pooling for causal language models, mean pooling otherwise (as the reference)."""
    config = read_json_object(folder / HUGGING_FACE.marker)
    architectures = config.get("architectures") or [""]
    is_causal = str(architectures[0]).endswith("ForCausalLM") and config.get("is_causal", True)
    return "lasttoken" if is_causal else "mean"


def save_pipeline(
    folder: Path,
    modules: list[Module],
    settings: dict[str, Any],
    safe_serialization: bool = True,
    model_card: str | None = None,
) -> None:
    """Write ``modules``, ``settings`` and the ``model_card`` (README.md) to ``folder`` in the
    sentence-transformers layout, then the checksums of every file written
    (:mod:`sentkit.io.integrity`)."""
    with checksummed(folder):
        entries = []
        for idx, module in enumerate(modules):
            relative = "" if idx == 0 and module.save_in_root else f"{idx}_{type(module).__name__}"
            (folder / relative).mkdir(parents=True, exist_ok=True)
            module.save(folder / relative, safe_serialization=safe_serialization)
            entries.append(ModuleEntry(idx, str(idx), relative, type_string_for(module)))
        SENTENCE_TRANSFORMERS.write(folder, entries, settings)
        if model_card is not None:
            (folder / "README.md").write_text(model_card, encoding="utf-8")
