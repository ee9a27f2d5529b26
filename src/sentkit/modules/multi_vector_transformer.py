"""MultiVectorTransformer: a Transformer with the per-task lengths and query expansion of ColBERT models.

sentence-transformers 6.2 keeps these settings on its plain ``Transformer`` (``query_length``,
``document_length``, ``query_expansion`` in ``sentence_bert_config.json``); sentkit keeps them on
this subclass, which a :class:`~sentkit.encoders.multi_vector_encoder.MultiVectorEncoder` loads in
place of :class:`~sentkit.modules.transformer.Transformer` and which saves under the same type.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from sentkit.errors import ConfigurationError
from sentkit.modules.base import Features, LoadOptions, Module
from sentkit.modules.tokenization import TextInput
from sentkit.modules.transformer import Transformer, saved_config

logger = logging.getLogger(__name__)

EXPANSION_KEYS = ("strategy", "attend", "token", "length")
EXPANSION_STRATEGIES = ("fixed", "min")
MULTI_VECTOR_KEYS = ("query_length", "document_length", "query_expansion")


def normalize_query_expansion(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The full query expansion config (``strategy``, ``attend``, ``token``, ``length``), or None for none.

    ``strategy`` ``"fixed"`` makes every query exactly ``length`` tokens (shorter ones padded with
    ``token``, default the mask token; longer ones truncated); ``"min"`` only pads up to ``length``.
    ``attend`` lets the encoder attend to the expansion tokens (default False).

    Raises:
        ConfigurationError: unknown keys, an unknown strategy, a non-bool ``attend`` or a missing length.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigurationError(f"query_expansion must be a dict or None, got {type(value).__name__}.")
    unknown = sorted(set(value) - set(EXPANSION_KEYS))
    if unknown:
        raise ConfigurationError(f"query_expansion has unknown keys {unknown}; valid keys are {list(EXPANSION_KEYS)}.")
    strategy = value.get("strategy")
    if strategy not in EXPANSION_STRATEGIES:
        raise ConfigurationError(
            f"query_expansion['strategy'] must be one of {EXPANSION_STRATEGIES}, got {strategy!r}."
        )
    attend = value.get("attend", False)
    if not isinstance(attend, bool):
        raise ConfigurationError(f"query_expansion['attend'] must be a bool, got {attend!r}.")
    length = value.get("length")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ConfigurationError(
            f"query_expansion needs 'length', the number of query tokens after expansion (a positive int; "
            f"ColBERT uses 32), got {length!r}."
        )
    return {"strategy": strategy, "attend": attend, "token": value.get("token"), "length": length}


class MultiVectorTransformer(Transformer):
    """A :class:`Transformer` that tokenizes queries and documents as a ColBERT model expects.

    ``tokenize(texts, task=...)`` truncates queries to ``query_length`` and documents to
    ``document_length`` (None: ``max_seq_length``). With ``query_expansion`` set, query batches are
    padded up to its ``length`` and the padding ids replaced by the expansion token; the padded
    positions are returned as ``query_expansion_positions`` (B, T) bool, which
    :class:`~sentkit.modules.multi_vector_mask.MultiVectorMask` counts in the scoring mask.

    Args:
        query_length, document_length: per-task truncation lengths (None: ``max_seq_length``).
        query_expansion: see :func:`normalize_query_expansion`.
        The other arguments are :class:`Transformer`'s.

    Raises:
        ConfigurationError: a bad query expansion, or a ``query_length`` below its length.
    """

    config_keys: ClassVar[tuple[str, ...]] = (*Transformer.config_keys, *MULTI_VECTOR_KEYS)
    transformer_task: ClassVar[str] = ""  # set below the class; see there

    def __init__(
        self,
        model_name_or_path: str | Path,
        *args: Any,
        query_length: int | None = None,
        document_length: int | None = None,
        query_expansion: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model_name_or_path, *args, **kwargs)
        self.query_length = query_length
        self.document_length = document_length
        self.query_expansion = query_expansion

    @property
    def query_expansion(self) -> dict[str, Any] | None:
        """The query expansion config (see :func:`normalize_query_expansion`), or None."""
        return self._query_expansion

    @query_expansion.setter
    def query_expansion(self, value: dict[str, Any] | None) -> None:
        expansion = normalize_query_expansion(value)
        if expansion is not None and self.query_length is not None and self.query_length < expansion["length"]:
            raise ConfigurationError(
                f"query_length={self.query_length} is below query_expansion['length']={expansion['length']}, "
                "the least number of query tokens. Raise query_length, drop it, or lower the expansion length."
            )
        if expansion is not None:
            self._check_expansion_token(expansion)
        self._query_expansion = expansion

    def _check_expansion_token(self, expansion: dict[str, Any]) -> None:
        hf_tokenizer = self.tokenizer.hf_tokenizer
        token = expansion["token"]
        if token is None:
            if hf_tokenizer.mask_token_id is None and hf_tokenizer.eos_token_id is None:
                raise ConfigurationError(
                    "query_expansion without 'token' uses the tokenizer's mask token (else its eos token), "
                    "but this tokenizer has neither; set query_expansion['token']."
                )
            return
        token_id = hf_tokenizer.convert_tokens_to_ids(token)
        if token_id is None or (token_id == hf_tokenizer.unk_token_id and token != hf_tokenizer.unk_token):
            raise ConfigurationError(f"query_expansion token={token!r} is not a token of this tokenizer's vocabulary.")

    def expansion_token_id(self) -> int | None:
        """The id that fills expansion positions: the configured token, else mask, else eos."""
        hf_tokenizer = self.tokenizer.hf_tokenizer
        expansion = self.query_expansion or {}
        if expansion.get("token") is not None:
            return int(hf_tokenizer.convert_tokens_to_ids(expansion["token"]))
        for token_id in (hf_tokenizer.mask_token_id, hf_tokenizer.eos_token_id):
            if token_id is not None:
                return int(token_id)
        return None

    def task_max_length(self, task: str | None) -> int:
        """The truncation length of a batch of ``task`` inputs (query expansion aside)."""
        length = {"query": self.query_length, "document": self.document_length}.get(task or "")
        return int(length) if length is not None else self.max_seq_length

    def tokenize(self, texts: list[TextInput], task: str | None = None, **kwargs: Any) -> Features:
        """Tokenize ``texts`` for ``task`` (``"query"``, ``"document"`` or None); see the class docstring."""
        expansion = self.query_expansion if task == "query" else None
        if expansion is None:
            return self.tokenizer(texts, self.task_max_length(task))
        if expansion["strategy"] == "fixed":
            features = self.tokenizer(texts, expansion["length"])
        else:
            ceiling = self.query_length if self.query_length is not None else self.max_seq_length
            features = self.tokenizer(texts, max(ceiling, expansion["length"]))
        return self._expand(features, expansion)

    def _expand(self, features: Features, expansion: dict[str, Any]) -> Features:
        """Widen a query batch to the expansion length and fill its padding with the expansion token."""
        floor = expansion["length"]
        input_ids = features["input_ids"]  # (B, T)
        missing = floor - input_ids.shape[1]
        if missing > 0:  # pad on the tokenizer's side, as padding="max_length" would
            side = (missing, 0) if self.tokenizer.call_settings()["padding_side"] == "left" else (0, missing)
            pad_ids = self.tokenizer.call_settings()["pad_token_id"]
            for name, value in list(features.items()):
                if isinstance(value, torch.Tensor) and value.dim() == 2:
                    fill = pad_ids if name == "input_ids" else 0
                    features[name] = F.pad(value, side, value=fill)  # (B, floor)
        attention_mask = features["attention_mask"]
        width = attention_mask.shape[1]
        positions = (attention_mask == 0) & (torch.arange(width) < floor).unsqueeze(0)  # (B, T)
        if expansion["strategy"] == "fixed" and not bool(positions.any(dim=1).all()):
            logger.warning(
                "One or more queries fill all %d query tokens: text beyond them was truncated "
                "(this model reads queries at exactly that width).",
                floor,
            )
        token_id = self.expansion_token_id()
        if token_id is not None:
            features["input_ids"] = features["input_ids"].masked_fill(positions, token_id)
        if expansion["attend"]:
            features["attention_mask"] = attention_mask.masked_fill(positions, 1)
        features["query_expansion_positions"] = positions
        return features

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        for key in MULTI_VECTOR_KEYS:
            if config.get(key) is None:
                config.pop(key)
        return config

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        module = super().load(folder, options)
        settings = saved_config(Path(folder))
        if isinstance(module, MultiVectorTransformer):
            module.query_length = settings.get("query_length")
            module.document_length = settings.get("document_length")
            module.query_expansion = settings.get("query_expansion")
        return module


# The reference saves this module as its plain Transformer with transformer_task="feature-extraction".
# Set after the class is made (it is "" in the class body), so that Transformer.__init_subclass__
# does not register it as the class of that task.
MultiVectorTransformer.transformer_task = "feature-extraction"
