"""The one base class of every building block: declared config, saving and loading done once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from sentkit.errors import ModelFormatError
from sentkit.io.files import read_json_object, write_json
from sentkit.io.weights import load_weights_into, save_weights

logger = logging.getLogger(__name__)

Features = dict[str, Any]
"""What flows between modules: ``input_ids``, ``attention_mask``, ``token_embeddings``,
``sentence_embedding``, ... (tensors with the batch as first dimension) plus plain values such as
``prompt_length``."""


@dataclass(frozen=True)
class LoadOptions:
    """Options a model's loader passes to every module it loads."""

    cache_folder: str | None = None
    revision: str | None = None
    token: bool | str | None = None
    local_files_only: bool = False
    trust_remote_code: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    tokenizer_kwargs: dict[str, Any] = field(default_factory=dict)
    config_kwargs: dict[str, Any] = field(default_factory=dict)
    backend: str = "torch"
    verify: bool = True  # refuse folders that look damaged (see sentkit.io.layouts.check_not_damaged)


class Module(torch.nn.Module):
    """A building block: maps a :data:`Features` dict to a :data:`Features` dict.

    Subclasses declare ``config_keys`` (constructor arguments that are also attributes), and set
    ``has_weights`` when their state dict is saved. ``legacy_config_keys`` maps older names found in
    saved configs to the current ones.
    """

    registry_name: ClassVar[str] = ""
    reference_names: ClassVar[tuple[str, ...]] = ()
    reference_type: ClassVar[str] = ""
    config_keys: ClassVar[tuple[str, ...]] = ()
    legacy_config_keys: ClassVar[dict[str, str]] = {}
    config_file_name: ClassVar[str] = "config.json"
    has_weights: ClassVar[bool] = False
    save_in_root: ClassVar[bool] = False
    needs_all_layers: ClassVar[bool] = False
    """True for modules that read ``all_layer_embeddings`` (every encoder layer's output)."""
    needs_files: ClassVar[bool] = True
    """False for modules whose config has defaults for every key, so a missing folder is fine."""

    def forward(self, features: Features) -> Features:
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this module (its saved config)."""
        return {key: getattr(self, key) for key in self.config_keys}

    def get_embedding_dimension(self) -> int | None:
        """Size of the embedding this module outputs, or None if it does not change it."""
        return None

    def expected_input_dimension(self) -> int | None:
        """Size of the embedding this module reads, or None if any size works (checked when a model is built)."""
        return None

    def get_sentence_embedding_dimension(self) -> int | None:
        """Older name of :meth:`get_embedding_dimension`."""
        return self.get_embedding_dimension()

    def save(self, folder: str | Path, safe_serialization: bool = True) -> None:
        """Write the config (and weights, if any) into ``folder``, which must exist."""
        folder = Path(folder)
        write_json(folder / self.config_file_name, self.get_config_dict())
        if self.has_weights:
            save_weights(self, folder, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        """Rebuild the module saved in ``folder``.

        Raises:
            ModelFormatError: unreadable config, or weights that do not match it.
        """
        folder = Path(folder)
        config_path = folder / cls.config_file_name
        if not config_path.is_file() and cls.needs_files:
            raise ModelFormatError(f"{config_path} is missing: {cls.__name__} cannot be rebuilt without it.")
        config = read_json_object(config_path) if config_path.is_file() else {}
        module = cls(**cls.normalize_config(config, source=config_path))
        if cls.has_weights:
            load_weights_into(module, folder)
        return module

    @classmethod
    def normalize_config(cls, config: dict[str, Any], source: Path | str = "config") -> dict[str, Any]:
        """Rename legacy keys and drop keys this module does not know (logging them)."""
        config = dict(config)
        for old, new in cls.legacy_config_keys.items():
            if old in config:
                value = config.pop(old)
                config.setdefault(new, value)
        unknown = sorted(set(config) - set(cls.config_keys))
        if unknown:
            logger.warning("Ignoring unknown %s config keys %s in %s.", cls.__name__, unknown, source)
        return {key: value for key, value in config.items() if key in cls.config_keys}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config_dict()})"


class InputModule(Module):
    """A module that reads raw inputs: it turns texts into features (``tokenize``) before ``forward``.

    The first module of every pipeline is one (Transformer, StaticEmbedding, WordEmbeddings, BoW,
    Router, CLIPModel, ...). ``modalities`` names the kinds of input it takes.
    """

    modalities: ClassVar[tuple[str, ...]] = ("text",)

    def tokenize(self, texts: list[Any], **kwargs: Any) -> Features:
        """Features for a batch of inputs (``input_ids``, ``attention_mask``, ...)."""
        raise NotImplementedError

    def preprocess(self, inputs: list[Any], prompt: str | None = None, **kwargs: Any) -> Features:
        """sentence-transformers 6's name for :meth:`tokenize`; ``prompt`` is prepended to text inputs."""
        if prompt:
            inputs = [prompt + item if isinstance(item, str) else item for item in inputs]
        return self.tokenize(inputs, **kwargs)
