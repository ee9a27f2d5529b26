"""MultipleNegativesRankingLoss: InfoNCE with in-batch negatives (and optional hard negatives).

Each anchor (query) must score its own positive (document) above every other document in the
batch: the other rows' positives and every row's hard negatives. Cross-entropy over the scaled
similarities, with the positive as the target. More terms can join the softmax (``directions``):
documents ranking the queries (``doc_to_query``), queries against the other queries
(``query_to_query``) and documents against the documents of other queries (``doc_to_doc``).

Requirements:
    Pairs that belong together; more texts per row are hard negatives for that row's anchor.

Inputs:
    ====================================================  ========
    columns                                               labels
    ====================================================  ========
    (anchor, positive)                                    none
    (anchor, positive, negative)                          none
    (anchor, positive, negative_1, ..., negative_n)       none
    ====================================================  ========

Example:
    >>> from sentkit import SentenceTransformer
    >>> from sentkit.train.losses import MultipleNegativesRankingLoss
    >>> model = SentenceTransformer("all-MiniLM-L6-v2")
    >>> loss = MultipleNegativesRankingLoss(model, scale=20.0)
    >>> anchors = model.tokenize(["What is the capital of France?", "Who wrote Hamlet?"])
    >>> positives = model.tokenize(["Paris is the capital of France.", "Shakespeare wrote Hamlet."])
    >>> loss([anchors, positives], None).backward()

``scale`` is the inverse temperature (20 = temperature 0.05). The symmetric InfoNCE of Jina
embeddings is ``directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"``; the
GTE loss is all four directions with ``partition_mode="joint"``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sentkit.errors import ConfigurationError, InputError
from sentkit.similarity import cos_sim
from sentkit.train.losses._shared import (
    SimilarityFn,
    callable_name,
    check_positive,
    embed_columns,
    gather_with_grad,
    process_rank,
)
from sentkit.train.registry import register_loss

logger = logging.getLogger(__name__)

Direction = Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"]
HardnessMode = Literal["in_batch_negatives", "hard_negatives", "all_negatives"]
DIRECTIONS = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
HARDNESS_MODES = ("in_batch_negatives", "hard_negatives", "all_negatives")

_CITATION_INFONCE = """
@misc{oord2019representationlearningcontrastivepredictive,
      title={Representation Learning with Contrastive Predictive Coding},
      author={Aaron van den Oord and Yazhe Li and Oriol Vinyals},
      year={2019},
      eprint={1807.03748},
      archivePrefix={arXiv},
      primaryClass={cs.LG},
      url={https://arxiv.org/abs/1807.03748},
}
"""
_CITATION_GTE = """
@misc{li2023generaltextembeddingsmultistage,
      title={Towards General Text Embeddings with Multi-stage Contrastive Learning},
      author={Zehan Li and Xin Zhang and Yanzhao Zhang and Dingkun Long and Pengjun Xie and Meishan Zhang},
      year={2023},
      eprint={2308.03281},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/2308.03281},
}
"""
_CITATION_JINA = """
@misc{günther2024jinaembeddings28192token,
      title={Jina Embeddings 2: 8192-Token General-Purpose Text Embeddings for Long Documents},
      author={Michael Günther and Jackmin Ong and Isabelle Mohr and Alaeddine Abdessalem and Tanguy Abel and
              Mohammad Kalim Akram and Susana Guzman and Georgios Mastrapas and Saba Sturua and Bo Wang and
              Maximilian Werk and Nan Wang and Han Xiao},
      year={2024},
      eprint={2310.19923},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/2310.19923},
}
"""


@register_loss("mnrl", family="sentence")
class MultipleNegativesRankingLoss(nn.Module):
    """In-batch negatives ranking loss (InfoNCE); see the module docstring.

    Args:
        model: the SentenceTransformer to train.
        scale: multiplies the similarities before the softmax (1 / temperature); must be > 0.
        similarity_fct: (N, D), (M, D) -> (N, M) scores; cosine by default (use ``dot_score``
            with ``scale=1`` for dot products).
        gather_across_devices: score against the documents of every process (torch.distributed).
        directions: the score blocks in the softmax; ``"query_to_doc"`` is required.
        partition_mode: ``"joint"`` (one softmax over all blocks) or ``"per_direction"`` (one per
            block, log-partitions averaged; only with ``query_to_doc``/``doc_to_query``).
        hardness_mode: add ``hardness_strength * cos`` (no gradient) to the logits of
            ``"in_batch_negatives"``, ``"hard_negatives"`` or ``"all_negatives"``; None: off.
        hardness_strength: the weight of that term, >= 0.

    Raises:
        ConfigurationError: a bad scale, direction, partition mode or hardness setting.
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: SimilarityFn = cos_sim,
        gather_across_devices: bool = False,
        directions: tuple[Direction, ...] = ("query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        hardness_mode: HardnessMode | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive("scale", scale)
        _check_directions(directions, partition_mode)
        if hardness_mode is not None and hardness_mode not in HARDNESS_MODES:
            raise ConfigurationError(f"hardness_mode must be None or one of {HARDNESS_MODES}, got {hardness_mode!r}.")
        if hardness_strength < 0.0:
            raise ConfigurationError(f"hardness_strength must be >= 0, got {hardness_strength}.")
        if hardness_mode is not None and hardness_strength == 0.0:
            logger.warning("hardness_mode=%r has no effect with hardness_strength=0.0; set it > 0.", hardness_mode)
        self.model = model
        self.scale = scale
        self.similarity_fct = similarity_fct
        self.gather_across_devices = gather_across_devices
        self.directions: tuple[str, ...] = tuple(directions)
        self.partition_mode = partition_mode
        self.hardness_mode = hardness_mode
        self.hardness_strength = hardness_strength

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Scalar loss; ``sentence_features`` holds (anchor, positive, negatives...) features dicts."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """Scalar loss from per-column (B, D) embeddings; ``labels`` are unused."""
        queries, docs, offset = self.gathered(embeddings)
        rows = torch.arange(offset, offset + embeddings[0].shape[0], device=queries.device)  # (B,)
        return self.row_losses(queries, docs, rows).mean()

    def gathered(self, embeddings: list[Tensor]) -> tuple[Tensor, list[Tensor], int]:
        """(queries, documents per column, offset of this process's rows), across processes if asked.

        Raises:
            InputError: fewer than two columns.
        """
        if len(embeddings) < 2:
            raise InputError(f"{type(self).__name__} needs at least 2 input columns, got {len(embeddings)}.")
        queries, docs = embeddings[0], list(embeddings[1:])
        if not self.gather_across_devices:
            return queries, docs, 0
        offset = process_rank() * queries.shape[0]
        return gather_with_grad(queries), [gather_with_grad(doc) for doc in docs], offset

    def row_losses(self, queries: Tensor, docs: list[Tensor], rows: Tensor) -> Tensor:
        """(R,) loss of the anchors ``queries[rows]``.

        Args:
            queries: (Q, D) every anchor in the (gathered) batch.
            docs: one (Q, D) tensor per document column; column 0 holds the positives.
            rows: (R,) indices of the anchors to score, into ``queries``.
        """
        world, columns = queries.shape[0], len(docs)
        index = torch.arange(rows.shape[0], device=queries.device)  # (R,)
        own = torch.zeros(rows.shape[0], world, dtype=torch.bool, device=queries.device)  # (R, Q)
        own[index, rows] = True
        own_docs = own.repeat(1, columns)  # (R, Q * C): the row's positive and its hard negatives
        all_docs = torch.cat(docs, dim=0)  # (Q * C, D), column-major
        blocks = self._score_blocks(queries, docs[0], all_docs, rows, own, own_docs)
        penalty = self._hardness_penalty(blocks["query_to_doc"], own_docs, world)
        blocks = {name: block * self.scale for name, block in blocks.items()}
        if penalty is not None:
            blocks["query_to_doc"] = blocks["query_to_doc"] + penalty  # the penalty is not scaled
        positives = blocks["query_to_doc"][index, rows]  # (R,)
        if self.partition_mode == "joint":
            log_partition = torch.logsumexp(torch.cat(list(blocks.values()), dim=1), dim=1)  # (R,)
        else:
            log_partition = torch.stack([torch.logsumexp(b, dim=1) for b in blocks.values()]).mean(dim=0)
        return log_partition - positives

    def _score_blocks(
        self, queries: Tensor, positives: Tensor, all_docs: Tensor, rows: Tensor, own: Tensor, own_docs: Tensor
    ) -> dict[str, Tensor]:
        """Unscaled score blocks, one (R, K) matrix per direction; self pairs set to -inf."""
        local_queries, local_positives = queries[rows], positives[rows]  # (R, D) each
        blocks = {"query_to_doc": self.similarity_fct(local_queries, all_docs)}  # (R, Q * C)
        if "query_to_query" in self.directions:
            scores = self.similarity_fct(local_queries, queries)  # (R, Q)
            blocks["query_to_query"] = scores.masked_fill(own, -torch.inf)
        if "doc_to_query" in self.directions:
            blocks["doc_to_query"] = self.similarity_fct(queries, local_positives).T  # (R, Q)
        if "doc_to_doc" in self.directions:
            scores = self.similarity_fct(all_docs, local_positives).T  # (R, Q * C)
            blocks["doc_to_doc"] = scores.masked_fill(own_docs, -torch.inf)
        return blocks

    def _hardness_penalty(self, query_to_doc: Tensor, own_docs: Tensor, world: int) -> Tensor | None:
        """(R, Q * C) ``strength * score`` (no gradient) on the chosen negatives, 0 elsewhere; or None."""
        if self.hardness_mode is None or self.hardness_strength <= 0.0:
            return None
        penalised = ~own_docs  # in-batch negatives: everything not the row's own
        if self.hardness_mode == "hard_negatives":
            penalised = own_docs.clone()
            penalised[:, :world] = False  # own hard negatives only (not the positive column block)
        elif self.hardness_mode == "all_negatives":
            penalised[:, world:] = True  # every negative: only the row's positive is spared
        return (self.hardness_strength * query_to_doc.detach()).masked_fill(~penalised, 0.0)

    @property
    def temperature(self) -> float:
        return 1.0 / self.scale

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "similarity_fct": callable_name(self.similarity_fct),
            "gather_across_devices": self.gather_across_devices,
            "directions": self.directions,
            "partition_mode": self.partition_mode,
            "hardness_mode": self.hardness_mode,
            "hardness_strength": self.hardness_strength,
        }

    @property
    def citation(self) -> str:
        if set(self.directions) == set(DIRECTIONS) and self.partition_mode == "joint":
            return _CITATION_GTE
        if set(self.directions) == {"query_to_doc", "doc_to_query"} and self.partition_mode == "per_direction":
            return _CITATION_JINA
        return _CITATION_INFONCE


def _check_directions(directions: tuple[str, ...], partition_mode: str) -> None:
    if not directions or not set(directions) <= set(DIRECTIONS):
        raise ConfigurationError(f"directions must be a non-empty subset of {DIRECTIONS}, got {directions!r}.")
    if "query_to_doc" not in directions:
        raise ConfigurationError("directions must include 'query_to_doc' (it holds the positive pair).")
    if partition_mode not in ("joint", "per_direction"):
        raise ConfigurationError(f"partition_mode must be 'joint' or 'per_direction', got {partition_mode!r}.")
    if partition_mode == "per_direction" and set(directions) & {"query_to_query", "doc_to_doc"}:
        raise ConfigurationError(
            "partition_mode='per_direction' needs the positive pair in every direction's softmax; "
            "'query_to_query' and 'doc_to_doc' do not hold it. Use partition_mode='joint'."
        )
