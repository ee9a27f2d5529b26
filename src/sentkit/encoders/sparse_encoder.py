"""SparseEncoder: texts -> sparse vocabulary-sized embeddings (SPLADE), with the sentence-transformers API."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from sentkit.encoders import sparse_tools
from sentkit.encoders.folders import format_versions, save_pipeline
from sentkit.encoders.model_card_mixin import ModelCardMixin
from sentkit.encoders.pipeline import match_first_dtype
from sentkit.encoders.prompts import check_default_prompt, merge_prompts, resolve_prompt
from sentkit.encoders.sentence_transformer import default_device
from sentkit.encoders.task_folders import load_sparse_encoder
from sentkit.errors import ConfigurationError, InputError, NumericalError, UnencodableTextError
from sentkit.inference.inputs import as_text_list, check_batch_size, check_contentless
from sentkit.io.integrity import verified
from sentkit.io.model_card import SparseEncoderModelCardData, attach_model_card
from sentkit.io.resolve import resolve_model_folder
from sentkit.modules import Features, LoadOptions, Module, Router, Transformer
from sentkit.modules.splade_pooling import SpladePooling
from sentkit.similarity import SIMILARITY_FUNCTIONS, similarity_name

logger = logging.getLogger(__name__)

DEFAULT_ORGANIZATION = "sparse-encoder"
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


class SparseEncoder(ModelCardMixin, nn.Sequential):
    """A sparse embedding model: texts -> one weight per vocabulary token, most of them 0.

    Loads sentence-transformers SparseEncoder folders (SPLADE: an MLM Transformer and
    :class:`~sentkit.modules.splade_pooling.SpladePooling`; or modules such as
    :class:`~sentkit.modules.sparse_static_embedding.SparseStaticEmbedding`) and plain Hugging
    Face ``*ForMaskedLM`` checkpoints (made into SPLADE with max pooling), or is built from
    ``modules``. A bare hub name expands to ``sparse-encoder/NAME``.

    Args:
        similarity_fn_name: ``dot`` (default), ``cosine``, ``euclidean`` or ``manhattan``.
        max_active_dims: keep at most this many non-zero weights per embedding (the largest).
        The other arguments are those of :class:`~sentkit.SentenceTransformer`.

    Raises:
        ModelNotFoundError, ModelFormatError: the model cannot be found or is no sparse model sentkit runs
            (CSR models, made of a SparseAutoEncoder, are not supported).
        ConfigurationError: a bad ``max_active_dims``, an unknown default prompt or backend.
    """

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        modules: Iterable[nn.Module] | None = None,
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
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        model_card_data: Any = None,
        backend: str = "torch",
        similarity_fn_name: str | None = None,
        max_active_dims: int | None = None,
        verify: bool = True,
    ) -> None:
        if backend != "torch":
            raise ConfigurationError(f"backend={backend!r} is not available yet; use backend='torch'.")
        settings: dict[str, Any] = {}
        folder = None
        if model_name_or_path is not None:
            folder = resolve_model_folder(
                model_name_or_path,
                organization=DEFAULT_ORGANIZATION,
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
                model_kwargs=dict(model_kwargs or {}),
                tokenizer_kwargs={**(processor_kwargs or {}), **(tokenizer_kwargs or {})},
                config_kwargs=dict(config_kwargs or {}),
                backend=backend,
                verify=verify,
            )
            with verified(folder, verify):
                modules, settings = load_sparse_encoder(folder, options)
        if not modules:
            raise ConfigurationError("Pass model_name_or_path or modules=[...] to build a SparseEncoder.")
        match_first_dtype(list(modules))
        super().__init__(OrderedDict((str(index), module) for index, module in enumerate(modules)))
        self.model_name_or_path = None if model_name_or_path is None else str(model_name_or_path)
        self.backend = backend
        self.prompts = merge_prompts({"query": None, "document": None}, prompts, settings.get("prompts"))
        self.default_prompt_name = default_prompt_name or settings.get("default_prompt_name")
        check_default_prompt(self.prompts, self.default_prompt_name)
        self._similarity_fn_name: str | None = None
        saved_similarity = settings.get("similarity_fn_name")
        if similarity_fn_name is not None:
            self.similarity_fn_name = similarity_fn_name
        elif saved_similarity in SIMILARITY_FUNCTIONS:
            self.similarity_fn_name = saved_similarity
        if max_active_dims is None:
            max_active_dims = settings.get("max_active_dims")
        try:
            self.max_active_dims = sparse_tools.check_max_active_dims(max_active_dims)
        except InputError as exc:
            raise ConfigurationError(str(exc)) from exc
        self._prompt_lengths: dict[str, int] = {}
        attach_model_card(
            self,
            model_card_data,
            SparseEncoderModelCardData,
            folder,
            model_name_or_path,
            local_files_only,
            revision,
            organization=DEFAULT_ORGANIZATION,
        )
        self.to(device or default_device())
        self.eval()

    # ----------------------------------------------------------------------------------- encode
    def encode(
        self,
        sentences: str | list[str] | np.ndarray | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | None = None,
        max_active_dims: int | None = None,
        empty: str = "warn",
        **kwargs: Any,
    ) -> Any:
        """Embed one text or a list of texts (also accepted as ``inputs=``).

        Returns:
            By default a sparse COO tensor (coalesced): (V,) for one text, (N, V) for a list in
            input order, (0, V) for an empty list. ``convert_to_sparse_tensor=False`` gives dense
            tensors, ``convert_to_tensor=False`` a list of per-text tensors. Results stay on the
            model's device unless ``save_to_cpu``. ``max_active_dims`` (default: the model's) keeps
            the largest weights of each embedding and zeroes the rest.

        ``task`` (a keyword) picks the route of a Router module (``encode_query`` sets ``"query"``).
        ``empty``: what to do with inputs that have no content, as in ``SentenceTransformer.encode``.

        Raises:
            InputTypeError: an input that is not a str (names its index and type).
            InputError: an unencodable text, a bad batch size, prompt name or max_active_dims, an
                unknown keyword argument, contentless inputs with ``empty="error"``.
            NumericalError: NaN or inf in the output (names the inputs).
        """
        if sentences is None and "inputs" in kwargs:
            sentences = kwargs.pop("inputs")
        task = kwargs.pop("task", None)
        if kwargs:
            raise InputError(f"encode() got unexpected keyword arguments {sorted(kwargs)}.")
        batch_size = check_batch_size(batch_size)
        limit = sparse_tools.check_max_active_dims(max_active_dims)
        limit = limit if limit is not None else self.max_active_dims
        texts, is_single = as_text_list(sentences)
        check_contentless(texts, empty)
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        resolved_prompt = resolve_prompt(self.prompts, self.default_prompt_name, prompt, prompt_name)
        if device is not None:
            self.to(device)
        embeddings = self._run(texts, resolved_prompt, task, batch_size, show_progress_bar, limit)
        embeddings = embeddings if convert_to_sparse_tensor else embeddings.to_dense()
        if save_to_cpu:
            embeddings = embeddings.cpu()
        result: Any = embeddings if convert_to_tensor else [embeddings[i] for i in range(len(texts))]
        return result[0] if is_single else result

    def _run(
        self,
        texts: list[str],
        prompt: str | None,
        task: str | None,
        batch_size: int,
        show_progress_bar: bool,
        max_active_dims: int | None,
    ) -> Tensor:
        """(N, V) sparse embeddings in input order, computed in length-sorted batches; each batch is
        made sparse as soon as it is computed, so memory holds only the active weights."""
        order = np.argsort([-len(text) for text in texts], kind="stable")
        batches: list[Tensor] = []
        device = self.device
        for start in tqdm(range(0, len(texts), batch_size), desc="Batches", disable=not show_progress_bar):
            indices = order[start : start + batch_size]
            try:
                features = self.tokenize([texts[i] for i in indices], prompt=prompt, task=task)
            except UnencodableTextError as exc:
                raise UnencodableTextError(int(indices[exc.index])) from exc.__cause__
            features = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in features.items()}
            with torch.inference_mode():
                embeddings = self.forward(features)["sentence_embedding"]  # (B, V)
            finite = torch.isfinite(embeddings).all(dim=1)
            if not bool(finite.all()):
                bad = sorted(int(indices[i]) for i in torch.nonzero(~finite).flatten().tolist())
                raise NumericalError(f"The model produced NaN or inf for the inputs at indices {bad}.")
            if max_active_dims is not None:
                embeddings = sparse_tools.keep_top_dims(embeddings, max_active_dims)
            batches.append(embeddings.to_sparse())
        if not batches:
            width = self.get_embedding_dimension() or 0
            return torch.zeros((0, width), device=device).to_sparse()
        inverse = torch.from_numpy(np.argsort(order)).to(device)
        return torch.cat(batches).index_select(0, inverse).coalesce()  # (N, V) sparse

    def encode_query(
        self, sentences: Any = None, prompt_name: str | None = None, prompt: str | None = None, **kwargs: Any
    ) -> Any:
        """:meth:`encode` with the ``query`` prompt (unless another is given) and ``task="query"``."""
        if prompt_name is None and prompt is None and "query" in self.prompts:
            prompt_name = "query"
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, **{"task": "query", **kwargs})

    def encode_document(
        self, sentences: Any = None, prompt_name: str | None = None, prompt: str | None = None, **kwargs: Any
    ) -> Any:
        """:meth:`encode` with the ``document`` (or ``passage`` / ``corpus``) prompt and ``task="document"``."""
        if prompt_name is None and prompt is None:
            prompt_name = next((name for name in DOCUMENT_PROMPT_NAMES if name in self.prompts), None)
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, **{"task": "document", **kwargs})

    def tokenize(self, texts: list[str], prompt: str | None = None, task: str | None = None) -> Features:
        """Tokenize ``texts`` (``prompt`` prepended) with the first module; ``task`` picks a Router's route."""
        first: Any = self[0]
        if prompt:
            texts = [prompt + text for text in texts]
        if isinstance(first, Router):
            features: Features = first.tokenize(texts, task=task)
            first = first.sub_modules[first.route(task)][0]  # type: ignore[index]
        else:
            features = first.tokenize(texts)
        features["task"] = task
        if prompt and isinstance(first, Transformer):
            if prompt not in self._prompt_lengths:
                ids = first.tokenize([prompt])["input_ids"][0].tolist()
                special = set(getattr(first.tokenizer.hf_tokenizer, "all_special_ids", ()))
                self._prompt_lengths[prompt] = len(ids) - (1 if ids and ids[-1] in special else 0)
            features["prompt_length"] = self._prompt_lengths[prompt]
        return features

    def forward(self, features: Features) -> Features:
        for module in self:
            features = module(features)
        return features

    # ------------------------------------------------------------------------------ similarity
    @property
    def similarity_fn_name(self) -> str:
        """``dot`` (default), ``cosine``, ``euclidean`` or ``manhattan``."""
        if self._similarity_fn_name is None:
            self._similarity_fn_name = "dot"
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: Any) -> None:
        self._similarity_fn_name = None if value is None else similarity_name(value)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Tensor:
        """(N, M) similarities of sparse or dense embeddings under :attr:`similarity_fn_name`."""
        return SIMILARITY_FUNCTIONS[self.similarity_fn_name][0](embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Tensor:
        """(N,) similarities of ``embeddings1[i]`` and ``embeddings2[i]``."""
        return SIMILARITY_FUNCTIONS[self.similarity_fn_name][1](embeddings1, embeddings2)

    # ----------------------------------------------------------------------- sparse utilities
    @staticmethod
    def sparsity(embeddings: Tensor) -> dict[str, float]:
        """``{"active_dims", "sparsity_ratio"}`` averaged over rows; see :func:`sparse_tools.sparsity`."""
        return sparse_tools.sparsity(embeddings)

    @staticmethod
    def intersection(embeddings_1: Tensor, embeddings_2: Tensor) -> Tensor:
        """The dimensions both embeddings activate, weighted by their product (sparse, shaped like the second)."""
        return sparse_tools.intersection(embeddings_1, embeddings_2)

    def decode(self, embeddings: Tensor, top_k: int | None = None) -> Any:
        """(token, weight) pairs per embedding, heaviest first; see :func:`sparse_tools.decode`."""
        return sparse_tools.decode(self.tokenizer, embeddings, top_k)

    # ----------------------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer of the first module (of the default route for a Router)."""
        first: Any = self[0]
        if isinstance(first, Router):
            first = first.sub_modules[first.route(None)][0]  # type: ignore[index]
        tokenizer = first.tokenizer
        return getattr(tokenizer, "hf_tokenizer", tokenizer)

    @property
    def transformers_model(self) -> Any:
        """The first Hugging Face model in the pipeline, or None."""
        for module in self.modules():
            if isinstance(module, Transformer):
                return module.model
        return None

    @property
    def max_seq_length(self) -> int | None:
        """Tokens kept per text; longer texts are truncated."""
        return getattr(self[0], "max_seq_length", None)

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        setattr(self[0], "max_seq_length", value)  # noqa: B010 - nn.Module typing hides the property

    def get_max_seq_length(self) -> int | None:
        return self.max_seq_length

    def get_embedding_dimension(self) -> int | None:
        """V, the size of the embeddings (the vocabulary size for SPLADE)."""
        for module in reversed(list(self._modules.values())):
            method = getattr(module, "get_embedding_dimension", None)
            dimension = method() if callable(method) else None
            if dimension is not None:
                return int(dimension)
        return None

    def get_sentence_embedding_dimension(self) -> int | None:
        """Older name of :meth:`get_embedding_dimension`."""
        return self.get_embedding_dimension()

    @property
    def splade_pooling_chunk_size(self) -> int | None:
        """Tokens SpladePooling processes at once (None: all); smaller bounds memory on long texts."""
        pooling = next((module for module in self if isinstance(module, SpladePooling)), None)
        return None if pooling is None else pooling.chunk_size

    @splade_pooling_chunk_size.setter
    def splade_pooling_chunk_size(self, value: int | None) -> None:
        for module in self:
            if isinstance(module, SpladePooling):
                module.chunk_size = value

    # -------------------------------------------------------------------------------- saving
    def save(
        self,
        path: str | Path,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Write the model to ``path`` in the sentence-transformers SparseEncoder format."""
        folder = Path(path)
        modules = list(self._modules.values())
        if not all(isinstance(module, Module) for module in modules):
            raise ConfigurationError("Only sentkit modules can be saved; this model holds other nn.Modules.")
        settings: dict[str, Any] = {
            "__version__": format_versions(),
            "default_prompt_name": self.default_prompt_name,
            "model_type": "SparseEncoder",
            "prompts": self.prompts,
            "similarity_fn_name": self._similarity_fn_name,
        }
        if self.max_active_dims is not None:
            settings["max_active_dims"] = self.max_active_dims
        card = self._model_card(folder, model_name) if create_model_card else None
        save_pipeline(folder, modules, settings, safe_serialization, card)  # type: ignore[arg-type]

    def save_pretrained(self, path: str | Path, **kwargs: Any) -> None:
        """Same as :meth:`save`."""
        self.save(path, **kwargs)
