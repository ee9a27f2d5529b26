"""What the server does with each kind of model: the batched call, token counting, description.

A served model is one of three kinds, recognised by its methods (so tests can serve fakes):

- ``rerank``: has ``predict`` and ``rank`` (a :class:`~sentkit.CrossEncoder`); items are
  (query, text) pairs, results are scores.
- ``sparse``: has ``encode`` and ``decode`` (a :class:`~sentkit.SparseEncoder`); results are
  (token ids, weights) per text.
- ``dense``: has ``encode`` (a :class:`~sentkit.SentenceTransformer`); results are float32 rows.

Every model call goes through the model's own ``encode`` / ``predict``, so a batched result equals
the library's on the same texts (up to float rounding from different padding).
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from sentkit._version import __version__
from sentkit.errors import ConfigurationError
from sentkit.server.batcher import MicroBatcher, RunBatch
from sentkit.server.metrics import Registry
from sentkit.server.settings import ServerSettings

KINDS = ("dense", "sparse", "rerank")
Item = str | tuple[str, str]


def model_kind(model: Any) -> str:
    """``"rerank"``, ``"sparse"`` or ``"dense"`` from the model's methods.

    Raises:
        ConfigurationError: an object with none of ``predict``/``rank``, ``decode``, ``encode``.
    """
    if callable(getattr(model, "predict", None)) and callable(getattr(model, "rank", None)):
        return "rerank"
    if callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None)):
        return "sparse"
    if callable(getattr(model, "encode", None)):
        return "dense"
    raise ConfigurationError(
        f"Cannot serve a {type(model).__name__}: expected a SentenceTransformer, SparseEncoder or CrossEncoder."
    )


class TokenCounter:
    """Counts tokens with a private copy of the model's tokenizer (no truncation, no padding).

    The copy keeps counting off the tokenizer the worker thread uses, whose truncation settings
    change during calls; the copy itself is never changed after construction, so several threads
    may count at once. Models without a Hugging Face fast tokenizer get a word-count estimate.
    """

    def __init__(self, model: Any) -> None:
        tokenizer = _hf_tokenizer(model)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._backend = None
        self._special_ids: set[int] = set(getattr(tokenizer, "all_special_ids", ()) or ())
        if backend is not None:
            self._backend = copy.deepcopy(backend)
            self._backend.no_truncation()
            self._backend.no_padding()

    @property
    def exact(self) -> bool:
        return self._backend is not None

    def count(self, items: Sequence[Item]) -> list[int]:
        """Tokens of each text or pair, special tokens included, before truncation."""
        if not items:
            return []
        if self._backend is None:
            return [sum(len(part.split()) for part in _parts(item)) + 2 for item in items]
        encodings = self._backend.encode_batch(list(items))
        return [len(encoding.ids) for encoding in encodings]

    def tokens(self, texts: Sequence[str], add_special_tokens: bool) -> list[list[dict[str, Any]]]:
        """TEI-style tokens per text: ``{"id", "text", "special", "start", "stop"}`` (character offsets).

        Raises:
            ConfigurationError: the model has no Hugging Face fast tokenizer.
        """
        if self._backend is None:
            raise ConfigurationError("This model has no Hugging Face fast tokenizer to tokenize with.")
        encodings = self._backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        results = []
        for text, encoding in zip(texts, encodings, strict=True):
            tokens = []
            for token_id, token, (start, stop), special in zip(
                encoding.ids, encoding.tokens, encoding.offsets, encoding.special_tokens_mask, strict=True
            ):
                is_special = bool(special) or token_id in self._special_ids
                tokens.append(
                    {
                        "id": token_id,
                        "text": token if is_special else text[start:stop],
                        "special": is_special,
                        "start": None if is_special else start,
                        "stop": None if is_special else stop,
                    }
                )
            results.append(tokens)
        return results


class ServedModel:
    """One model behind the server: its kind, its batcher, its token counter.

    The batcher's ``key`` is the prompt name (dense, sparse) or ``raw_scores`` (rerank); results
    are float32 rows (dense), ``(ids, weights)`` arrays (sparse) or float scores (rerank).
    """

    def __init__(self, name: str, model: Any, settings: ServerSettings, metrics: Registry) -> None:
        self.name = name
        self.model = model
        self.kind = model_kind(model)
        self.settings = settings
        self.counter = TokenCounter(model)
        runs: dict[str, RunBatch] = {"dense": self._run_dense, "sparse": self._run_sparse, "rerank": self._run_rerank}
        run = runs[self.kind]
        self.batcher = MicroBatcher(
            run,
            name=name,
            max_batch_tokens=settings.max_batch_tokens,
            max_wait_s=settings.max_wait_ms / 1000,
            max_queue_items=settings.max_queue_items,
            enabled=settings.micro_batching,
            metrics=metrics,
        )

    # --------------------------------------------------------------------------------- calls
    def _run_dense(self, prompt_name: Hashable, texts: list[Any]) -> list[np.ndarray]:
        embeddings = self.model.encode(
            texts,
            prompt_name=prompt_name,
            batch_size=self.settings.encode_batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            empty="keep",  # the endpoints refused texts without content already
        )  # (N, D) float32
        return list(np.asarray(embeddings, dtype=np.float32))

    def _run_sparse(self, prompt_name: Hashable, texts: list[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
        embeddings = self.model.encode(
            texts,
            prompt_name=prompt_name,
            batch_size=self.settings.encode_batch_size,
            show_progress_bar=False,
            convert_to_tensor=True,
            convert_to_sparse_tensor=True,
            save_to_cpu=True,
            empty="keep",
        ).coalesce()  # sparse COO (N, V)
        indices = embeddings.indices().numpy()  # (2, nnz), sorted by row then column
        values = embeddings.values().float().numpy()  # (nnz,)
        bounds = np.searchsorted(indices[0], np.arange(len(texts) + 1))
        return [(indices[1, bounds[i] : bounds[i + 1]], values[bounds[i] : bounds[i + 1]]) for i in range(len(texts))]

    def _run_rerank(self, raw_scores: Hashable, pairs: list[Any]) -> list[Any]:
        import torch

        scores = self.model.predict(
            pairs,
            batch_size=self.settings.encode_batch_size,
            show_progress_bar=False,
            activation_fn=torch.nn.Identity() if raw_scores else None,
            convert_to_numpy=True,
        )  # (N,) or (N, num_labels) float32
        return list(np.asarray(scores, dtype=np.float32))

    # --------------------------------------------------------------------------------- facts
    @property
    def max_tokens(self) -> int | None:
        """Tokens the model reads per input (longer inputs are truncated), if it says."""
        value = getattr(self.model, "max_seq_length", None)
        return int(value) if isinstance(value, int) else None

    def prompt_text(self, prompt_name: str | None) -> str:
        """The text ``encode`` puts before each input for ``prompt_name`` (or the default prompt)."""
        prompts = getattr(self.model, "prompts", None) or {}
        name = prompt_name if prompt_name is not None else getattr(self.model, "default_prompt_name", None)
        return str(prompts.get(name) or "") if name is not None else ""

    def has_prompt(self, prompt_name: str) -> bool:
        return prompt_name in (getattr(self.model, "prompts", None) or {})

    def dimension(self) -> int | None:
        method = getattr(self.model, "get_sentence_embedding_dimension", None)
        value = method() if callable(method) else None
        return int(value) if value is not None else None

    def info(self) -> dict[str, Any]:
        """What ``GET /info`` says about this model."""
        facts: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "class": type(self.model).__name__,
            "max_seq_length": self.max_tokens,
            "prompts": dict(getattr(self.model, "prompts", None) or {}),
            "default_prompt_name": getattr(self.model, "default_prompt_name", None),
        }
        if self.kind == "rerank":
            facts["num_labels"] = getattr(self.model, "num_labels", None)
        else:
            facts["dimension"] = self.dimension()
            facts["similarity_fn_name"] = getattr(self.model, "similarity_fn_name", None)
        return facts


def server_info(models: dict[str, ServedModel], settings: ServerSettings) -> dict[str, Any]:
    """What ``GET /info`` answers: version, models and the limits a client must respect."""
    return {
        "name": "sentkit",
        "version": __version__,
        "models": [served.info() for served in models.values()],
        "limits": {
            "max_items_per_request": settings.max_items_per_request,
            "max_chars_per_item": settings.max_chars_per_item,
            "max_payload_bytes": settings.max_payload_bytes,
            "max_queue_items": settings.max_queue_items,
            "request_timeout_s": settings.request_timeout_s,
        },
        "batching": {
            "micro_batching": settings.micro_batching,
            "max_batch_tokens": settings.max_batch_tokens,
            "max_wait_ms": settings.max_wait_ms,
        },
    }


def _hf_tokenizer(model: Any) -> Any:
    try:
        return getattr(model, "tokenizer", None)
    except (AttributeError, IndexError, TypeError):  # a pipeline whose first module has no tokenizer
        return None


def _parts(item: Item) -> tuple[str, ...]:
    return (item,) if isinstance(item, str) else tuple(item)
