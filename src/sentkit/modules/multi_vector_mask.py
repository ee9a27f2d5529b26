"""MultiVectorMask: which token embeddings of a late-interaction (ColBERT) model take part in scoring."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import torch

from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register

logger = logging.getLogger(__name__)


@register("multi_vector_mask", reference=("MultiVectorMask",))
class MultiVectorMask(Module):
    """Replace ``features["attention_mask"]`` (B, T) by the scoring mask of each token.

    Reads ``features["task"]`` (``"query"``, ``"document"`` or None, which counts as a document)
    and ``features["query_expansion_positions"]`` (B, T) (set by the multi-vector Transformer when
    it pads queries with expansion tokens):

    - real tokens count; for queries, expansion positions count too (ColBERT's query augmentation);
    - for tasks in ``skiplist_tasks``, tokens whose id is one of ``skiplist_words`` are dropped;
    - for tasks other than ``"query"``, ``keep_only_token_ids`` (when set) keeps only those ids.

    Without ``input_ids`` (inputs that are not text) the mask is left as it is.

    Args:
        skiplist_words: tokens left out of scoring (e.g. ``list(string.punctuation)``); words that
            are not single tokens of the tokenizer are ignored (with a warning).
        skiplist_tasks: the tasks the skiplist applies to (default ``["document"]``).
        keep_only_token_ids: an allowlist of token ids for non-query inputs (None: no allowlist).
    """

    config_keys: ClassVar[tuple[str, ...]] = ("skiplist_words", "skiplist_tasks", "keep_only_token_ids")
    reference_type: ClassVar[str] = (
        "sentence_transformers.multi_vector_encoder.modules.multi_vector_mask.MultiVectorMask"
    )
    needs_files: ClassVar[bool] = False

    def __init__(
        self,
        skiplist_words: list[str] | None = None,
        *,
        skiplist_tasks: str | list[str] | None = None,
        keep_only_token_ids: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.skiplist_words: list[str] = list(skiplist_words) if skiplist_words is not None else []
        if isinstance(skiplist_tasks, str):
            skiplist_tasks = [skiplist_tasks]
        self.skiplist_tasks: list[str] = list(skiplist_tasks) if skiplist_tasks is not None else ["document"]
        self.keep_only_token_ids: list[int] | None = (
            [int(token_id) for token_id in keep_only_token_ids] if keep_only_token_ids is not None else None
        )
        self.skiplist_ids: torch.Tensor | None = None  # set by resolve_with_tokenizer

    def resolve_with_tokenizer(self, tokenizer: Any) -> None:
        """Turn ``skiplist_words`` into token ids with ``tokenizer`` (a Hugging Face tokenizer).

        Words that map to the unknown token (not single tokens of this vocabulary) are dropped, so
        that real unknown tokens of documents keep counting. Call again after changing the words.
        """
        if not self.skiplist_words or tokenizer is None:
            self.skiplist_ids = None
            return
        unk_id = getattr(tokenizer, "unk_token_id", None)
        unk_token = getattr(tokenizer, "unk_token", None)
        resolved, unresolved = [], []
        for word in self.skiplist_words:
            token_id = tokenizer.convert_tokens_to_ids(word)
            if token_id is None or (unk_id is not None and token_id == unk_id and word != unk_token):
                unresolved.append(word)
            else:
                resolved.append(int(token_id))
        if unresolved:
            logger.warning(
                "Skiplist words %s are not single tokens of this tokenizer; they are left out of the skiplist.",
                unresolved,
            )
        self.skiplist_ids = torch.tensor(resolved, dtype=torch.long) if resolved else None

    def forward(self, features: Features) -> Features:
        input_ids = features.get("input_ids")
        if not isinstance(input_ids, torch.Tensor):
            return features
        task = features.get("task")
        mask = features["attention_mask"].bool()  # (B, T)
        if task == "query":
            expansion = features.get("query_expansion_positions")
            if isinstance(expansion, torch.Tensor):
                mask = mask | expansion.bool().to(mask.device)
        if (task or "document") in self.skiplist_tasks and self.skiplist_ids is not None:
            mask = mask & ~torch.isin(input_ids, self.skiplist_ids.to(input_ids.device))
        if task != "query" and self.keep_only_token_ids:
            keep = torch.tensor(self.keep_only_token_ids, dtype=torch.long, device=input_ids.device)
            mask = mask & torch.isin(input_ids, keep)
        features["attention_mask"] = mask
        return features
