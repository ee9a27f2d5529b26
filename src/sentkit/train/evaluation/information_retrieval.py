"""InformationRetrievalEvaluator: retrieve from a corpus for each query, score the ranking (BEIR style)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from tqdm import trange

from sentkit.errors import InputError
from sentkit.train.evaluation.base import SentenceEvaluator, encode_function, progress_text, similarity_names
from sentkit.train.evaluation.retrieval import CutOffs, TopHits, retrieval_metrics

logger = logging.getLogger(__name__)

ScoreFunction = Callable[[Tensor, Tensor], Tensor]
_METRIC_LABELS = (
    ("accuracy@k", "Accuracy"),
    ("precision@k", "Precision"),
    ("recall@k", "Recall"),
    ("mrr@k", "MRR"),
    ("ndcg@k", "NDCG"),
    ("map@k", "MAP"),
)


class InformationRetrievalEvaluator(SentenceEvaluator):
    """Rank the corpus for each query by embedding similarity; report accuracy, precision, recall,
    MRR, NDCG and MAP at several cut-offs, for each score function.

    Args:
        queries: query id -> query text. Queries without relevant documents are skipped.
        corpus: document id -> document text.
        relevant_docs: query id -> set of relevant document ids.
        corpus_chunk_size: documents encoded and scored at a time (bounds memory).
        mrr_at_k, ndcg_at_k, accuracy_at_k, precision_recall_at_k, map_at_k: the cut-offs.
        show_progress_bar, batch_size: encoding options.
        name: data set name, prefixed to the metric keys.
        write_csv: append a row to ``Information-Retrieval_evaluation[_name]_results.csv``.
        truncate_dim: truncate embeddings to this many dimensions.
        score_functions: name -> (Q, D), (C, D) -> (Q, C) function; default: the model's own
            ``similarity`` under its ``similarity_fn_name``, looked up at each call.
        main_score_function: the score function of the primary metric (default: the best one).
        query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name: prompts for each side
            (queries go through ``encode_query``, documents through ``encode_document``).
        write_predictions: also write each query's hits to a JSONL file per score function.

    Returns (when called): ``{"<fn>_accuracy@1": ..., "<fn>_precision@1": ..., "<fn>_recall@1": ...,
    "<fn>_ndcg@10": ..., "<fn>_mrr@10": ..., "<fn>_map@100": ...}``; primary metric
    ``<fn>_ndcg@<max k>``.

    Raises:
        InputError: no query with relevant documents, an empty cut-off list, an unknown
            ``main_score_function``.
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
        truncate_dim: int | None = None,
        score_functions: Mapping[str, ScoreFunction] | None = None,
        main_score_function: Any = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        write_predictions: bool = False,
    ) -> None:
        super().__init__()
        self.queries_ids = [qid for qid in queries if len(relevant_docs.get(qid) or ()) > 0]
        if not self.queries_ids:
            raise InputError("No query has relevant documents; relevant_docs must map query ids to corpus ids.")
        self.queries = [queries[qid] for qid in self.queries_ids]
        self.corpus_ids = list(corpus)
        self.corpus = [corpus[cid] for cid in self.corpus_ids]
        self.relevant_docs = relevant_docs
        self.query_prompt, self.query_prompt_name = query_prompt, query_prompt_name
        self.corpus_prompt, self.corpus_prompt_name = corpus_prompt, corpus_prompt_name
        self.corpus_chunk_size = corpus_chunk_size
        self.mrr_at_k, self.ndcg_at_k, self.map_at_k = list(mrr_at_k), list(ndcg_at_k), list(map_at_k)
        self.accuracy_at_k, self.precision_recall_at_k = list(accuracy_at_k), list(precision_recall_at_k)
        for label, ks in (("mrr_at_k", mrr_at_k), ("ndcg_at_k", ndcg_at_k), ("map_at_k", map_at_k)):
            if not ks or min(ks) < 1:
                raise InputError(f"{label}={list(ks)!r}: give at least one cut-off, each >= 1.")
        self.show_progress_bar, self.batch_size = show_progress_bar, batch_size
        self.name, self.write_csv, self.truncate_dim = name, write_csv, truncate_dim
        self.score_functions: dict[str, ScoreFunction] = dict(score_functions or {})
        self.score_function_names = sorted(self.score_functions)
        self._score_functions_from_model = score_functions is None
        self.main_score_function = similarity_names(None, main_score_function)[0] if main_score_function else None
        suffix = f"_{name}" if name else ""
        self.csv_file = f"Information-Retrieval_evaluation{suffix}_results.csv"
        self.predictions_file = f"Information-Retrieval_evaluation{suffix}_predictions.jsonl"
        self.write_predictions = write_predictions
        self.csv_headers = ["epoch", "steps"]
        self._add_csv_headers(self.score_function_names)

    @property
    def cutoffs(self) -> CutOffs:
        return CutOffs(self.accuracy_at_k, self.precision_recall_at_k, self.mrr_at_k, self.ndcg_at_k, self.map_at_k)

    def _add_csv_headers(self, names: Sequence[str]) -> None:
        for fn_name in names:
            self.csv_headers += [f"{fn_name}-Accuracy@{k}" for k in self.accuracy_at_k]
            for k in self.precision_recall_at_k:
                self.csv_headers += [f"{fn_name}-Precision@{k}", f"{fn_name}-Recall@{k}"]
            self.csv_headers += [f"{fn_name}-MRR@{k}" for k in self.mrr_at_k]
            self.csv_headers += [f"{fn_name}-NDCG@{k}" for k in self.ndcg_at_k]
            self.csv_headers += [f"{fn_name}-MAP@{k}" for k in self.map_at_k]

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1, *args: Any, **kwargs: Any
    ) -> dict[str, float]:
        logger.info(
            "Information Retrieval Evaluation of the model on the %s dataset%s:",
            self.name,
            progress_text(epoch, steps, self.truncate_dim),
        )
        if self._score_functions_from_model:  # per call: a reused evaluator follows each model
            self.score_functions = {model.similarity_fn_name: model.similarity}
            if self.score_function_names != sorted(self.score_functions):
                self.score_function_names = sorted(self.score_functions)
                self.csv_headers = ["epoch", "steps"]
                self._add_csv_headers(self.score_function_names)
                self.primary_metric = None
        scores = self.compute_all_metrics(model, *args, **{**kwargs, "output_path": output_path})
        if output_path is not None and self.write_csv:
            self._write_csv_row(output_path, scores, epoch, steps)
        if not self.primary_metric:
            best_k = max(self.ndcg_at_k)
            function = self.main_score_function or max(
                self.score_function_names, key=lambda fn: scores[fn]["ndcg@k"][best_k]
            )
            self.primary_metric = f"{function}_ndcg@{best_k}"
        metrics = {
            f"{function}_{metric.replace('@k', f'@{k}')}": value
            for function, by_metric in scores.items()
            for metric, by_k in by_metric.items()
            for k, value in by_k.items()
        }
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _write_csv_row(self, output_path: str, scores: dict[str, Any], epoch: int, steps: int) -> None:
        row: list[Any] = [epoch, steps]
        for fn_name in self.score_function_names:
            result = scores[fn_name]
            row += [result["accuracy@k"][k] for k in self.accuracy_at_k]
            for k in self.precision_recall_at_k:
                row += [result["precision@k"][k], result["recall@k"][k]]
            row += [result["mrr@k"][k] for k in self.mrr_at_k]
            row += [result["ndcg@k"][k] for k in self.ndcg_at_k]
            row += [result["map@k"][k] for k in self.map_at_k]
        os.makedirs(output_path, exist_ok=True)
        path = os.path.join(output_path, self.csv_file)
        is_new = not os.path.isfile(path)
        with open(path, mode="w" if is_new else "a", encoding="utf-8") as handle:
            if is_new:
                handle.write(",".join(self.csv_headers) + "\n")
            handle.write(",".join(map(str, row)) + "\n")

    def compute_all_metrics(
        self,
        model: Any,
        corpus_model: Any = None,
        corpus_embeddings: Tensor | None = None,
        output_path: str | None = None,
    ) -> dict[str, dict[str, dict[int, float]]]:
        """Per score function, the metric -> k -> value table (see :func:`retrieval_metrics`).

        ``corpus_model`` encodes the corpus (default: ``model``); ``corpus_embeddings`` (N, D),
        dense or sparse, skips encoding it.
        """
        corpus_model = model if corpus_model is None else corpus_model
        query_embeddings = self.embed_inputs(
            model, self.queries, encode_fn_name="query", prompt_name=self.query_prompt_name, prompt=self.query_prompt
        )
        top = {
            fn_name: TopHits(len(self.queries), self.cutoffs.max_k, self.corpus_ids) for fn_name in self.score_functions
        }
        for start in trange(
            0, len(self.corpus), self.corpus_chunk_size, desc="Corpus Chunks", disable=not self.show_progress_bar
        ):
            end = min(start + self.corpus_chunk_size, len(self.corpus))
            chunk = self._corpus_chunk(corpus_model, corpus_embeddings, start, end)
            for fn_name, score_function in self.score_functions.items():
                chunk_scores = score_function(query_embeddings, chunk)  # (Q, C)
                top[fn_name].add_chunk(chunk_scores.detach().float().cpu().numpy(), start)
        if self.write_predictions and output_path is not None:
            self._write_predictions(output_path, top)
        logger.info("Queries: %d", len(self.queries))
        logger.info("Corpus: %d\n", len(self.corpus))
        relevant = [self.relevant_docs[qid] for qid in self.queries_ids]
        scores = {
            fn_name: retrieval_metrics([[cid for _, cid in hits] for hits in top[fn_name].hits], relevant, self.cutoffs)
            for fn_name in self.score_functions
        }
        for fn_name in self.score_function_names:
            logger.info("Score-Function: %s", fn_name)
            self.output_scores(scores[fn_name])
        return scores

    compute_metrices = compute_all_metrics

    def _corpus_chunk(self, model: Any, embeddings: Tensor | None, start: int, end: int) -> Any:
        if embeddings is None:
            return self.embed_inputs(
                model,
                self.corpus[start:end],
                encode_fn_name="document",
                prompt_name=self.corpus_prompt_name,
                prompt=self.corpus_prompt,
            )
        if isinstance(embeddings, Tensor) and embeddings.is_sparse:
            return embeddings.index_select(0, torch.arange(start, end, device=embeddings.device))
        return embeddings[start:end]

    def _write_predictions(self, output_path: str, top: dict[str, TopHits]) -> None:
        os.makedirs(output_path, exist_ok=True)
        for fn_name, hits in top.items():
            path = os.path.join(output_path, self.predictions_file.replace(".jsonl", f"_{fn_name}.jsonl"))
            with open(path, mode="w", encoding="utf-8") as handle:
                for qid, query, results in zip(self.queries_ids, self.queries, hits.as_dicts(), strict=True):
                    handle.write(json.dumps({"query_id": qid, "query": query, "results": results}) + "\n")

    def embed_inputs(
        self,
        model: Any,
        sentences: Sequence[str],
        encode_fn_name: str | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """(N, D) tensor embeddings; ``encode_fn_name`` "query" / "document" picks the role's encode."""
        return encode_function(model, encode_fn_name)(
            list(sentences),
            prompt_name=prompt_name,
            prompt=prompt,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_tensor=True,
            truncate_dim=self.truncate_dim,
            **kwargs,
        )

    @staticmethod
    def output_scores(scores: Mapping[str, Mapping[int, float]]) -> None:
        """Log a metric table of :meth:`compute_all_metrics`."""
        for metric, label in _METRIC_LABELS:
            for k, value in scores[metric].items():
                shown = f"{value * 100:.2f}%" if metric in ("accuracy@k", "precision@k", "recall@k") else f"{value:.4f}"
                logger.info("%s@%d: %s", label, k, shown)

    def get_config_dict(self) -> dict[str, Any]:
        keys = ("truncate_dim", "query_prompt", "query_prompt_name", "corpus_prompt", "corpus_prompt_name")
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}
