"""CrossEncoder: (text, text) pairs -> relevance scores or label logits, with the sentence-transformers API."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from sentkit.encoders.activation import Activation, activation_path, saved_activation
from sentkit.encoders.fit_entry import fit_function
from sentkit.encoders.folders import format_versions, save_pipeline
from sentkit.encoders.model_card_mixin import ModelCardMixin
from sentkit.encoders.pairs import Pair, as_pair_list, check_top_k, legacy_call_arguments, rename_legacy_arguments
from sentkit.encoders.prompts import check_default_prompt, merge_prompts, resolve_prompt
from sentkit.encoders.sentence_transformer import default_device
from sentkit.encoders.task_folders import load_cross_encoder
from sentkit.encoders.windows import aggregate_windows, check_window_options, pad_windows, split_into_windows
from sentkit.errors import ConfigurationError, NumericalError, UnencodableTextError
from sentkit.inference.inputs import check_batch_size
from sentkit.io.integrity import verified
from sentkit.io.model_card import CrossEncoderModelCardData, attach_model_card
from sentkit.io.resolve import resolve_model_folder
from sentkit.modules import LoadOptions, Module
from sentkit.modules.classifier_transformer import ClassifierTransformer

logger = logging.getLogger(__name__)

DEFAULT_ORGANIZATION = "cross-encoder"


class CrossEncoder(ModelCardMixin, nn.Sequential):
    """A reranker: reads a (query, passage) pair together and scores it.

    Loads sentence-transformers CrossEncoder folders (any version) and plain Hugging Face
    ``*ForSequenceClassification`` checkpoints; a bare hub name expands to ``cross-encoder/NAME``.

    Args:
        model_name_or_path: a local folder, a Hugging Face cache entry or hub repo.
        num_labels: labels of the classifier (default: the checkpoint's; 1 for a checkpoint without head).
        max_length: tokens kept per pair (truncation); default: what the model and tokenizer allow.
        activation_fn: applied to the logits in :meth:`predict` and :meth:`rank`. Default: the one saved
            with the model, else Sigmoid for one label and identity for several.
        prompts, default_prompt_name: named texts put before the first text of each pair.
        trust_remote_code: also allows a saved activation outside ``torch``.
        model_kwargs, tokenizer_kwargs (or processor_kwargs), config_kwargs: for ``from_pretrained``.

    Raises:
        ModelNotFoundError, ModelFormatError: the model cannot be found, or is no classification model.
        ConfigurationError: an unknown default prompt, a backend other than torch, unknown arguments.
    """

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        num_labels: int | None = None,
        max_length: int | None = None,
        activation_fn: Activation | None = None,
        device: str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        model_card_data: Any = None,
        verify: bool = True,
        **legacy: Any,
    ) -> None:
        legacy = rename_legacy_arguments(legacy)
        model_kwargs = model_kwargs or legacy.pop("model_kwargs", None)
        tokenizer_kwargs = tokenizer_kwargs or legacy.pop("tokenizer_kwargs", None)
        config_kwargs = {**legacy.pop("config_kwargs", {}), **(config_kwargs or {})}
        cache_folder = cache_folder or legacy.pop("cache_folder", None)
        activation_fn = activation_fn if activation_fn is not None else legacy.pop("activation_fn", None)
        model_name_or_path = model_name_or_path or legacy.pop("model_name", None)
        if model_name_or_path is None:
            raise ConfigurationError("CrossEncoder needs model_name_or_path: a folder or a Hugging Face model name.")
        if legacy:
            raise ConfigurationError(f"CrossEncoder got unexpected keyword arguments {sorted(legacy)}.")
        if backend != "torch":
            raise ConfigurationError(f"backend={backend!r} is not available yet; use backend='torch'.")
        folder = resolve_model_folder(
            model_name_or_path,
            organization=DEFAULT_ORGANIZATION,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
            token=token,
        )
        config_options = dict(config_kwargs or {})
        if num_labels is not None:
            config_options["num_labels"] = num_labels
        options = LoadOptions(
            cache_folder=cache_folder,
            revision=revision,
            token=token,
            local_files_only=local_files_only,
            trust_remote_code=trust_remote_code,
            model_kwargs=dict(model_kwargs or {}),
            tokenizer_kwargs={**(processor_kwargs or {}), **(tokenizer_kwargs or {})},
            config_kwargs=config_options,
            backend=backend,
            verify=verify,
        )
        with verified(folder, verify):
            modules, settings = load_cross_encoder(folder, options)
        super().__init__(OrderedDict((str(index), module) for index, module in enumerate(modules)))
        self.model_name_or_path = str(model_name_or_path)
        self.backend = backend
        self.trust_remote_code = trust_remote_code
        self.prompts = merge_prompts({}, prompts, settings.get("prompts"))
        self.default_prompt_name = default_prompt_name or settings.get("default_prompt_name")
        check_default_prompt(self.prompts, self.default_prompt_name)
        if max_length is not None:
            self._set_max_length(max_length)
        if activation_fn is None:
            activation_fn = saved_activation(self.config, settings, folder, trust_remote_code)
        self.activation_fn = activation_fn
        attach_model_card(
            self,
            model_card_data,
            CrossEncoderModelCardData,
            folder,
            model_name_or_path,
            local_files_only,
            revision,
            organization=DEFAULT_ORGANIZATION,
        )
        self.to(device or default_device())
        self.eval()

    def __setattr__(self, name: str, value: Any) -> None:
        # A plain attribute, not a registered submodule: it must not run in forward nor be saved as one.
        if name == "activation_fn":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # ------------------------------------------------------------------------------- predict
    def predict(
        self,
        sentence_pairs: Any = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Activation | None = None,
        apply_softmax: bool | None = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        *,
        prompt_name: str | None = None,
        prompt: str | None = None,
        device: str | None = None,
        window_aggregation: str | None = None,
        window_overlap: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Score pairs.

        ``sentence_pairs`` is one (text, text) pair or a list of them (also accepted as ``inputs=``
        or ``sentences=``). An empty text is scored as the model defines it: the tokenizer gives it
        no tokens, so e.g. ("q", "") is read as ``[CLS] q [SEP] [SEP]``.

        Returns:
            float32 numpy: (N,) for one label, (N, num_labels) otherwise; one pair gives a scalar
            (or (num_labels,)). ``convert_to_tensor`` gives a tensor on the model's device, neither
            flag a list of tensors. An empty list gives an empty result.

        ``activation_fn`` overrides the model's for this call; ``apply_softmax`` turns several labels
        into probabilities. ``window_aggregation="max"`` or ``"mean"`` scores passages longer than
        :attr:`max_length` by overlapping windows of ``window_overlap`` shared tokens (default: a
        quarter of the window), see :mod:`sentkit.encoders.windows`; None truncates, as the reference.

        Raises:
            InputTypeError: an item that is not a pair of str (names its index and what it got).
            InputError: a pair with other than two parts, a non-positive batch size, an unknown
                prompt name, window option or keyword argument.
            NumericalError: NaN or inf in the logits (names the pairs).
        """
        for name in ("inputs", "sentences"):
            if sentence_pairs is None and name in kwargs:
                sentence_pairs = kwargs.pop(name)
        activation_fn = legacy_call_arguments("predict", kwargs, activation_fn)
        batch_size = check_batch_size(batch_size)
        check_window_options(window_aggregation, window_overlap)
        pairs, is_single = as_pair_list(sentence_pairs)
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        resolved_prompt = resolve_prompt(self.prompts, self.default_prompt_name, prompt, prompt_name)
        if resolved_prompt:
            pairs = [(resolved_prompt + first, second) for first, second in pairs]
        if device is not None:
            self.to(device)
        activation = activation_fn if activation_fn is not None else self.activation_fn
        if not pairs:
            scores = torch.zeros((0,) if self.num_labels == 1 else (0, self.num_labels), device=self.device)
        else:
            softmax = bool(apply_softmax)
            scores = self._score(
                pairs, batch_size, show_progress_bar, activation, softmax, window_aggregation, window_overlap
            )
        result: Any = scores
        if not convert_to_tensor:
            result = scores.float().cpu().numpy() if convert_to_numpy else list(scores)
        return result[0] if is_single else result

    def _score(
        self,
        pairs: list[Pair],
        batch_size: int,
        show_progress_bar: bool,
        activation: Any,
        softmax: bool,
        aggregation: str | None,
        overlap: int | None,
    ) -> Tensor:
        """Scores (P,) or (P, num_labels) in input order: truncated pairs in length-sorted batches, or windows."""
        transformer = self._classifier()
        if aggregation is None:
            order = np.argsort([-(len(first) + len(second)) for first, second in pairs], kind="stable").tolist()
            groups = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
        else:
            windows, owners = split_into_windows(self.tokenizer, pairs, transformer.max_seq_length, overlap)
            groups = [
                list(range(start, min(start + batch_size, len(windows))))
                for start in range(0, len(windows), batch_size)
            ]
        outputs = []
        for group in tqdm(groups, desc="Batches", disable=not show_progress_bar):
            if aggregation is None:
                try:
                    features = transformer.tokenize([pairs[i] for i in group])
                except UnencodableTextError as exc:
                    raise UnencodableTextError(group[exc.index]) from exc.__cause__
                outputs.append(self._score_features(features, group, activation, softmax))
            else:
                features = pad_windows(self.tokenizer, [windows[i] for i in group])
                outputs.append(self._score_features(features, [owners[i] for i in group], activation, softmax))
        scores = torch.cat(outputs)
        if aggregation is not None:
            return aggregate_windows(scores, owners, aggregation)
        inverse = torch.from_numpy(np.argsort(np.array(order, dtype=np.int64))).to(scores.device)
        return scores.index_select(0, inverse)

    def _score_features(self, features: dict[str, Any], indices: list[int], activation: Any, softmax: bool) -> Tensor:
        """Scores (B,) or (B, num_labels) of a tokenized batch; ``indices`` name its pairs in errors."""
        device = self.device
        features = {key: value.to(device) if isinstance(value, Tensor) else value for key, value in features.items()}
        with torch.inference_mode():
            scores = self.forward(features)["scores"]  # (B, num_labels)
            if scores.is_floating_point() and torch.finfo(scores.dtype).bits < 32:
                scores = scores.float()
            finite = torch.isfinite(scores).reshape(scores.shape[0], -1).all(dim=1)
            if not bool(finite.all()):
                bad = sorted(indices[i] for i in torch.nonzero(~finite).flatten().tolist())
                raise NumericalError(f"The model produced NaN or inf for the pairs at indices {bad}.")
            if activation is not None:
                scores = activation(scores)
            if self.num_labels == 1 and scores.ndim > 1:
                scores = scores.squeeze(-1)  # (B,)
            if softmax and scores.ndim > 1:
                scores = torch.nn.functional.softmax(scores, dim=1)
        return scores

    # ---------------------------------------------------------------------------------- rank
    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_k: int | None = None,
        return_documents: bool = False,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Activation | None = None,
        *,
        prompt_name: str | None = None,
        prompt: str | None = None,
        device: str | None = None,
        window_aggregation: str | None = None,
        window_overlap: int | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Score ``query`` against each document; best first.

        Returns:
            ``[{"corpus_id": int, "score": float}, ...]`` (plus ``"text"`` with ``return_documents``),
            sorted by score, ties in document order, cut to ``top_k``. No documents: ``[]``.

        Raises:
            InputError: ``top_k`` <= 0 (the reference silently drops documents for it), and what
                :meth:`predict` raises; a document that is not a str names its index.
            ConfigurationError: a model with more than one label.
        """
        activation_fn = legacy_call_arguments("rank", kwargs, activation_fn)
        top_k = check_top_k(top_k)
        if self.num_labels != 1:
            raise ConfigurationError(
                f"rank() needs a model with one label; this one has {self.num_labels}. Use predict() on pairs."
            )
        documents = list(documents)
        scores = self.predict(
            [(query, document) for document in documents],
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            activation_fn=activation_fn,
            convert_to_tensor=True,
            prompt_name=prompt_name,
            prompt=prompt,
            device=device,
            window_aggregation=window_aggregation,
            window_overlap=window_overlap,
        ).tolist()
        results: list[dict[str, Any]] = []
        for index, score in enumerate(scores):
            results.append({"corpus_id": index, "score": score})
            if return_documents:
                results[-1]["text"] = documents[index]
        results.sort(key=lambda hit: hit["score"], reverse=True)
        return results[:top_k]

    # ---------------------------------------------------------------------------- properties
    def _classifier(self) -> ClassifierTransformer:
        return cast(ClassifierTransformer, self[0])  # _load checks that the first module is one

    @property
    def num_labels(self) -> int:
        return self._classifier().num_labels

    @property
    def model(self) -> Any:
        """The Hugging Face ``*ForSequenceClassification`` model."""
        return self._classifier().model

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def tokenizer(self) -> Any:
        return self._classifier().tokenizer.hf_tokenizer

    @property
    def device(self) -> torch.device:
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    @property
    def max_seq_length(self) -> int:
        """Tokens kept per pair; longer pairs are truncated (the longer text first)."""
        return self._classifier().max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self._classifier().max_seq_length = value

    @property
    def max_length(self) -> int:
        """Older name of :attr:`max_seq_length`."""
        return self.max_seq_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self.max_seq_length = value

    @property
    def default_activation_function(self) -> Activation:
        """Older name of :attr:`activation_fn`."""
        return self.activation_fn

    def get_max_seq_length(self) -> int:
        return self.max_seq_length

    def _set_max_length(self, max_length: int) -> None:
        positions = self._classifier().model_max_positions
        if max_length > positions:
            logger.warning(
                "max_length=%d exceeds the %d positions of this model; using %d.", max_length, positions, positions
            )
        self.max_seq_length = min(int(max_length), positions)

    # -------------------------------------------------------------------------------- saving
    def save(
        self,
        path: str | Path,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Write the model to ``path`` in the sentence-transformers 6 CrossEncoder format.

        The activation is also written into ``config.json`` (as sentence-transformers 4 and 5 read it).
        """
        folder = Path(path)
        path_name = activation_path(self.activation_fn)
        self.config.sentence_transformers = {
            "activation_fn": path_name,
            "version": format_versions()["sentence_transformers"],
        }
        settings = {
            "__version__": format_versions(),
            "activation_fn": path_name,
            "default_prompt_name": self.default_prompt_name,
            "model_type": "CrossEncoder",
            "prompts": self.prompts,
        }
        modules = [module for module in self._modules.values() if isinstance(module, Module)]
        card = self._model_card(folder, model_name) if create_model_card else None
        save_pipeline(folder, modules, settings, safe_serialization, card)

    def save_pretrained(self, path: str | Path, **kwargs: Any) -> None:
        """Same as :meth:`save`."""
        self.save(path, **kwargs)

    # ------------------------------------------------------------------------------ training
    def fit(self, *args: Any, **kwargs: Any) -> None:
        """Train with the classic ``fit(train_dataloader, ...)`` API.

        Runs on :class:`~sentkit.train.CrossEncoderTrainer`; the arguments are those of
        :func:`sentkit.train.fit.fit_cross_encoder`. Needs the ``train`` extra.
        """
        fit_function("CrossEncoder")(self, *args, **kwargs)
