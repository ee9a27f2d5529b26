"""CLIPModel: a Hugging Face CLIP checkpoint, texts and images -> ``sentence_embedding`` in one space.

The text tower embeds texts, the vision tower embeds PIL images, and both project into the same
space, so an image and its caption land close together. A batch may hold only texts (features
``input_ids``, ``attention_mask``, ``modality="text"``), only images (``pixel_values``,
``modality="image"``), as sentence-transformers 6 produces them, or both: then the features carry
both parts plus ``image_text_info`` (0 for an image, 1 for a text, one per input, as in the older
sentence-transformers CLIPModel) and :meth:`CLIPModel.forward` puts the embeddings back in input order.

Images need Pillow (``pip install 'sentkit[image]'``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from sentkit._optional import require
from sentkit.errors import ConfigurationError, InputError, InputTypeError, ModelFormatError, UnencodableTextError
from sentkit.inference.inputs import ImageFile, is_image_input
from sentkit.io.files import read_json_object, write_json
from sentkit.io.resolve import resolve_model_folder
from sentkit.modules.base import Features, InputModule, LoadOptions, Module
from sentkit.modules.registry import register
from sentkit.modules.tokenization import Tokenizer
from sentkit.modules.transformer import raise_on_weight_mismatch, saved_config

logger = logging.getLogger(__name__)

IMAGE = 0
TEXT = 1
"""Values of ``image_text_info``: which part of a mixed batch each input went to."""

# What sentence-transformers 6 saves for this module (sentence_bert_config.json): the model method
# each modality runs and the field of its output that holds the projected embedding.
MODALITY_CONFIG: dict[str, dict[str, str]] = {
    "text": {"method": "get_text_features", "method_output_name": "pooler_output"},
    "image": {"method": "get_image_features", "method_output_name": "pooler_output"},
}
OUTPUT_NAME = "sentence_embedding"
_HUB_KEYS = ("cache_dir", "revision", "token", "local_files_only", "subfolder")


@register("clip", reference=("CLIPModel",))
class CLIPModel(InputModule):
    """CLIP's text and vision towers: texts and PIL images -> ``sentence_embedding`` (B, projection_dim).

    Args:
        model_name_or_path: a local folder or Hugging Face id of a CLIP checkpoint (config,
            weights, and a processor: tokenizer plus image processor).
        processor_name: where the processor lives, when not with the model (the older reference's
            name; ``tokenizer_name_or_path`` is accepted too).
        max_seq_length: tokens kept per text; defaults to the tokenizer's ``model_max_length``
            (77 for OpenAI's checkpoints), which is also where it is saved.
        model_kwargs, processor_kwargs, config_kwargs: keyword arguments for ``from_pretrained``.

    Raises:
        MissingDependencyError: Pillow is not installed.
        ModelNotFoundError: the model cannot be found.
        ModelFormatError: no image processor or tokenizer, weights that do not fit the config,
            or a checkpoint without a text and a vision tower.
    """

    modalities: ClassVar[tuple[str, ...]] = ("text", "image")
    config_keys: ClassVar[tuple[str, ...]] = ("transformer_task", "modality_config", "module_output_name")
    config_file_name: ClassVar[str] = "sentence_bert_config.json"
    save_in_root: ClassVar[bool] = True

    def __init__(
        self,
        model_name_or_path: str | Path = "openai/clip-vit-base-patch32",
        processor_name: str | Path | None = None,
        max_seq_length: int | None = None,
        *,
        tokenizer_name_or_path: str | Path | None = None,
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        cache_dir: str | None = None,
        revision: str | None = None,
        token: bool | str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        require("PIL.Image", "image", "CLIPModel (image inputs)")
        hub: dict[str, Any] = {
            "cache_folder": cache_dir,
            "revision": revision,
            "token": token,
            "local_files_only": local_files_only,
        }
        folder = resolve_model_folder(model_name_or_path, expand_name=False, **hub)
        processor_source = processor_name or tokenizer_name_or_path
        processor_folder = folder if processor_source is None else resolve_model_folder(processor_source, **hub)
        trust = {"trust_remote_code": trust_remote_code}
        self.model = _load_model(folder, {**trust, **(config_kwargs or {})}, {**trust, **(model_kwargs or {})})
        self.processor = _load_processor(processor_folder, {**trust, **(processor_kwargs or {})})
        self.tokenizer = Tokenizer(self.processor.tokenizer)
        limit = self.text_positions
        self._max_seq_length = min(self.tokenizer.model_max_length, limit or self.tokenizer.model_max_length)
        if max_seq_length is not None:
            self.max_seq_length = max_seq_length

    # ---------------------------------------------------------------------------------- sizes
    @property
    def max_seq_length(self) -> int:
        """Tokens kept per text; longer texts are truncated."""
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        limit = self.text_positions
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError(f"max_seq_length must be a positive int, got {value!r}.")
        if limit is not None and value > limit:
            raise ConfigurationError(
                f"max_seq_length={value} exceeds the {limit} tokens this CLIP text tower can take. "
                f"Use a value <= {limit}."
            )
        self._max_seq_length = value

    @property
    def text_positions(self) -> int | None:
        """The most tokens the text tower's position embeddings allow (None when unknown)."""
        config = self.model.config
        positions = getattr(getattr(config, "text_config", config), "max_position_embeddings", None)
        return int(positions) if isinstance(positions, int) and positions > 0 else None

    def get_embedding_dimension(self) -> int:
        return int(self.model.config.projection_dim)

    # ------------------------------------------------------------------------------- features
    def tokenize(self, texts: list[Any], **kwargs: Any) -> Features:
        """Features for a batch of texts and/or images (see the module docstring for the keys).

        Texts give ``input_ids`` and ``attention_mask`` (B_text, T), padded to the longest and
        truncated to :attr:`max_seq_length`; images give ``pixel_values`` (B_image, 3, H, W).

        Raises:
            InputTypeError: an item that is neither a str nor an image (names its index).
            InputError: an image file that cannot be opened.
            UnencodableTextError: a text that is not valid Unicode (names its index in the batch).
        """
        kinds = [_kind(item, index) for index, item in enumerate(texts)]
        text_positions = [index for index, kind in enumerate(kinds) if kind == TEXT]
        text_items = [texts[index] for index in text_positions]
        images = [
            item.load() if isinstance(item, ImageFile) else item
            for item, kind in zip(texts, kinds, strict=True)
            if kind == IMAGE
        ]  # image files open here, a batch at a time
        features: Features = {}
        if text_items or not images:
            try:
                features.update(self.tokenizer(text_items, self.max_seq_length))  # (B_text, T) each
            except UnencodableTextError as exc:  # its index counts texts only: make it the batch position
                raise UnencodableTextError(text_positions[exc.index]) from exc.__cause__
        if images:
            pixels = self.processor.image_processor(images, return_tensors="pt")["pixel_values"]
            features["pixel_values"] = pixels  # (B_image, 3, H, W)
        if text_items and images:
            features["image_text_info"] = kinds
            features["modality"] = "mixed"
        else:
            features["modality"] = "image" if images else "text"
        return features

    def prompt_length(self, prompt: str) -> int:
        """Tokens ``prompt`` takes at the start of a text (its trailing special token excluded)."""
        ids = self.tokenizer([prompt], self.max_seq_length)["input_ids"][0].tolist()
        special = set(getattr(self.tokenizer.hf_tokenizer, "all_special_ids", ()))
        return len(ids) - (1 if ids and ids[-1] in special else 0)

    def forward(self, features: Features) -> Features:
        """Add ``sentence_embedding`` (B, projection_dim), row i for input i of the batch."""
        text = self._text_embeddings(features) if "input_ids" in features else None
        image = self._image_embeddings(features["pixel_values"]) if "pixel_values" in features else None
        if text is not None and image is not None:
            kinds = torch.as_tensor(features["image_text_info"], device=text.device)  # (B,)
            embeddings = text.new_empty((kinds.shape[0], text.shape[1]))  # (B, D)
            embeddings[kinds == TEXT] = text
            embeddings[kinds == IMAGE] = image.to(text.dtype)
        elif text is not None:
            embeddings = text
        elif image is not None:
            embeddings = image
        else:
            raise InputError(
                "CLIPModel features need input_ids (texts) or pixel_values (images); make them with tokenize."
            )
        features[OUTPUT_NAME] = embeddings
        return features

    def _text_embeddings(self, features: Features) -> Tensor:
        mask = features.get("attention_mask")
        output = self.model.get_text_features(input_ids=features["input_ids"], attention_mask=mask)
        return _projected(output)  # (B_text, D)

    def _image_embeddings(self, pixel_values: Tensor) -> Tensor:
        dtype = next(self.model.vision_model.parameters()).dtype
        output = self.model.get_image_features(pixel_values=pixel_values.to(dtype))
        return _projected(output)  # (B_image, D)

    # ------------------------------------------------------------------------------- saving
    def get_config_dict(self) -> dict[str, Any]:
        """What sentence-transformers 6 saves for this module (the text length lives in the tokenizer)."""
        return {
            "transformer_task": "feature-extraction",
            "modality_config": {name: dict(params) for name, params in MODALITY_CONFIG.items()},
            "module_output_name": OUTPUT_NAME,
        }

    def save(self, folder: str | Path, safe_serialization: bool = True) -> None:
        folder = Path(folder)
        self.model.save_pretrained(folder, safe_serialization=safe_serialization)
        self.processor.tokenizer.model_max_length = self.max_seq_length
        self.processor.save_pretrained(folder)
        write_json(folder / self.config_file_name, self.get_config_dict())

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        """Rebuild the module saved in ``folder`` by sentkit or any sentence-transformers version.

        Raises:
            ModelFormatError: broken files (see the class docstring).
        """
        folder = Path(folder)
        options = options or LoadOptions()
        config = saved_config(folder)
        _check_modality_config(config, folder)
        saved: dict[str, dict[str, Any]] = {}
        for new, old in (("model_kwargs", "model_args"), ("processor_kwargs", "tokenizer_args")):
            saved[new] = {**config.get(old, {}), **config.get(new, {})}
        saved["config_kwargs"] = {**config.get("config_args", {}), **config.get("config_kwargs", {})}
        for values in saved.values():
            values.pop("trust_remote_code", None)  # a saved config never switches remote code on
            for key in _HUB_KEYS:
                values.pop(key, None)
        return cls(
            folder,
            max_seq_length=config.get("max_seq_length"),
            model_kwargs={**saved["model_kwargs"], **options.model_kwargs},
            processor_kwargs={**saved["processor_kwargs"], **options.tokenizer_kwargs},
            config_kwargs={**saved["config_kwargs"], **options.config_kwargs},
            trust_remote_code=options.trust_remote_code,
        )

    def __repr__(self) -> str:
        return f"CLIPModel({{'max_seq_length': {self.max_seq_length}, 'architecture': '{type(self.model).__name__}'}})"


def _kind(item: Any, index: int) -> int:
    if isinstance(item, str):
        return TEXT
    if is_image_input(item):
        return IMAGE
    raise InputTypeError(
        f"Input at index {index} is {type(item).__name__}; CLIPModel takes texts (str) and images "
        "(PIL images, 3-D arrays, or ImageFile for paths, URLs and data URIs)."
    )


def _projected(output: Any) -> Tensor:
    """The projected embedding from ``get_*_features``: a tensor (transformers 4) or its ``pooler_output``."""
    return output if isinstance(output, Tensor) else output.pooler_output


def _check_modality_config(config: dict[str, Any], folder: Path) -> None:
    saved = config.get("modality_config")
    if saved is not None and saved != MODALITY_CONFIG:
        logger.warning("%s saves the modality_config %s; sentkit's CLIPModel runs %s.", folder, saved, MODALITY_CONFIG)


def _load_model(folder: Path, config_kwargs: dict[str, Any], model_kwargs: dict[str, Any]) -> Any:
    """The Hugging Face CLIP model in ``folder``, checked for a text and a vision tower.

    Raises:
        ModelFormatError: no or invalid config.json, weights that do not fit it, not a CLIP model.
    """
    from transformers import AutoConfig, AutoModel

    if not (folder / "config.json").is_file():
        raise ModelFormatError(f"{folder} has no config.json, so it is not a Hugging Face CLIP model folder.")
    read_json_object(folder / "config.json")
    try:
        config = AutoConfig.from_pretrained(folder, **config_kwargs)
        model, info = AutoModel.from_pretrained(folder, config=config, output_loading_info=True, **model_kwargs)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelFormatError(f"Cannot load the CLIP model in {folder}: {exc}") from exc
    if not all(hasattr(model, name) for name in ("get_text_features", "get_image_features", "vision_model")):
        raise ModelFormatError(
            f"{folder} holds a {type(model).__name__} ({config.model_type}), which has no text and vision "
            "towers; CLIPModel needs a CLIP checkpoint."
        )
    missing = [key for key in info.get("missing_keys", ()) if "position_ids" not in key]
    raise_on_weight_mismatch(model, folder, info, missing, "its config.json")
    model.eval()
    return model


def _load_processor(folder: Path, kwargs: dict[str, Any]) -> Any:
    """The CLIP processor (tokenizer and image processor) in ``folder``.

    Raises:
        ModelFormatError: no processor files, or a processor without a tokenizer or image processor.
    """
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(folder, **kwargs)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelFormatError(f"Cannot load the CLIP processor in {folder}: {exc}") from exc
    if getattr(processor, "tokenizer", None) is None or getattr(processor, "image_processor", None) is None:
        raise ModelFormatError(
            f"{folder} has no CLIP processor (a tokenizer and an image processor: processor_config.json or "
            "preprocessor_config.json plus tokenizer files). Save one there with CLIPProcessor.save_pretrained."
        )
    return processor
