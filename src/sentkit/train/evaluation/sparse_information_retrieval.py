"""SparseInformationRetrievalEvaluator: the IR evaluator for sparse (SPLADE) models, with sparsity statistics."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from sentkit.train.evaluation.base import encode_function, extend_last_csv_row
from sentkit.train.evaluation.information_retrieval import InformationRetrievalEvaluator, ScoreFunction

logger = logging.getLogger(__name__)

_SPARSITY_HEADERS = [
    "query_active_dims",
    "query_sparsity_ratio",
    "corpus_active_dims",
    "corpus_sparsity_ratio",
    "avg_flops",
]


def active_dim_counts(embeddings: Tensor) -> Tensor:
    """(V,) int32: in how many rows of (N, V) (or (V,)) ``embeddings`` each dimension is stored non-zero."""
    sparse = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
    width = sparse.shape[-1]
    columns = sparse.indices()[-1]  # (nnz,)
    return torch.bincount(columns.cpu(), minlength=width).to(torch.int32)


class SparseInformationRetrievalEvaluator(InformationRetrievalEvaluator):
    """:class:`InformationRetrievalEvaluator` for sparse embeddings, also reporting how sparse they are.

    Takes the arguments of :class:`InformationRetrievalEvaluator` (without ``truncate_dim``)
    plus ``max_active_dims``: keep only this many largest weights per embedding.

    Returns (when called): the IR metrics, then ``query_active_dims``, ``query_sparsity_ratio``,
    ``corpus_active_dims``, ``corpus_sparsity_ratio`` (means over the texts) and ``avg_flops``
    (expected number of dimensions a query and a document share, from how often each is active).
    """

    def __init__(
        self,
        queries: Mapping[Any, str],
        corpus: Mapping[Any, str],
        relevant_docs: Mapping[Any, Any],
        corpus_chunk_size: int = 50000,
        mrr_at_k: Sequence[int] = (10,),
        ndcg_at_k: Sequence[int] = (10,),
        accuracy_at_k: Sequence[int] = (1, 3, 5, 10),
        precision_recall_at_k: Sequence[int] = (1, 3, 5, 10),
        map_at_k: Sequence[int] = (100,),
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        max_active_dims: int | None = None,
        score_functions: Mapping[str, ScoreFunction] | None = None,
        main_score_function: Any = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        write_predictions: bool = False,
    ) -> None:
        self.max_active_dims = max_active_dims
        self._reset_stats()
        super().__init__(
            queries=queries,
            corpus=corpus,
            relevant_docs=relevant_docs,
            corpus_chunk_size=corpus_chunk_size,
            mrr_at_k=mrr_at_k,
            ndcg_at_k=ndcg_at_k,
            accuracy_at_k=accuracy_at_k,
            precision_recall_at_k=precision_recall_at_k,
            map_at_k=map_at_k,
            show_progress_bar=show_progress_bar,
            batch_size=batch_size,
            name=name,
            write_csv=write_csv,
            score_functions=score_functions,
            main_score_function=main_score_function,
            query_prompt=query_prompt,
            query_prompt_name=query_prompt_name,
            corpus_prompt=corpus_prompt,
            corpus_prompt_name=corpus_prompt_name,
            write_predictions=write_predictions,
        )

    def _reset_stats(self) -> None:
        self._stats: dict[str, dict[str, list[float]]] = {"query": defaultdict(list), "corpus": defaultdict(list)}
        self._counts: dict[str, Tensor] = {}
        self._lengths: dict[str, list[int]] = {"query": [], "corpus": []}

    def _add_csv_headers(self, names: Sequence[str]) -> None:
        super()._add_csv_headers(names)
        if names:
            self.csv_headers += _SPARSITY_HEADERS

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1, *args: Any, **kwargs: Any
    ) -> dict[str, float]:
        self._reset_stats()
        metrics = super().__call__(model, output_path, epoch, steps, *args, **kwargs)
        self.sparsity_stats = self._summarize()
        metrics.update(self.prefix_name_to_metrics(self.sparsity_stats, self.name))
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        logger.info(
            "Query / corpus active dimensions: %.1f / %.1f; average FLOPS: %.2f",
            self.sparsity_stats.get("query_active_dims", 0.0),
            self.sparsity_stats.get("corpus_active_dims", 0.0),
            self.sparsity_stats["avg_flops"],
        )
        if output_path is not None and self.write_csv:
            extend_last_csv_row(os.path.join(output_path, self.csv_file), self.sparsity_stats.values())
        return metrics

    def _summarize(self) -> dict[str, float]:
        """Query statistics averaged per encode call, corpus ones weighted by chunk length; then FLOPS."""
        summary: dict[str, float] = {}
        for role in ("query", "corpus"):
            for key, values in self._stats[role].items():
                if role == "query":
                    summary[f"{role}_{key}"] = sum(values) / len(values)
                else:
                    lengths = self._lengths[role]
                    summary[f"{role}_{key}"] = sum(v * n for v, n in zip(values, lengths, strict=True)) / sum(lengths)
        summary["avg_flops"] = self._average_flops()
        return summary

    def _average_flops(self) -> float:
        if "query" not in self._counts or "corpus" not in self._counts:
            return 0.0
        query_rate = self._counts["query"] / sum(self._lengths["query"])  # (V,) share of queries using each dim
        corpus_rate = self._counts["corpus"] / sum(self._lengths["corpus"])  # (V,)
        return float(torch.dot(query_rate, corpus_rate))

    def compute_all_metrics(
        self,
        model: Any,
        corpus_model: Any = None,
        corpus_embeddings: Tensor | None = None,
        output_path: str | None = None,
    ) -> dict[str, dict[str, dict[int, float]]]:
        if corpus_embeddings is not None:
            corpus_embeddings = corpus_embeddings.cpu()
            self._record(corpus_model if corpus_model is not None else model, corpus_embeddings, "corpus")
        return super().compute_all_metrics(
            model, corpus_model=corpus_model, corpus_embeddings=corpus_embeddings, output_path=output_path
        )

    def embed_inputs(
        self,
        model: Any,
        sentences: Sequence[str],
        encode_fn_name: str | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """(N, V) sparse CPU embeddings; their sparsity is recorded under "query" or "corpus"."""
        embeddings = encode_function(model, encode_fn_name)(
            list(sentences),
            prompt_name=prompt_name,
            prompt=prompt,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_sparse_tensor=True,
            save_to_cpu=True,
            max_active_dims=self.max_active_dims,
            **kwargs,
        )
        self._record(model, embeddings, "corpus" if encode_fn_name == "document" else "query")
        return embeddings

    def _record(self, model: Any, embeddings: Tensor, role: str) -> None:
        from sentkit.encoders.sparse_tools import sparsity

        stats = getattr(model, "sparsity", sparsity)(embeddings)
        for key, value in stats.items():
            self._stats[role][key].append(value)
        counts = active_dim_counts(embeddings)
        self._counts[role] = self._counts[role] + counts if role in self._counts else counts
        self._lengths[role].append(len(embeddings))

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        if self.max_active_dims is not None:
            config["max_active_dims"] = self.max_active_dims
        return config
