"""SentenceTransformer: texts -> dense embeddings, with the sentence-transformers API."""

from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sentkit.encoders.engine_setup import ONNX_OPTIONS, set_up_engine
from sentkit.encoders.fit_entry import fit_function
from sentkit.encoders.folders import format_versions, load_pipeline, save_pipeline
from sentkit.encoders.model_card_mixin import ModelCardMixin
from sentkit.encoders.pipeline import check_dimensions, enable_layer_outputs, match_first_dtype
from sentkit.encoders.prompts import check_default_prompt, merge_prompts, resolve_prompt
from sentkit.errors import ConfigurationError, InputError
from sentkit.inference.auto import BACKENDS, EngineInfo
from sentkit.inference.batching import check_max_batch_tokens
from sentkit.inference.engine import EncodeOptions, Engine
from sentkit.inference.inputs import (
    as_text_list,
    check_batch_size,
    check_contentless,
    check_truncate_dim,
    split_task_inputs,
)
from sentkit.inference.precision import check_precision, numpy_dtype, output_width, quantize_embeddings
from sentkit.inference.torch_engine import TorchEngine
from sentkit.io.integrity import verified
from sentkit.io.model_card import SentenceTransformerModelCardData, attach_model_card
from sentkit.io.resolve import resolve_model_folder
from sentkit.modules import Features, LoadOptions, Module, Router, Transformer
from sentkit.similarity import SIMILARITY_FUNCTIONS, similarity_name

logger = logging.getLogger(__name__)

OUTPUT_VALUES = ("sentence_embedding", "token_embeddings", None)


def default_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class SentenceTransformer(ModelCardMixin, nn.Sequential):
    """An embedding model: a sequence of modules that maps texts to vectors.

    Loads a local folder, a Hugging Face cache entry or hub repo, or a model shipped by a carrier
    package (``SentenceTransformer("all-MiniLM-L6-v2")``), or is built from ``modules``. The
    parameters are those of sentence-transformers; ``model_kwargs``, ``tokenizer_kwargs`` and
    ``config_kwargs`` go to the ``from_pretrained`` calls of the underlying Hugging Face model.
    ``verify`` (a sentkit addition, on by default) checks the folder's files against the checksums
    sentkit saved with it, or against the Hugging Face cache's blob names, and refuses a folder that
    lost its ``modules.json`` (:mod:`sentkit.io.integrity`, :func:`sentkit.io.layouts.check_not_damaged`).

    Raises:
        ModelNotFoundError, ModelFormatError: the model cannot be found or its files are broken.
        ConfigurationError: inconsistent settings (unknown default prompt, empty modules, backend).
    """

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        modules: Iterable[nn.Module] | OrderedDict[str, nn.Module] | None = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        truncate_dim: int | None = None,
        similarity_fn_name: str | None = None,
        backend: str = "torch",
        processor_kwargs: dict[str, Any] | None = None,
        model_card_data: Any = None,
        verify: bool = True,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigurationError(f"backend={backend!r} is not one of {BACKENDS}.")
        model_kwargs = dict(model_kwargs or {})
        onnx_options = {key: model_kwargs.pop(key) for key in ONNX_OPTIONS if key in model_kwargs}
        settings: dict[str, Any] = {}
        folder: Path | None = None
        if model_name_or_path is not None:
            folder = resolve_model_folder(
                model_name_or_path,
                cache_folder=cache_folder,
                revision=revision,
                local_files_only=local_files_only,
                token=token,
            )
            options = LoadOptions(
                cache_folder=cache_folder,
                revision=revision,
                token=token,
                local_files_only=local_files_only,
                trust_remote_code=trust_remote_code,
                model_kwargs=model_kwargs,
                tokenizer_kwargs={**(processor_kwargs or {}), **(tokenizer_kwargs or {})},
                config_kwargs=dict(config_kwargs or {}),
                backend="torch",  # modules hold torch weights; the onnx backend exports them once
                verify=verify,
            )
            with verified(folder, verify):
                loaded = load_pipeline(folder, options)
            modules, settings = loaded.modules, loaded.settings
        if modules is None:
            raise ConfigurationError("Pass model_name_or_path or modules=[...] to build a SentenceTransformer.")
        if not isinstance(modules, OrderedDict):
            modules = OrderedDict((str(index), module) for index, module in enumerate(modules))
        if not modules:
            raise ConfigurationError("modules is empty; a SentenceTransformer needs at least one module.")
        check_dimensions(modules.values())
        enable_layer_outputs(modules.values())
        match_first_dtype(list(modules.values()))
        super().__init__(modules)
        self.model_name_or_path = None if model_name_or_path is None else str(model_name_or_path)
        self.prompts = merge_prompts({"query": None, "document": None}, prompts, settings.get("prompts"))
        self.default_prompt_name = default_prompt_name or settings.get("default_prompt_name")
        check_default_prompt(self.prompts, self.default_prompt_name)
        self.truncate_dim = check_truncate_dim(
            truncate_dim if truncate_dim is not None else settings.get("truncate_dim"), self._full_dimension()
        )
        self._similarity_fn_name: str | None = None
        name = similarity_fn_name or settings.get("similarity_fn_name")
        if name is not None:
            self.similarity_fn_name = name
        self._prompt_lengths: dict[str, int] = {}
        card_class = SentenceTransformerModelCardData
        attach_model_card(self, model_card_data, card_class, folder, model_name_or_path, local_files_only, revision)
        self.to(device or default_device())
        self.eval()
        load_settings = {
            "model_kwargs": model_kwargs,
            "tokenizer_kwargs": tokenizer_kwargs,
            "config_kwargs": config_kwargs,
        }
        load_settings = {key: value for key, value in load_settings.items() if value}
        self._engine: Engine | None
        self._engine, self._engine_info = set_up_engine(self, backend, folder, onnx_options, load_settings, verify)
        self.backend = self._engine_info.backend  # for "auto", what it picked

    @property
    def engine(self) -> Engine:
        """What runs the pipeline in :meth:`encode`: torch, or ONNX Runtime with ``backend="onnx"`` (or
        ``"auto"``'s choice, see :attr:`engine_info`).

        Assign an object with the same ``run`` method to replace it (tests use a fake one).
        """
        if self._engine is None:
            self._engine = TorchEngine(self)
        return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine_info(self) -> EngineInfo:
        """The engine and precision this model was set up to encode with at load, and why (see
        ``backend="auto"``). It does not follow later changes (``model.engine = ...``, ``.to(dtype)``)."""
        return self._engine_info

    # ----------------------------------------------------------------------------------- encode
    def encode(
        self,
        sentences: str | Sequence[str] | np.ndarray | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: str | None = "sentence_embedding",
        precision: str = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | list[str] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        max_batch_tokens: int | None = None,
        empty: str = "warn",
        **kwargs: Any,
    ) -> Any:
        """Embed one text or a list of texts.

        Returns (by default) a float32 numpy array: (D,) for one text, (N, D) for a list, in input
        order; ``(0, D)`` for an empty list. ``convert_to_tensor`` gives a torch tensor, neither
        flag a list of tensors. ``output_value="token_embeddings"`` gives one (T_i, D) tensor per
        text, ``None`` one dict of all features per text. ``precision`` other than float32 gives
        quantized numpy arrays (binary ones packed to ceil(D / 8) columns). ``max_batch_tokens``
        (a sentkit addition) also bounds each batch by padded tokens (rows x longest input).
        ``empty`` (a sentkit addition) says what to do with inputs that have no content (empty,
        or only whitespace, control or zero-width characters): they get the embedding of an empty
        input, as in sentence-transformers, after one warning naming them (``"warn"``), silently
        (``"keep"``), or not at all (``"error"`` raises).

        Raises:
            InputTypeError: an input item that is not a str, or a PIL image for a model that takes
                images (names its index and type).
            InputError: an unencodable text (names its index), an unknown prompt name, precision or
                output value, a non-positive batch size, an unknown keyword argument, contentless
                inputs with ``empty="error"`` (names their indices).
            ConfigurationError: ``truncate_dim`` outside 1..D (names D).
            NumericalError: NaN or inf in the output (names the rows).
        """
        if sentences is None and "inputs" in kwargs:
            sentences = kwargs.pop("inputs")
        if pool is not None or (isinstance(device, list) and device):
            from sentkit.inference.pool import encode_with_pool

            return encode_with_pool(
                self,
                sentences,
                pool,
                chunk_size,
                prompt_name=prompt_name,
                prompt=prompt,
                batch_size=batch_size,
                show_progress_bar=show_progress_bar,
                output_value=output_value,
                precision=precision,
                convert_to_numpy=convert_to_numpy,
                convert_to_tensor=convert_to_tensor,
                device=device,
                normalize_embeddings=normalize_embeddings,
                truncate_dim=truncate_dim,
                max_batch_tokens=max_batch_tokens,
                empty=empty,
                **kwargs,
            )
        task = kwargs.pop("task", None)
        if kwargs:
            raise InputError(f"encode() got unexpected keyword arguments {sorted(kwargs)}.")
        if output_value not in OUTPUT_VALUES:
            raise InputError(f"output_value={output_value!r} is not one of {OUTPUT_VALUES}.")
        check_precision(precision)
        batch_size = check_batch_size(batch_size)
        if self._has_router():
            sentences, task = split_task_inputs(sentences, task)
        texts, is_single = as_text_list(sentences, self.modalities)
        check_contentless(texts, empty)
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        if convert_to_tensor:
            convert_to_numpy = False
        if output_value != "sentence_embedding":
            convert_to_numpy = convert_to_tensor = False
        prompt = resolve_prompt(self.prompts, self.default_prompt_name, prompt, prompt_name)
        truncate_dim = truncate_dim if truncate_dim is not None else self.truncate_dim
        if truncate_dim is not None:
            truncate_dim = check_truncate_dim(truncate_dim, self._full_dimension())
        if isinstance(device, str):
            self.to(device)

        if not texts:
            return self._empty_output(precision, truncate_dim, convert_to_numpy, convert_to_tensor, output_value)
        options = EncodeOptions(
            prompt=prompt,
            task=task,
            batch_size=batch_size,
            max_batch_tokens=check_max_batch_tokens(max_batch_tokens),
            show_progress_bar=show_progress_bar,
            output_value=output_value,
            truncate_dim=truncate_dim,
            normalize=normalize_embeddings,
        )
        outputs = self.engine.run(texts, options)
        if output_value != "sentence_embedding":
            return outputs[0] if is_single else outputs
        embeddings = torch.as_tensor(outputs)  # (N, D)
        result: Any = embeddings
        if precision != "float32":
            result = torch.from_numpy(quantize_embeddings(embeddings, precision))
        if convert_to_numpy:
            result = result.float().numpy() if result.dtype == torch.bfloat16 else result.numpy()
        elif not convert_to_tensor:
            result = list(result)
        return result[0] if is_single else result

    def _empty_output(
        self,
        precision: str,
        truncate_dim: int | None,
        convert_to_numpy: bool,
        convert_to_tensor: bool,
        output_value: str | None,
    ) -> Any:
        if output_value != "sentence_embedding" or not (convert_to_numpy or convert_to_tensor):
            return []
        width = output_width(self.get_sentence_embedding_dimension(truncate_dim) or 0, precision)
        empty = np.zeros((0, width), dtype=numpy_dtype(precision))
        return torch.from_numpy(empty) if convert_to_tensor else empty

    def start_multi_process_pool(self, target_devices: list[str] | None = None, **options: Any) -> Any:
        """Start worker processes (one per device; 4 CPU workers by default) for ``encode(..., pool=pool)``.

        The pool is also a context manager: ``with model.multi_process_pool() as pool: ...``.
        See :mod:`sentkit.inference.pool` for why it cannot hang.
        """
        from sentkit.inference.pool import start_multi_process_pool

        return start_multi_process_pool(self, target_devices, **options)

    multi_process_pool = start_multi_process_pool

    @staticmethod
    def stop_multi_process_pool(pool: Any) -> None:
        """Stop the workers of ``pool`` (always: they are terminated, then killed, if they do not exit)."""
        from sentkit.inference.pool import stop_multi_process_pool

        stop_multi_process_pool(pool)

    def encode_multi_process(
        self,
        sentences: list[str],
        pool: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        chunk_size: int | None = None,
        show_progress_bar: bool | None = None,
        precision: str = "float32",
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
    ) -> Any:
        """Deprecated, as in the reference: use ``encode(sentences, pool=pool)``."""
        warnings.warn(
            "encode_multi_process is deprecated; use encode(..., pool=pool).", DeprecationWarning, stacklevel=2
        )
        return self.encode(
            sentences,
            prompt_name=prompt_name,
            prompt=prompt,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            precision=precision,
            normalize_embeddings=normalize_embeddings,
            truncate_dim=truncate_dim,
            pool=pool,
            chunk_size=chunk_size,
        )

    def encode_query(
        self, sentences: Any = None, prompt_name: str | None = None, prompt: str | None = None, **kwargs: Any
    ) -> Any:
        """:meth:`encode` with the ``query`` prompt unless another is given."""
        if prompt_name is None and prompt is None and "query" in self.prompts:
            prompt_name = "query"
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, task="query", **kwargs)

    def encode_document(
        self, sentences: Any = None, prompt_name: str | None = None, prompt: str | None = None, **kwargs: Any
    ) -> Any:
        """:meth:`encode` with the ``document`` (or ``passage`` / ``corpus``) prompt unless another is given."""
        if prompt_name is None and prompt is None:
            prompt_name = next((name for name in ("document", "passage", "corpus") if name in self.prompts), None)
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, task="document", **kwargs)

    # ------------------------------------------------------------------------------- features
    def tokenize(self, texts: list[str], prompt: str | None = None, task: str | None = None) -> Features:
        """Tokenize ``texts`` (with ``prompt`` prepended) with the first module; ``task`` picks Router routes."""
        first = self._first_module()
        if prompt:
            texts = [prompt + text if isinstance(text, str) else text for text in texts]  # images take none
        if isinstance(first, Router):
            features: Features = first.tokenize(texts, task=task)
            first = first.routes()[first.route(task)][0]
        else:
            features = first.tokenize(texts)  # type: ignore[operator]
        features["task"] = task
        if prompt and isinstance(first, Transformer):
            features["prompt_length"] = self._prompt_length(first, prompt)
        elif prompt and features.get("modality") == "text" and hasattr(first, "prompt_length"):
            features["prompt_length"] = first.prompt_length(prompt)  # type: ignore[operator]  # CLIPModel texts
        return features

    def preprocess(self, inputs: list[str], prompt: str | None = None, task: str | None = None) -> Features:
        """The newer name of :meth:`tokenize`."""
        return self.tokenize(inputs, prompt=prompt, task=task)

    @property
    def modalities(self) -> list[str]:
        """The kinds of input :meth:`encode` takes: ``["text"]``, or ``["text", "image"]`` for CLIPModel."""
        return list(getattr(self._first_module(), "modalities", ("text",)))

    def _has_router(self) -> bool:
        return any(isinstance(module, Router) for module in self)

    def _prompt_length(self, transformer: Transformer, prompt: str) -> int:
        """Tokens the prompt takes at the start of an input (its trailing special token excluded)."""
        if prompt not in self._prompt_lengths:
            ids = transformer.tokenize([prompt])["input_ids"][0].tolist()
            special = set(getattr(transformer.tokenizer.hf_tokenizer, "all_special_ids", ()))
            self._prompt_lengths[prompt] = len(ids) - (1 if ids and ids[-1] in special else 0)
        return self._prompt_lengths[prompt]

    def forward(self, features: Features) -> Features:
        for module in self:
            features = module(features)
        return features

    # ---------------------------------------------------------------------------- properties
    def _first_module(self) -> nn.Module:
        return self[0]

    def _last_module(self) -> nn.Module:
        return self[-1]

    @property
    def device(self) -> torch.device:
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype | None:
        """The type of the model's first weight (float32 unless loaded otherwise), None without weights."""
        parameter = next(self.parameters(), None)
        return parameter.dtype if parameter is not None else None

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer of the first module."""
        return self._first_module().tokenizer.hf_tokenizer  # type: ignore[union-attr]

    @property
    def max_seq_length(self) -> int | None:
        """Tokens kept per input; longer inputs are truncated. Setting past the model's limit raises."""
        return getattr(self._first_module(), "max_seq_length", None)

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        first = self._first_module()
        if not hasattr(first, "max_seq_length"):
            raise ConfigurationError(f"The first module ({type(first).__name__}) has no max_seq_length.")
        setattr(first, "max_seq_length", value)  # noqa: B010 - nn.Module typing hides the property

    def get_max_seq_length(self) -> int | None:
        return self.max_seq_length

    def _full_dimension(self) -> int | None:
        """Size of the embeddings the modules output, before any ``truncate_dim`` (None when unknown)."""
        for module in reversed(list(self._modules.values())):
            method = getattr(module, "get_embedding_dimension", None)
            dimension = method() if callable(method) else None
            if dimension is not None:
                return int(dimension)
        return None

    def get_sentence_embedding_dimension(self, truncate_dim: int | None = None) -> int | None:
        """Size of the embeddings :meth:`encode` returns (after ``truncate_dim``)."""
        dimension = self._full_dimension()
        truncate_dim = truncate_dim if truncate_dim is not None else self.truncate_dim
        if dimension is not None and truncate_dim is not None:
            return min(dimension, truncate_dim)
        return dimension

    def get_embedding_dimension(self) -> int | None:
        return self.get_sentence_embedding_dimension()

    # ---------------------------------------------------------------------------- similarity
    @property
    def similarity_fn_name(self) -> str:
        """``cosine`` (default), ``dot``, ``euclidean`` or ``manhattan``."""
        if self._similarity_fn_name is None:
            self._similarity_fn_name = "cosine"
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: Any) -> None:
        self._similarity_fn_name = None if value is None else similarity_name(value)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Tensor:
        """(N, M) similarities under :attr:`similarity_fn_name`; quantized inputs are compared as floats."""
        return SIMILARITY_FUNCTIONS[self.similarity_fn_name][0](embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Tensor:
        """(N,) similarities of ``embeddings1[i]`` and ``embeddings2[i]``."""
        return SIMILARITY_FUNCTIONS[self.similarity_fn_name][1](embeddings1, embeddings2)

    # -------------------------------------------------------------------------------- saving
    def save(
        self,
        path: str | Path,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Write the model to ``path`` in the sentence-transformers folder format."""
        folder = Path(path)
        modules = list(self._modules.values())
        if not all(isinstance(module, Module) for module in modules):
            raise ConfigurationError("Only sentkit modules can be saved; this model holds other nn.Modules.")
        card = self._model_card(folder, model_name) if create_model_card else None
        save_pipeline(folder, modules, self._settings(), safe_serialization, card)  # type: ignore[arg-type]

    def save_pretrained(self, path: str | Path, **kwargs: Any) -> None:
        """Same as :meth:`save`."""
        self.save(path, **kwargs)

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "__version__": format_versions(),
            "model_type": "SentenceTransformer",
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }
        if self.truncate_dim is not None:
            settings["truncate_dim"] = self.truncate_dim
        return settings

    # ------------------------------------------------------------------------------ training
    def fit(self, *args: Any, **kwargs: Any) -> None:
        """Train with the classic ``fit(train_objectives=[(DataLoader, loss)], ...)`` API.

        Runs on :class:`~sentkit.train.SentenceTransformerTrainer`; the arguments are those of
        :func:`sentkit.train.fit.fit_sentence_transformer`. Needs the ``train`` extra.
        """
        fit_function("SentenceTransformer")(self, *args, **kwargs)
