"""Model folders of multi-vector (ColBERT-style) encoders, read as sentence-transformers 6.2 reads them.

Three sources, as in the reference:

- a ``MultiVectorEncoder`` folder: its modules, with the backbone read as a
  :class:`~sentkit.modules.multi_vector_transformer.MultiVectorTransformer` (the reference saves the
  per-task lengths and query expansion on its plain Transformer) and a Dense whose config names no
  input read at token level (older saves);
- a ``SentenceTransformer`` folder: pooling and sentence-level normalization dropped, a sentence
  Dense moved to token level, then a scoring mask and token-level normalization added;
- a plain Hugging Face checkpoint: the encoder, a new (random, untrained) projection to 128
  dimensions, the scoring mask and normalization.

Legacy PyLate (``model_type: "ColBERT"``) and Stanford-NLP (``HF_ColBERT``) checkpoints are refused
with an error that says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from sentkit.encoders.folders import format_versions, save_pipeline
from sentkit.encoders.task_folders import read_model_settings, saved_model_type
from sentkit.errors import ConfigurationError, ModelFormatError
from sentkit.io.files import read_json_object
from sentkit.io.layouts import HUGGING_FACE, SENTENCE_TRANSFORMERS, check_not_damaged
from sentkit.modules import Dense, LoadOptions, Module, Normalize, Pooling, Transformer, module_class_for_type
from sentkit.modules.multi_vector_mask import MultiVectorMask
from sentkit.modules.multi_vector_transformer import MultiVectorTransformer

logger = logging.getLogger(__name__)

DEFAULT_PROJECTION_DIMENSION = 128
TOKEN_EMBEDDINGS = "token_embeddings"


def load_multi_vector_modules(folder: Path, options: LoadOptions) -> tuple[list[Module], dict[str, Any]]:
    """The modules and saved settings (``config_sentence_transformers.json``) of the model in ``folder``.

    Raises:
        ModelFormatError: a legacy ColBERT checkpoint, a model type that cannot become multi-vector
            (CrossEncoder, SparseEncoder), a folder in no known layout, or broken files.
    """
    model_type = saved_model_type(folder)
    if model_type == "ColBERT":
        raise ModelFormatError(
            f"{folder} is a PyLate (v3 or older) ColBERT folder, which sentkit does not read yet. "
            "Load it once with sentence-transformers' MultiVectorEncoder and save it again."
        )
    if model_type == "MultiVectorEncoder":
        return _load_modules(folder, options), read_model_settings(folder)
    if model_type == "SentenceTransformer":
        return _from_sentence_transformer(folder, options), read_model_settings(folder)
    if model_type is not None:
        raise ModelFormatError(
            f"{folder} is a {model_type} folder; a MultiVectorEncoder loads MultiVectorEncoder, "
            "SentenceTransformer or plain Hugging Face checkpoints."
        )
    check_not_damaged(folder, strict=options.verify)
    if not HUGGING_FACE.matches(folder):
        raise ModelFormatError(f"{folder} has neither modules.json nor a Hugging Face config.json.")
    architectures = read_json_object(folder / HUGGING_FACE.marker).get("architectures") or []
    if "HF_ColBERT" in architectures:
        raise ModelFormatError(
            f"{folder} is a Stanford-NLP ColBERT checkpoint, which sentkit does not read yet. "
            "Load it once with sentence-transformers' MultiVectorEncoder and save it again."
        )
    transformer = MultiVectorTransformer(
        folder,
        model_kwargs=options.model_kwargs,
        tokenizer_kwargs=options.tokenizer_kwargs,
        config_kwargs=options.config_kwargs,
        trust_remote_code=options.trust_remote_code,
        backend=options.backend,
    )
    hidden = transformer.get_embedding_dimension()
    logger.warning(
        "%s is a plain checkpoint: added a randomly initialised projection (%d -> %d). Train the model before use.",
        folder,
        hidden,
        DEFAULT_PROJECTION_DIMENSION,
    )
    return [transformer, token_projection(hidden), MultiVectorMask(), Normalize(TOKEN_EMBEDDINGS)], {}


def token_projection(in_features: int, out_features: int = DEFAULT_PROJECTION_DIMENSION) -> Dense:
    """A new bias-free linear projection of token embeddings (random weights)."""
    return Dense(
        in_features, out_features, bias=False, activation_function=nn.Identity(), module_input_name=TOKEN_EMBEDDINGS
    )


def _load_modules(folder: Path, options: LoadOptions) -> list[Module]:
    """The modules of ``folder/modules.json``; Transformers become MultiVectorTransformers."""
    modules: list[Module] = []
    for entry in SENTENCE_TRANSFORMERS.read_entries(folder):
        module_class = module_class_for_type(entry.type)
        if module_class is Transformer:
            module_class = MultiVectorTransformer
        module_folder = folder / entry.path
        if not module_folder.is_dir() and module_class.needs_files:
            raise ModelFormatError(
                f"{folder / SENTENCE_TRANSFORMERS.marker} names the folder {entry.path!r} for module "
                f"{entry.name} ({entry.type}), but {module_folder} does not exist."
            )
        module = module_class.load(module_folder, options)
        if isinstance(module, Dense) and "module_input_name" not in _config(module_folder):
            # Saved before modules named their inputs (PyLate, sentence-transformers < 5.4): token level.
            module.module_input_name = module.module_output_name = TOKEN_EMBEDDINGS
        modules.append(module)
    return modules


def _config(module_folder: Path) -> dict[str, Any]:
    path = module_folder / "config.json"
    return read_json_object(path) if path.is_file() else {}


def _from_sentence_transformer(folder: Path, options: LoadOptions) -> list[Module]:
    """A SentenceTransformer's modules made multi-vector (see the module docstring)."""
    modules: list[Module] = []
    for module in _load_modules(folder, options):
        if isinstance(module, Pooling):
            continue
        if isinstance(module, Normalize) and module.module_input_name == "sentence_embedding":
            continue
        if isinstance(module, Dense) and module.module_input_name == "sentence_embedding":
            module.module_input_name = module.module_output_name = TOKEN_EMBEDDINGS
        modules.append(module)
    transformer = next((module for module in modules if isinstance(module, Transformer)), None)
    if transformer is None:
        raise ModelFormatError(f"{folder} has no Transformer module, so it cannot become a MultiVectorEncoder.")
    if not any(isinstance(module, Dense) for module in modules):
        logger.warning(
            "%s has no Dense module: added a randomly initialised token projection. Train the model before use.",
            folder,
        )
        modules.append(token_projection(transformer.get_embedding_dimension()))
    return [*modules, MultiVectorMask(), Normalize(TOKEN_EMBEDDINGS)]


def save_multi_vector_encoder(model: Any, folder: Path, card: str | None, safe_serialization: bool) -> None:
    """Write ``model`` (a MultiVectorEncoder) to ``folder`` in the reference's format, with ``card`` as README.md.

    Raises:
        ConfigurationError: the pipeline holds modules that are not sentkit modules.
    """
    modules = list(model._modules.values())
    if not all(isinstance(module, Module) for module in modules):
        raise ConfigurationError("Only sentkit modules can be saved; this model holds other nn.Modules.")
    settings: dict[str, Any] = {
        "__version__": format_versions(),
        "default_prompt_name": model.default_prompt_name,
        "model_type": "MultiVectorEncoder",
        "prompts": model.prompts,
        "similarity_fn_name": model._similarity_fn_name,
    }
    save_pipeline(folder, modules, settings, safe_serialization, card)
