"""MultiVectorEncoder: texts -> one embedding per token, scored with MaxSim (ColBERT-style late interaction).

The sentence-transformers 6.2 ``MultiVectorEncoder`` API: ``encode_query`` / ``encode_document``
return a list of (T_i, D) tensors (or arrays), ``similarity`` scores them with MaxSim, and folders
move both ways between the two libraries.
"""

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

import sentkit.maxsim as maxsim_functions
from sentkit.encoders.model_card_mixin import ModelCardMixin
from sentkit.encoders.multi_vector_batches import check_encode_options, split_batch
from sentkit.encoders.multi_vector_folders import load_multi_vector_modules, save_multi_vector_encoder
from sentkit.encoders.pipeline import match_first_dtype, walk
from sentkit.encoders.prompts import check_default_prompt, merge_prompts, resolve_prompt
from sentkit.encoders.sentence_transformer import default_device
from sentkit.errors import ConfigurationError, UnencodableTextError
from sentkit.inference.inputs import as_text_list, check_batch_size
from sentkit.io.integrity import verified
from sentkit.io.model_card import MultiVectorEncoderModelCardData, attach_model_card
from sentkit.io.resolve import resolve_model_folder
from sentkit.modules import Features, LoadOptions, Transformer
from sentkit.modules.multi_vector_mask import MultiVectorMask
from sentkit.modules.multi_vector_transformer import MultiVectorTransformer

logger = logging.getLogger(__name__)

DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")
SIMILARITY_FUNCTIONS = {
    "maxsim": (maxsim_functions.maxsim, maxsim_functions.maxsim_pairwise),
    "meanmaxsim": (maxsim_functions.mean_maxsim, maxsim_functions.mean_maxsim_pairwise),
}


class MultiVectorEncoder(ModelCardMixin, nn.Sequential):
    """A late-interaction embedding model: one vector per token, queries and documents scored with MaxSim.

    Loads sentence-transformers ``MultiVectorEncoder`` folders (a Transformer, a token-level Dense
    projection, :class:`~sentkit.modules.multi_vector_mask.MultiVectorMask` and a token-level
    Normalize), makes SentenceTransformer folders and plain Hugging Face checkpoints multi-vector
    as the reference does (with a new, untrained projection when they have none), or is built
    from ``modules``.

    Query and document handling lives on the modules: the Transformer's ``query_length``,
    ``document_length`` and ``query_expansion`` (see
    :class:`~sentkit.modules.multi_vector_transformer.MultiVectorTransformer`) and the mask's skiplist.
    Marker prefixes such as ``"[Q] "`` / ``"[D] "`` are the ``query`` / ``document`` prompts.

    Args:
        similarity_fn_name: ``"maxsim"`` (default) or ``"meanmaxsim"`` (MaxSim over query length).
        The other arguments are those of :class:`~sentkit.SentenceTransformer`.

    Raises:
        ModelNotFoundError, ModelFormatError: the model cannot be found or read.
        ConfigurationError: no model and no modules, an unknown similarity, default prompt or backend.
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
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        model_card_data: Any = None,
        backend: str = "torch",
        similarity_fn_name: str | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        verify: bool = True,
    ) -> None:
        if backend != "torch":
            raise ConfigurationError(f"backend={backend!r} is not available for MultiVectorEncoder; use 'torch'.")
        settings: dict[str, Any] = {}
        folder = None
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
                model_kwargs=dict(model_kwargs or {}),
                tokenizer_kwargs={**(processor_kwargs or {}), **(tokenizer_kwargs or {})},
                config_kwargs=dict(config_kwargs or {}),
                backend=backend,
                verify=verify,
            )
            with verified(folder, verify):
                modules, settings = load_multi_vector_modules(folder, options)
        modules = list(modules or [])
        if not modules:
            raise ConfigurationError("Pass model_name_or_path or modules=[...] to build a MultiVectorEncoder.")
        match_first_dtype(modules)
        super().__init__(OrderedDict((str(index), module) for index, module in enumerate(modules)))
        self.model_name_or_path = None if model_name_or_path is None else str(model_name_or_path)
        self.backend = backend
        self.prompts = merge_prompts({"query": None, "document": None}, prompts, settings.get("prompts"))
        self.default_prompt_name = default_prompt_name or settings.get("default_prompt_name")
        check_default_prompt(self.prompts, self.default_prompt_name)
        self._similarity_fn_name: str | None = None
        if similarity_fn_name is not None:
            self.similarity_fn_name = similarity_fn_name
        elif settings.get("similarity_fn_name") in SIMILARITY_FUNCTIONS:
            self._similarity_fn_name = settings["similarity_fn_name"]
        self._resolve_skiplists()
        card_class = MultiVectorEncoderModelCardData
        attach_model_card(self, model_card_data, card_class, folder, model_name_or_path, local_files_only, revision)
        self.to(device or default_device())
        self.eval()

    def _resolve_skiplists(self) -> None:
        """Give every MultiVectorMask the token ids of its skiplist; warn about unscored expansion."""
        modules = list(walk(self))
        for module in modules:
            if isinstance(module, MultiVectorMask):
                module.resolve_with_tokenizer(self.tokenizer)
        expands = any(isinstance(module, MultiVectorTransformer) and module.query_expansion for module in modules)
        if expands and not any(isinstance(module, MultiVectorMask) for module in modules):
            logger.warning(
                "query_expansion is set on the Transformer, but no MultiVectorMask follows it, so the expansion "
                "tokens are not scored. Add a MultiVectorMask module after the Transformer."
            )

    # ----------------------------------------------------------------------------------- encode
    def encode_query(
        self, inputs: Any = None, prompt_name: str | None = None, prompt: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        """:meth:`encode` with ``task="query"`` and the ``query`` prompt unless another is given."""
        if prompt_name is None and prompt is None and "query" in self.prompts:
            prompt_name = "query"
        return self.encode(inputs, prompt_name, prompt, *args, **{**kwargs, "task": "query"})

    def encode_document(
        self, inputs: Any = None, prompt_name: str | None = None, prompt: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        """:meth:`encode` with ``task="document"`` and the first of the ``document`` / ``passage`` /
        ``corpus`` prompts unless another is given."""
        if prompt_name is None and prompt is None:
            prompt_name = next((name for name in DOCUMENT_PROMPT_NAMES if name in self.prompts), None)
        return self.encode(inputs, prompt_name, prompt, *args, **{**kwargs, "task": "document"})

    def encode(
        self,
        inputs: Any = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: str | None = "token_embeddings",
        convert_to_numpy: bool = False,
        device: str | torch.device | None = None,
        normalize_embeddings: bool = False,
        pool: Any = None,
        chunk_size: int | None = None,
        token_pooling: Any = None,
        task: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Token embeddings of one text or a list of texts (also accepted as ``sentences=``).

        Returns:
            A list (input order) of (T_i, D) float tensors on the model's device, one per text,
            holding the tokens its scoring mask keeps (``convert_to_numpy``: numpy arrays); a bare
            (T, D) for a single text. ``output_value=None`` gives per-text dicts of every feature
            (unsliced, padded to the batch). ``normalize_embeddings`` scales each token vector to
            unit length. ``task`` (``"query"`` / ``"document"``) picks lengths, expansion and
            skiplist; prefer :meth:`encode_query` / :meth:`encode_document`.

        Raises:
            InputTypeError: an input that is not a str (names its index and type).
            InputError: a bad batch size, output_value or prompt name, an unknown keyword, an
                unencodable text, or options sentkit does not support here (``pool``, a list of
                devices, ``token_pooling``).
            NumericalError: NaN or inf in the output (names the inputs).
        """
        if inputs is None and "sentences" in kwargs:
            inputs = kwargs.pop("sentences")
        check_encode_options(kwargs, output_value, pool, device, token_pooling)
        batch_size = check_batch_size(batch_size)
        texts, is_single = as_text_list(inputs)
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        resolved_prompt = resolve_prompt(self.prompts, self.default_prompt_name, prompt, prompt_name)
        if device is not None:
            self.to(device)
        results = self._run(
            texts, resolved_prompt, task, batch_size, show_progress_bar, output_value, normalize_embeddings
        )
        if convert_to_numpy and output_value is not None:
            results = [
                item.detach().cpu().float().numpy() if item.dtype == torch.bfloat16 else item.cpu().numpy()
                for item in results
            ]
        return results[0] if is_single else results

    def _run(
        self,
        texts: list[str],
        prompt: str | None,
        task: str | None,
        batch_size: int,
        show_progress_bar: bool,
        output_value: str | None,
        normalize: bool,
    ) -> list[Any]:
        """Per-text results in input order, computed in batches of similar length."""
        order = np.argsort([-len(text) for text in texts])  # the reference's batches, hence its numbers
        results: list[Any] = []
        device = self.device
        description = "Encoding queries" if task == "query" else "Encoding documents"
        for start in tqdm(range(0, len(texts), batch_size), desc=description, disable=not show_progress_bar):
            indices = order[start : start + batch_size]
            try:
                features = self.tokenize([texts[i] for i in indices], prompt=prompt, task=task)
            except UnencodableTextError as exc:
                raise UnencodableTextError(int(indices[exc.index])) from exc.__cause__
            features = {
                key: value.to(device) if isinstance(value, Tensor) else value for key, value in features.items()
            }
            with torch.inference_mode():
                features = self.forward(features)
            results.extend(split_batch(features, len(indices), indices, output_value, normalize))
        inverse = np.argsort(order)
        return [results[i] for i in inverse]

    def tokenize(self, texts: list[str], prompt: str | None = None, task: str | None = None) -> Features:
        """Features of ``texts`` (``prompt`` prepended) for ``task``; ``features["task"]`` tells the modules."""
        first: Any = self[0]
        batch: list[Any] = [prompt + text for text in texts] if prompt else list(texts)
        features: Features = (
            first.tokenize(batch, task=task) if isinstance(first, MultiVectorTransformer) else first.tokenize(batch)
        )
        features["task"] = task
        return features

    def preprocess(
        self, inputs: list[str], prompt: str | None = None, task: str | None = None, **kwargs: Any
    ) -> Features:
        """sentence-transformers 6's name for :meth:`tokenize`."""
        return self.tokenize(inputs, prompt=prompt, task=task)

    def forward(self, features: Features) -> Features:
        for module in self:
            features = module(features)
        return features

    # ------------------------------------------------------------------------------ similarity
    @property
    def similarity_fn_name(self) -> str:
        """``"maxsim"`` (the default) or ``"meanmaxsim"``."""
        if self._similarity_fn_name is None:
            self._similarity_fn_name = "maxsim"
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: Any) -> None:
        name = getattr(value, "value", value)
        if name is not None and name not in SIMILARITY_FUNCTIONS:
            raise ConfigurationError(
                f"MultiVectorEncoder scores with {sorted(SIMILARITY_FUNCTIONS)}, got {value!r}; cosine, dot, "
                "euclidean and manhattan score one vector per text, not token embeddings."
            )
        self._similarity_fn_name = name

    def similarity(self, embeddings1: Any, embeddings2: Any, **kwargs: Any) -> Tensor:
        """(N, M) MaxSim (or MeanMaxSim) scores; ``kwargs`` go to :func:`sentkit.maxsim.maxsim`
        (``chunk_elements``, ``device``, ``length_normalize``, masks)."""
        return SIMILARITY_FUNCTIONS[self.similarity_fn_name][0](embeddings1, embeddings2, **kwargs)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any, **kwargs: Any) -> Tensor:
        """(N,) scores of ``embeddings1[i]`` with ``embeddings2[i]``; see :func:`sentkit.maxsim.maxsim_pairwise`."""
        return SIMILARITY_FUNCTIONS[self.similarity_fn_name][1](embeddings1, embeddings2, **kwargs)

    # ----------------------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer of the first module."""
        tokenizer = getattr(self[0], "tokenizer", None)
        return getattr(tokenizer, "hf_tokenizer", tokenizer)

    @property
    def transformers_model(self) -> Any:
        """The first Hugging Face model in the pipeline, or None."""
        first = next((module for module in self.modules() if isinstance(module, Transformer)), None)
        return None if first is None else first.model

    @property
    def max_seq_length(self) -> int | None:
        """Tokens kept per text when the task sets no length of its own."""
        return getattr(self[0], "max_seq_length", None)

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        setattr(self[0], "max_seq_length", value)  # noqa: B010 - nn.Module typing hides the property

    def get_max_seq_length(self) -> int | None:
        return self.max_seq_length

    def get_embedding_dimension(self) -> int | None:
        """D, the size of each token vector :meth:`encode` returns."""
        for module in reversed(list(self._modules.values())):
            method = getattr(module, "get_embedding_dimension", None)
            dimension = method() if callable(method) else None
            if dimension is not None:
                return int(dimension)
        return None

    # -------------------------------------------------------------------------------- saving
    def save(
        self,
        path: str | Path,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Write the model to ``path`` in the sentence-transformers MultiVectorEncoder format.

        Raises:
            ConfigurationError: the pipeline holds modules that are not sentkit modules.
        """
        card = self._model_card(path, model_name) if create_model_card else None
        save_multi_vector_encoder(self, Path(path), card, safe_serialization)

    def save_pretrained(self, path: str | Path, **kwargs: Any) -> None:
        """Same as :meth:`save`."""
        self.save(path, **kwargs)
