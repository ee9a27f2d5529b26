"""GISTEmbedLoss: in-batch negatives with a guide model that drops false negatives (Solatorio 2024).

As :class:`MultipleNegativesRankingLoss` (cosine scores / ``temperature``, anchors against the
batch's positives, and against the other anchors and positives), but a frozen guide model scores
the same pairs first: any candidate the guide finds more similar to the anchor than the anchor's
own positive (minus ``margin``) is likely a true match, and is removed from the softmax.

Requirements:
    (anchor, positive) pairs or (anchor, positive, negative) triplets, and a guide model (any
    embedding model, usually a stronger one). A guide with another tokenizer re-tokenizes the
    decoded texts.

Inputs:
    ==============================  ========
    columns                         labels
    ==============================  ========
    (anchor, positive)              none
    (anchor, positive, negative)    none
    ==============================  ========

Example:
    >>> guide = SentenceTransformer("all-MiniLM-L6-v2")
    >>> loss = GISTEmbedLoss(model, guide, temperature=0.01)
    >>> loss([model.tokenize(anchors), model.tokenize(positives)], None).backward()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sentkit.errors import ConfigurationError
from sentkit.similarity import cos_sim
from sentkit.train.losses._shared import (
    Features,
    embed_columns,
    gather_with_grad,
    has_static_embedding_input,
    process_rank,
    require_columns,
)
from sentkit.train.registry import register_loss

_CITATION = """
@misc{solatorio2024gistembed,
    title={GISTEmbed: Guided In-sample Selection of Training Negatives for Text Embedding Fine-tuning},
    author={Aivin V. Solatorio},
    year={2024},
    eprint={2402.16829},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


@register_loss("gist", family="sentence")
class GISTEmbedLoss(nn.Module):
    """Guided in-batch negatives loss.

    Args:
        model: the SentenceTransformer to train.
        guide: the model whose similarities decide which in-batch candidates to drop (not trained).
        temperature: the scores are divided by it.
        margin_strategy: ``"absolute"`` drops candidates with guide score > positive's - margin;
            ``"relative"`` drops those > positive's * (1 - margin) (for positive scores).
        margin: see ``margin_strategy``.
        contrast_anchors: also rank the anchor against the other anchors.
        contrast_positives: also rank the positive against the other positives.
        gather_across_devices: score against the candidates of every process (torch.distributed).

    Raises:
        ConfigurationError: a model without a Hugging Face tokenizer, a StaticEmbedding model that
            would need re-tokenizing, or an unknown margin strategy.
    """

    def __init__(
        self,
        model: nn.Module,
        guide: nn.Module,
        temperature: float = 0.01,
        margin_strategy: Literal["absolute", "relative"] = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        if margin_strategy not in ("absolute", "relative"):
            raise ConfigurationError(f"margin_strategy must be 'absolute' or 'relative', got {margin_strategy!r}.")
        self.model = model
        self.guide = guide
        self.temperature = temperature
        self.must_retokenize = _needs_retokenizing(model, guide)
        if self.must_retokenize and has_static_embedding_input(model):
            raise ConfigurationError("The guide tokenizes differently, so the model must not be a StaticEmbedding.")
        self.tokenizer = getattr(model, "tokenizer", None)
        self.margin_strategy = margin_strategy
        self.margin = margin
        self.contrast_anchors = contrast_anchors
        self.contrast_positives = contrast_positives
        self.gather_across_devices = gather_across_devices
        self.cross_entropy_loss = nn.CrossEntropyLoss()

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Scalar loss for (anchor, positive[, negative]) columns; ``labels`` are unused."""
        columns = list(sentence_features)
        guide_columns = [dict(features) for features in columns]  # the guide writes into what it is given
        embeddings = embed_columns(self.model, columns)
        require_columns(self, embeddings, (2, 3))
        with torch.no_grad():
            if self.must_retokenize:
                guide_columns = [self._retokenize(features) for features in columns]
            guide_embeddings = embed_columns(self.guide, guide_columns)
        return self.compute_loss_from_embeddings(embeddings, guide_embeddings)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], guide_embeddings: list[Tensor]) -> Tensor:
        """Scalar loss from per-column (B, D) model and (B, D') guide embeddings."""
        anchor, anchor_guide = embeddings[0], guide_embeddings[0]
        batch, offset = anchor.shape[0], 0
        candidates, candidates_guide = list(embeddings[1:]), list(guide_embeddings[1:])  # positive[, negative]
        if self.gather_across_devices:
            candidates = [gather_with_grad(c) for c in candidates]
            candidates_guide = [gather_with_grad(c) for c in candidates_guide]
            offset = process_rank() * batch
        positive, positive_guide = candidates[0], candidates_guide[0]  # (N, D), N = world * B
        guide_ap = cos_sim(anchor_guide, positive_guide)  # (B, N)
        threshold = guide_ap.diagonal(offset=offset).view(-1, 1)  # (B, 1) guide score of the own positive
        rows = torch.arange(batch, device=anchor.device)
        own = torch.zeros_like(guide_ap, dtype=torch.bool)  # (B, N)
        own[rows, offset + rows] = True
        blocks = [self._drop_false_negatives(cos_sim(anchor, positive), guide_ap, threshold, keep=own)]
        if self.contrast_anchors:
            guide_aa = cos_sim(anchor_guide, anchor_guide)  # (B, B)
            blocks.append(self._drop_false_negatives(cos_sim(anchor, anchor), guide_aa, threshold))
        if self.contrast_positives:
            local, local_guide = positive[offset : offset + batch], positive_guide[offset : offset + batch]  # (B, D)
            blocks.append(
                self._drop_false_negatives(cos_sim(local, positive), cos_sim(local_guide, positive_guide), threshold)
            )
        if len(candidates) == 2:
            negative, negative_guide = candidates[1], candidates_guide[1]  # (N, D)
            blocks.append(
                self._drop_false_negatives(cos_sim(anchor, negative), cos_sim(anchor_guide, negative_guide), threshold)
            )
        scores = torch.cat(blocks, dim=1) / self.temperature  # (B, K)
        targets = torch.arange(offset, offset + batch, device=anchor.device)  # the own positive's column
        return self.cross_entropy_loss(scores, targets)

    def _drop_false_negatives(
        self, scores: Tensor, guide: Tensor, threshold: Tensor, keep: Tensor | None = None
    ) -> Tensor:
        """``scores`` (B, M) with -inf where the guide score beats the (B, 1) threshold (less the margin)."""
        if self.margin_strategy == "absolute":
            drop = guide > (threshold - self.margin)
        else:
            drop = guide > (threshold - threshold.abs() * self.margin)
        if keep is not None:
            drop = drop & ~keep
        return scores.masked_fill(drop, -torch.inf)

    def _retokenize(self, features: Features) -> Features:
        """The column's texts, decoded with the model's tokenizer, tokenized for the guide."""
        ids = features["input_ids"]
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)  # type: ignore[union-attr]
        tokenize: Any = getattr(self.guide, "preprocess", None) or getattr(self.guide, "tokenize")  # noqa: B009
        guide_features = tokenize(texts)
        device = next(self.guide.parameters()).device
        return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in guide_features.items()}

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "guide": self.guide,
            "temperature": self.temperature,
            "margin_strategy": self.margin_strategy,
            "margin": self.margin,
            "contrast_anchors": self.contrast_anchors,
            "contrast_positives": self.contrast_positives,
            "gather_across_devices": self.gather_across_devices,
        }

    @property
    def citation(self) -> str:
        return _CITATION


def _needs_retokenizing(model: nn.Module, guide: nn.Module) -> bool:
    """True when the guide reads other token ids than the model, or fewer of them."""
    from transformers import PreTrainedTokenizerBase

    tokenizers = [getattr(model, "tokenizer", None), getattr(guide, "tokenizer", None)]
    if not all(isinstance(tokenizer, PreTrainedTokenizerBase) for tokenizer in tokenizers):
        raise ConfigurationError(
            "GISTEmbedLoss needs a model and a guide with a Hugging Face tokenizer (a Transformer first module); "
            f"got {type(tokenizers[0]).__name__} and {type(tokenizers[1]).__name__}."
        )
    model_tokenizer, guide_tokenizer = tokenizers
    shorter = (getattr(guide, "max_seq_length", None) or 0) < (getattr(model, "max_seq_length", None) or 0)
    return bool(model_tokenizer.get_vocab() != guide_tokenizer.get_vocab() or shorter)  # type: ignore[union-attr]
