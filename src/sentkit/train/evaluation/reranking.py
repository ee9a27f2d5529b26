"""RerankingEvaluator: rank each query's positive and negative documents by embedding similarity."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from sentkit.similarity import cos_sim
from sentkit.train.evaluation.base import SentenceEvaluator, append_csv_row, encode_function, progress_text
from sentkit.train.evaluation.metrics import average_precision, ndcg_at_k

logger = logging.getLogger(__name__)


def as_text_list(value: str | Sequence[str]) -> list[str]:
    """A list of texts from one text or a sequence of them."""
    return [value] if isinstance(value, str) else list(value)


def ranking_metrics(is_relevant: Sequence[int], scores: Any, at_k: int, order: Any) -> tuple[float, float, float]:
    """``(MRR@k, NDCG@k, AP)`` of one query.

    Args:
        is_relevant: (N,) 1 for relevant documents, 0 for the others.
        scores: (N,) scores, higher first.
        at_k: the cut-off of MRR and NDCG.
        order: (N,) document indices best first (how ties rank for MRR).
    """
    first = next((rank for rank, index in enumerate(order[:at_k]) if is_relevant[int(index)]), None)
    mrr = 0.0 if first is None else 1.0 / (first + 1)
    return mrr, ndcg_at_k(is_relevant, scores, k=at_k), average_precision(is_relevant, scores)


def mean_metrics(rows: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Column means of ``(mrr, ndcg, ap)`` rows (NaN for no rows)."""
    if not rows:
        return float("nan"), float("nan"), float("nan")
    mrr, ndcg, ap = (float(np.mean(column)) for column in zip(*rows, strict=True))
    return mrr, ndcg, ap


class RerankingEvaluator(SentenceEvaluator):
    """MAP, MRR@k and NDCG@k of ranking each query's positives above its negatives by similarity.

    Args:
        samples: ``[{"query": str, "positive": [str, ...], "negative": [str, ...]}, ...]`` (a
            single text is accepted for positive / negative; a dict of samples uses its values).
            Samples without positives or without negatives are dropped.
        at_k: the cut-off of MRR and NDCG.
        name: data set name, prefixed to the metric keys.
        write_csv: append a row to ``RerankingEvaluator[_name]_results_@k.csv``.
        similarity_fct: (1, D), (M, D) -> (1, M) scores (default cosine).
        batch_size, show_progress_bar, truncate_dim: encoding options.
        use_batched_encoding: encode all queries and documents at once (else one sample at a time).
        mrr_at_k: the former name of ``at_k``.

    Returns (when called): ``{"map", "mrr@k", "ndcg@k"}``; primary metric ``ndcg@k``.
    """

    def __init__(
        self,
        samples: Sequence[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
        at_k: int = 10,
        name: str = "",
        write_csv: bool = True,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        use_batched_encoding: bool = True,
        truncate_dim: int | None = None,
        mrr_at_k: int | None = None,
    ) -> None:
        super().__init__()
        if mrr_at_k is not None:
            logger.warning("mrr_at_k is deprecated; use at_k=%d.", mrr_at_k)
        self.at_k = mrr_at_k if mrr_at_k is not None else at_k
        self.name, self.write_csv, self.similarity_fct = name, write_csv, similarity_fct
        self.batch_size, self.show_progress_bar = batch_size, show_progress_bar
        self.use_batched_encoding, self.truncate_dim = use_batched_encoding, truncate_dim
        listed = list(samples.values()) if isinstance(samples, Mapping) else list(samples)
        normalized = [
            {**sample, "positive": as_text_list(sample["positive"]), "negative": as_text_list(sample["negative"])}
            for sample in listed
        ]
        self.samples = [sample for sample in normalized if sample["positive"] and sample["negative"]]
        self.csv_file = "RerankingEvaluator" + (f"_{name}" if name else "") + f"_results_@{self.at_k}.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{self.at_k}", f"NDCG@{self.at_k}"]
        self.primary_metric = f"ndcg@{self.at_k}"

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        logger.info(
            "RerankingEvaluator: Evaluating the model on the %s dataset%s:",
            self.name,
            progress_text(epoch, steps, self.truncate_dim),
        )
        scores = self.compute_metrics(model)
        logger.info(
            "Queries: %d; MAP: %.2f, MRR@%d: %.2f, NDCG@%d: %.2f",
            len(self.samples), scores["map"] * 100, self.at_k, scores["mrr"] * 100, self.at_k, scores["ndcg"] * 100,
        )  # fmt: skip
        if output_path is not None and self.write_csv:
            row = [epoch, steps, scores["map"], scores["mrr"], scores["ndcg"]]
            append_csv_row(output_path, self.csv_file, self.csv_headers, row)
        metrics = {"map": scores["map"], f"mrr@{self.at_k}": scores["mrr"], f"ndcg@{self.at_k}": scores["ndcg"]}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def compute_metrics(self, model: Any) -> dict[str, float]:
        """Mean ``{"map", "mrr", "ndcg"}`` over the samples."""
        per_sample = self._batched(model) if self.use_batched_encoding else self._one_by_one(model)
        mrr, ndcg, ap = mean_metrics(per_sample)
        return {"map": ap, "mrr": mrr, "ndcg": ndcg}

    compute_metrices = compute_metrics

    def _batched(self, model: Any) -> list[tuple[float, float, float]]:
        queries = self.embed_inputs(
            model, [sample["query"] for sample in self.samples], "query", self.show_progress_bar
        )
        documents = [doc for sample in self.samples for doc in (*sample["positive"], *sample["negative"])]
        doc_embeddings = self.embed_inputs(model, documents, "document", self.show_progress_bar)
        results, offset = [], 0
        for row, sample in enumerate(self.samples):
            count = len(sample["positive"]) + len(sample["negative"])
            results.append(self._score_sample(sample, queries[row], doc_embeddings[offset : offset + count]))
            offset += count
        return results

    def _one_by_one(self, model: Any) -> list[tuple[float, float, float]]:
        results = []
        for sample in tqdm(self.samples, disable=not self.show_progress_bar, desc="Samples"):
            query = self.embed_inputs(model, [sample["query"]], "query", False)
            documents = self.embed_inputs(model, [*sample["positive"], *sample["negative"]], "document", False)
            results.append(self._score_sample(sample, query, documents))
        return results

    def _score_sample(self, sample: Mapping[str, Any], query: Tensor, documents: Tensor) -> tuple[float, float, float]:
        scores = self.similarity_fct(query, documents)  # (1, M) or (M,)
        if scores.ndim > 1:
            scores = scores[0]
        order = torch.argsort(-scores, stable=True).tolist()
        is_relevant = [1] * len(sample["positive"]) + [0] * len(sample["negative"])
        return ranking_metrics(is_relevant, scores.cpu().tolist(), self.at_k, order)

    def embed_inputs(
        self,
        model: Any,
        sentences: Sequence[str],
        encode_fn_name: str | None = None,
        show_progress_bar: bool | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """(N, D) tensor embeddings; ``encode_fn_name`` "query" / "document" picks the role's encode."""
        return encode_function(model, encode_fn_name)(
            list(sentences),
            batch_size=self.batch_size,
            show_progress_bar=show_progress_bar,
            convert_to_tensor=True,
            truncate_dim=self.truncate_dim,
            **kwargs,
        )

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"at_k": self.at_k}
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config
