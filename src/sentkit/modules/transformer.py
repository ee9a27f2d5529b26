"""Transformer: a Hugging Face encoder and its tokenizer, texts -> token embeddings."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any, ClassVar

import torch

from sentkit.errors import ConfigurationError, ModelFormatError
from sentkit.io.files import read_json_object, write_json
from sentkit.io.resolve import resolve_model_folder
from sentkit.io.weights import check_safetensors
from sentkit.modules.base import Features, InputModule, LoadOptions, Module
from sentkit.modules.native_bert import NativeBertModel, native_dtype
from sentkit.modules.registry import register
from sentkit.modules.tokenization import TextInput, Tokenizer, cached_tokenizer, snapshot_path, store_snapshot

logger = logging.getLogger(__name__)

# Config file names sentence-transformers has used for this module, newest first.
CONFIG_FILE_NAMES = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)

# Architectures whose position ids start after the padding index, so they take
# max_position_embeddings - pad_token_id - 1 tokens.
PADDING_OFFSET_MODEL_TYPES = frozenset({"roberta", "xlm-roberta", "camembert", "mpnet", "longformer"})


# Older sentence-transformers versions saved the Transformer under per-architecture class names.
@register(
    "transformer",
    reference=("Transformer", "BERT", "RoBERTa", "DistilBERT", "ALBERT", "CamemBERT", "XLMRoBERTa", "XLNet", "T5"),
)
class Transformer(InputModule):
    """Run a Hugging Face encoder: texts -> ``token_embeddings`` (B, T, D).

    Args:
        model_name_or_path: a local folder or a Hugging Face model id.
        max_seq_length: tokens kept per input (truncation). Defaults to the tokenizer's
            ``model_max_length`` capped by what the model's position embeddings allow.
        model_args, tokenizer_args, config_args: keyword arguments for ``from_pretrained`` of the
            model, tokenizer and config (newer names: ``model_kwargs``, ``tokenizer_kwargs`` or
            ``processor_kwargs``, ``config_kwargs``).
        cache_dir: Hugging Face cache folder.
        do_lower_case: lowercase inputs before tokenizing.
        tokenizer_name_or_path: where the tokenizer lives, when not with the model.

    Raises:
        ModelNotFoundError: the model cannot be found.
        ModelFormatError: missing tokenizer files, corrupt weights, weights that do not fit the
            config, invalid JSON.
    """

    config_keys: ClassVar[tuple[str, ...]] = ("max_seq_length", "do_lower_case")
    config_file_name: ClassVar[str] = "sentence_bert_config.json"
    save_in_root: ClassVar[bool] = True
    transformer_task: ClassVar[str] = "feature-extraction"
    task_classes: ClassVar[dict[str, type[Transformer]]] = {}
    """transformer_task (as saved by the reference) -> the subclass that runs it, filled by subclasses."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.transformer_task:
            Transformer.task_classes[cls.transformer_task] = cls

    def __init__(
        self,
        model_name_or_path: str | Path,
        max_seq_length: int | None = None,
        model_args: dict[str, Any] | None = None,
        cache_dir: str | None = None,
        tokenizer_args: dict[str, Any] | None = None,
        do_lower_case: bool = False,
        tokenizer_name_or_path: str | None = None,
        *,
        config_args: dict[str, Any] | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
        revision: str | None = None,
        token: bool | str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        if backend != "torch":
            raise ConfigurationError(f"backend={backend!r} is not available yet; use backend='torch'.")
        hub: dict[str, Any] = {
            "cache_folder": cache_dir,
            "revision": revision,
            "token": token,
            "local_files_only": local_files_only,
        }
        folder = resolve_model_folder(model_name_or_path, expand_name=False, **hub)
        tokenizer_folder = (
            folder if tokenizer_name_or_path is None else resolve_model_folder(tokenizer_name_or_path, **hub)
        )
        model_options = {**(model_args or {}), **(model_kwargs or {})}
        config_options = {**(config_args or {}), **(config_kwargs or {})}
        tokenizer_options = {**(tokenizer_args or {}), **(tokenizer_kwargs or {}), **(processor_kwargs or {})}
        trust = {"trust_remote_code": trust_remote_code}
        self.model_folder = folder
        self.do_lower_case = do_lower_case
        # A plain BERT checkpoint runs natively; its tokenizer snapshot spares transformers from the second load on.
        dtype = native_dtype(model_options) if not (config_options or tokenizer_options or trust_remote_code) else None
        plain = (
            type(self) is Transformer
            and dtype is not None
            and tokenizer_folder == folder
            and NativeBertModel.supports(folder)
        )
        self._native_kwargs = model_options if plain else {}  # what auto_model loads transformers with
        native = NativeBertModel.load(folder, dtype or torch.float32) if plain else None
        # A transformers model, or a NativeBertModel until auto_model is read. Files the native model
        # declines (weights that do not fit ...) go to transformers, which reports what is wrong.
        self.model: Any = native
        if native is None:
            self.model = self.load_model(folder, {**trust, **config_options}, {**trust, **model_options})
        snapshot = snapshot_path(folder, do_lower_case) if plain else None
        tokenizer = cached_tokenizer(snapshot, folder, do_lower_case) if snapshot is not None else None
        if tokenizer is None:
            tokenizer = Tokenizer.load(tokenizer_folder, {**trust, **tokenizer_options}, lowercase=do_lower_case)
            if snapshot is not None:
                store_snapshot(tokenizer, snapshot)
        self.tokenizer = tokenizer
        self._forward_params = set(inspect.signature(self.model.forward).parameters)
        # Switched on by the model when a later module reads every layer (WeightedLayerPooling, WKPooling).
        self.output_hidden_states = bool(getattr(self.model.config, "output_hidden_states", False))
        self._max_seq_length = min(self.model_max_positions, self.tokenizer.model_max_length)
        if max_seq_length is not None:
            if max_seq_length > self.model_max_positions:
                logger.warning(
                    "max_seq_length=%d exceeds the %d positions %s can take; using %d.",
                    max_seq_length,
                    self.model_max_positions,
                    folder,
                    self.model_max_positions,
                )
            self._max_seq_length = min(int(max_seq_length), self.model_max_positions)

    def load_model(self, folder: Path, config_kwargs: dict[str, Any], model_kwargs: dict[str, Any]) -> Any:
        """Load the Hugging Face model in ``folder``, checking that its weights fit its config.

        Subclasses with a task head override the hooks :meth:`prepare_config`, :meth:`model_loader`
        and :meth:`check_loading_info`.

        Raises:
            ModelFormatError: no or invalid config.json, corrupt weights, weights that do not fit.
        """
        config = _read_model_config(folder, config_kwargs)
        self.prepare_config(config, config_kwargs)
        loader = self.model_loader(config)
        try:
            model, info = loader.from_pretrained(folder, config=config, output_loading_info=True, **model_kwargs)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelFormatError(
                f"Cannot load the model weights in {folder} with {loader.__name__}: {exc} (weights of the wrong "
                "shape mean the files disagree with the config, or with config_kwargs such as num_labels)"
            ) from exc
        self.check_loading_info(model, folder, info)
        model.eval()
        return model

    def prepare_config(self, config: Any, config_kwargs: dict[str, Any]) -> None:
        """Adjust the Hugging Face config before the weights load (a hook for subclasses)."""

    def model_loader(self, config: Any) -> Any:
        """The ``transformers`` class that loads the model: the encoder (T5 families: their encoder alone)."""
        from transformers import AutoModel, AutoModelForTextEncoding

        return AutoModelForTextEncoding if config.model_type in ("t5", "mt5", "umt5") else AutoModel

    def check_loading_info(self, model: Any, folder: Path, info: dict[str, Any]) -> None:
        """Raise when the weights and config disagree (transformers would fill gaps with random values)."""
        missing = [key for key in info.get("missing_keys", ()) if not key.startswith("pooler.")]
        raise_on_weight_mismatch(model, folder, info, missing, "its config.json")

    @property
    def auto_model(self) -> Any:
        """The Hugging Face model (the name older sentence-transformers versions used).

        A natively loaded BERT is replaced here by the ``transformers`` model, which takes over its
        very parameters (so optimizers and references to them stay valid).
        """
        if isinstance(self.model, NativeBertModel):
            native = self.model
            trust = {"trust_remote_code": False}
            model = self.load_model(self.model_folder, trust, {**trust, **self._native_kwargs})
            model.to(native.embeddings.word_embeddings.weight.device)
            model.load_state_dict(native.state_dict(keep_vars=True), strict=False, assign=True)
            model.train(native.training)
            self.model = model
            self._forward_params = set(inspect.signature(model.forward).parameters)
        return self.model

    def set_compute_dtype(self, dtype: torch.dtype | None) -> None:
        """Run the native BERT's matrix products in ``dtype`` on packed copies of its weights, which stay
        as loaded (``backend="auto"``; see :meth:`NativeBertModel.set_compute_dtype`).

        Raises:
            ConfigurationError: the model does not run natively (not a plain BERT, or handed to transformers).
        """
        if not isinstance(self.model, NativeBertModel):
            raise ConfigurationError(f"{type(self.model).__name__} is not sentkit's native BERT.")
        self.model.set_compute_dtype(dtype)

    def train(self, mode: bool = True) -> Transformer:
        if mode:
            self.auto_model  # noqa: B018  training needs dropout: the native model has none
        return super().train(mode)

    @property
    def model_max_positions(self) -> int:
        """The most tokens the model's position embeddings allow (a large number when unbounded)."""
        config = self.model.config
        positions = getattr(config, "max_position_embeddings", None)
        if positions is None or positions <= 0:
            return 1 << 30
        if config.model_type in PADDING_OFFSET_MODEL_TYPES:
            positions -= (getattr(config, "pad_token_id", None) or 0) + 1
        return int(positions)

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigurationError(f"max_seq_length must be a positive int, got {value!r}.")
        if value > self.model_max_positions:
            raise ConfigurationError(
                f"max_seq_length={value} exceeds the {self.model_max_positions} tokens this model "
                f"({self.model.config.model_type}) can take. Use a value <= {self.model_max_positions}."
            )
        self._max_seq_length = value

    def get_embedding_dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def get_word_embedding_dimension(self) -> int:
        """Older name of :meth:`get_embedding_dimension`."""
        return self.get_embedding_dimension()

    def tokenize(self, texts: list[TextInput], **kwargs: Any) -> Features:
        """Tokenize texts (or text pairs) into padded tensors, truncated to ``max_seq_length``."""
        return self.tokenizer(texts, self.max_seq_length)

    def forward(self, features: Features) -> Features:
        inputs = self._model_inputs(features)
        if self.output_hidden_states:
            inputs["output_hidden_states"] = True
        output = self.model(**inputs, return_dict=True)
        features["token_embeddings"] = output.last_hidden_state  # (B, T, D)
        hidden_states = getattr(output, "hidden_states", None)
        if hidden_states is not None:
            features["all_layer_embeddings"] = hidden_states
        return features

    def _model_inputs(self, features: Features) -> dict[str, Any]:
        """The features the Hugging Face model's forward takes (a missing attention mask left out)."""
        inputs = {key: value for key, value in features.items() if key in self._forward_params}
        if not isinstance(inputs.get("attention_mask"), torch.Tensor):
            inputs.pop("attention_mask", None)
        return inputs

    def save(self, folder: str | Path, safe_serialization: bool = True) -> None:
        folder = Path(folder)
        model = self.auto_model
        if self.output_hidden_states:
            # Saved so that other libraries loading the folder also return every layer.
            model.config.output_hidden_states = True
        model.save_pretrained(folder, safe_serialization=safe_serialization)
        self.tokenizer.save(folder, self.max_seq_length)
        write_json(folder / self.config_file_name, self.get_config_dict())

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        folder = Path(folder)
        options = options or LoadOptions()
        config = saved_config(folder)
        task = config.get("transformer_task") or cls.transformer_task
        if task != cls.transformer_task:
            # sentence-transformers 6 saves task models (masked LM, classifier) as a plain Transformer.
            if task not in cls.task_classes:
                raise ModelFormatError(
                    f"{folder} holds a Transformer with transformer_task={task!r}; sentkit runs "
                    f"{sorted({cls.transformer_task, *cls.task_classes})}."
                )
            return cls.task_classes[task].load(folder, options)
        # Older configs carry keyword arguments for from_pretrained under these names.
        model_kwargs = {
            **config.pop("model_args", {}),
            **config.pop("model_kwargs", {}),
            **options.model_kwargs,
        }
        tokenizer_kwargs = {
            **config.pop("tokenizer_args", {}),
            **config.pop("processor_kwargs", {}),
            **options.tokenizer_kwargs,
        }
        config_kwargs = {
            **config.pop("config_args", {}),
            **config.pop("config_kwargs", {}),
            **options.config_kwargs,
        }
        for saved in (model_kwargs, tokenizer_kwargs, config_kwargs):
            saved.pop("trust_remote_code", None)  # a saved config never switches remote code on
        settings = cls.normalize_config(config, source=folder / CONFIG_FILE_NAMES[0])
        return cls(
            folder,
            max_seq_length=settings.get("max_seq_length"),
            do_lower_case=bool(settings.get("do_lower_case", False)),
            model_kwargs=model_kwargs,
            tokenizer_kwargs=tokenizer_kwargs,
            config_kwargs=config_kwargs,
            trust_remote_code=options.trust_remote_code,
            backend=options.backend,
        )

    @classmethod
    def normalize_config(cls, config: dict[str, Any], source: Path | str = "config") -> dict[str, Any]:
        # Keys that sentence-transformers 6 writes and sentkit derives from the model itself.
        derived = {"transformer_task", "modality_config", "module_output_name", "unpad_inputs"}
        return super().normalize_config({k: v for k, v in config.items() if k not in derived}, source)


def saved_config(folder: Path) -> dict[str, Any]:
    """The module config saved in ``folder`` under any of :data:`CONFIG_FILE_NAMES` ({} when none)."""
    for name in CONFIG_FILE_NAMES:
        if (folder / name).is_file():
            return read_json_object(folder / name)
    return {}


def _read_model_config(folder: Path, config_kwargs: dict[str, Any]) -> Any:
    """The Hugging Face config in ``folder``, after checking the files transformers would trip on."""
    from transformers import AutoConfig

    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelFormatError(f"{folder} has no config.json, so it is not a Hugging Face model folder.")
    read_json_object(config_path)  # clear error for invalid JSON before transformers parses it
    for weights in sorted(folder.glob("*.safetensors")):
        check_safetensors(weights)
    try:
        return AutoConfig.from_pretrained(folder, **config_kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFormatError(f"Cannot read the model config {config_path}: {exc}") from exc


def raise_on_weight_mismatch(model: Any, folder: Path, info: dict[str, Any], missing: list[str], against: str) -> None:
    """Raise :class:`ModelFormatError` for ``missing`` weights, weights for layers the model does not
    have (unexpected keys under one of its own sub-modules; other heads are ignored) or wrong shapes."""
    prefix = f"{getattr(model, 'base_model_prefix', '')}."
    submodules = {name for name, _ in model.named_children()}
    unexpected = sorted(
        key
        for key in info.get("unexpected_keys", ())
        if key.removeprefix(prefix).split(".", 1)[0] in submodules and not key.startswith("pooler.")
    )
    mismatched = sorted(str(item) for item in info.get("mismatched_keys", ()))
    problems = []
    if missing:
        problems.append(f"missing weights {sorted(missing)[:10]}{' ...' if len(missing) > 10 else ''}")
    if unexpected:
        problems.append(
            f"weights the config has no place for {unexpected[:10]}{' ...' if len(unexpected) > 10 else ''}"
        )
    if mismatched:
        problems.append(f"weights of the wrong shape {mismatched[:10]}")
    if problems:
        raise ModelFormatError(
            f"The weights in {folder} do not match {against}: " + "; ".join(problems) + ". "
            "The model files are incomplete or come from different models."
        )
