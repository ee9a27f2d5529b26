"""CachedMultipleNegativesRankingLoss: MultipleNegativesRankingLoss with gradient caching.

The same loss value and parameter gradients as :class:`MultipleNegativesRankingLoss`, but the
model only ever holds the activations of ``mini_batch_size`` texts (GradCache, see
``_gradcache``): batches of thousands fit in the memory of a batch of 32. It costs a second
forward pass per text. The score matrix is also computed ``mini_batch_size`` anchors at a time.

Requirements:
    As MultipleNegativesRankingLoss; worth it when the batch you want does not fit in memory.
    Not for StaticEmbedding models (their inputs cannot be split by rows).

Inputs:
    ====================================================  ========
    columns                                               labels
    ====================================================  ========
    (anchor, positive)                                    none
    (anchor, positive, negative_1, ..., negative_n)       none
    ====================================================  ========

Example:
    >>> loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=32)
    >>> value = loss([model.tokenize(queries), model.tokenize(passages)], None)  # 1024 rows each
    >>> value.backward()  # re-embeds 32 rows at a time
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from sentkit.errors import ConfigurationError, InputError
from sentkit.similarity import cos_sim
from sentkit.train.losses._gradcache import GradientCacheMixin, check_mini_batch_settings
from sentkit.train.losses._shared import SimilarityFn, has_static_embedding_input
from sentkit.train.losses.multiple_negatives_ranking import (
    Direction,
    HardnessMode,
    MultipleNegativesRankingLoss,
)
from sentkit.train.registry import register_loss

_CITATION = """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


@register_loss("cached_mnrl", family="sentence")
class CachedMultipleNegativesRankingLoss(GradientCacheMixin, MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss in bounded memory.

    Args:
        model, scale, similarity_fct, gather_across_devices, directions, partition_mode,
        hardness_mode, hardness_strength: as :class:`MultipleNegativesRankingLoss`.
        mini_batch_size: texts embedded (and anchors scored) at once; memory grows with it.
        mini_batch_num_tokens: if set, mini-batches are packed by real-token count instead.
        show_progress_bar: show progress over the mini-batches.

    Raises:
        ConfigurationError: a StaticEmbedding model, or a bad setting.
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: SimilarityFn = cos_sim,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        gather_across_devices: bool = False,
        directions: tuple[Direction, ...] = ("query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        show_progress_bar: bool = False,
        hardness_mode: HardnessMode | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        if has_static_embedding_input(model):
            raise ConfigurationError(
                "CachedMultipleNegativesRankingLoss cannot split a StaticEmbedding model's inputs into "
                "mini-batches; use MultipleNegativesRankingLoss."
            )
        check_mini_batch_settings(mini_batch_size, mini_batch_num_tokens)
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=directions,
            partition_mode=partition_mode,
            hardness_mode=hardness_mode,
            hardness_strength=hardness_strength,
        )
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Scalar loss; its backward re-embeds the inputs mini-batch by mini-batch."""
        columns = list(sentence_features)
        if len(columns) < 2:
            raise InputError(f"{type(self).__name__} needs at least 2 input columns, got {len(columns)}.")
        return self.forward_cached(columns, labels)

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        """The ranking loss from mini-batch embeddings, scored ``mini_batch_size`` anchors at a time."""
        local = [torch.cat(column) for column in reps]  # one (B, D) per column
        batch = local[0].shape[0]
        queries, docs, offset = self.gathered(local)
        total: list[Tensor] = []
        starts = range(0, batch, self.mini_batch_size)
        for begin in tqdm(starts, desc="Calculating loss", disable=not self.show_progress_bar):
            end = min(begin + self.mini_batch_size, batch)
            rows = torch.arange(offset + begin, offset + end, device=queries.device)  # (b,) anchors of this chunk
            chunk = self.row_losses(queries, docs, rows).mean() * rows.shape[0] / batch
            if with_backward:
                chunk.backward(retain_graph=True)  # the gathered embeddings are shared by all chunks
                chunk = chunk.detach()
            total.append(chunk)
        return torch.stack(total).sum()

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        config["mini_batch_size"] = self.mini_batch_size
        config["mini_batch_num_tokens"] = self.mini_batch_num_tokens
        return config

    @property
    def citation(self) -> str:
        return _CITATION
