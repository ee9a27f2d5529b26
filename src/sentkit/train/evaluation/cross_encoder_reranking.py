"""CrossEncoderRerankingEvaluator: rerank each query's documents with a cross-encoder; MAP, MRR@k, NDCG@k."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from sentkit.errors import InputError
from sentkit.train.evaluation.base import SentenceEvaluator, append_csv_row, progress_text
from sentkit.train.evaluation.reranking import as_text_list, mean_metrics, ranking_metrics

logger = logging.getLogger(__name__)


class _Prepared(NamedTuple):
    is_relevant: list[int] | None  # None: no positive to rank, the sample scores 0
    pairs: list[list[str]]
    base: tuple[float, float, float] | None  # metrics of the given "documents" order, if any


class CrossEncoderRerankingEvaluator(SentenceEvaluator):
    """Score each query's documents with ``model.predict`` and rank them.

    Each sample is ``{"query": str, "positive": [str, ...], "negative": [str, ...]}`` or, for
    reranking the output of a first-stage retriever, ``{"query", "positive", "documents": [str,
    ...]}`` (the retrieved list, best first). With ``documents``, the metrics of the retriever's
    own order are also reported as ``base_*``; ``always_rerank_positives`` adds the positives the
    retriever missed to the documents to rerank (else they count as not found).

    Args:
        samples: the samples (a dict of samples uses its values).
        at_k: the cut-off of MRR and NDCG.
        always_rerank_positives: see above.
        name: data set name, prefixed to the metric keys.
        prompt_name, batch_size, show_progress_bar: prediction options.
        write_csv: append a row to ``CrossEncoderRerankingEvaluator[_name]_results_@k.csv``.
        mrr_at_k: the former name of ``at_k``.

    Returns (when called): ``{"map", "mrr@k", "ndcg@k"}`` (plus ``base_map``, ``base_mrr@k``,
    ``base_ndcg@k`` with ``documents``); primary metric ``ndcg@k``.

    Raises:
        InputError: a sample without "query" or "positive", or without exactly one of
            "negative" and "documents".
    """

    def __init__(
        self,
        samples: Sequence[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
        at_k: int = 10,
        always_rerank_positives: bool = True,
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        mrr_at_k: int | None = None,
    ) -> None:
        super().__init__()
        if mrr_at_k is not None:
            logger.warning("mrr_at_k is deprecated; use at_k=%d.", mrr_at_k)
        self.at_k = mrr_at_k if mrr_at_k is not None else at_k
        self.samples = list(samples.values()) if isinstance(samples, Mapping) else list(samples)
        self.always_rerank_positives, self.name, self.prompt_name = always_rerank_positives, name, prompt_name
        self.batch_size, self.show_progress_bar, self.write_csv = batch_size, show_progress_bar, write_csv
        self.csv_file = "CrossEncoderRerankingEvaluator" + (f"_{name}" if name else "") + f"_results_@{self.at_k}.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{self.at_k}", f"NDCG@{self.at_k}"]
        self.primary_metric = f"ndcg@{self.at_k}"

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        logger.info(
            "CrossEncoderRerankingEvaluator: Evaluating the model on the %s dataset%s:",
            self.name,
            progress_text(epoch, steps),
        )
        prepared = [self._prepare(sample) for sample in self.samples]
        all_pairs = [pair for item in prepared for pair in item.pairs]
        all_scores: Any = np.array([])
        if all_pairs:
            all_scores = model.predict(
                all_pairs,
                prompt_name=self.prompt_name,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=self.show_progress_bar,
            )
        per_sample, offset = [], 0
        for item in prepared:
            if item.is_relevant is None:
                per_sample.append((0.0, 0.0, 0.0))
                continue
            scores = all_scores[offset : offset + len(item.pairs)]
            offset += len(item.pairs)
            per_sample.append(ranking_metrics(item.is_relevant, scores, self.at_k, np.argsort(scores)[::-1]))
        mrr, ndcg, ap = mean_metrics(per_sample)
        metrics: dict[str, Any] = {"map": ap, f"mrr@{self.at_k}": mrr, f"ndcg@{self.at_k}": ndcg}
        logger.info("Queries: %d; MAP: %.2f, MRR@%d: %.2f, NDCG@%d: %.2f",
                    len(self.samples), ap * 100, self.at_k, mrr * 100, self.at_k, ndcg * 100)  # fmt: skip
        bases = [item.base for item in prepared if item.base is not None]
        if bases:
            base_mrr, base_ndcg, base_ap = mean_metrics(bases)
            card = {
                "map": f"{ap:.4f} ({ap - base_ap:+.4f})",
                f"mrr@{self.at_k}": f"{mrr:.4f} ({mrr - base_mrr:+.4f})",
                f"ndcg@{self.at_k}": f"{ndcg:.4f} ({ndcg - base_ndcg:+.4f})",
            }
            self.store_metrics_in_model_card_data(model, self.prefix_name_to_metrics(card, self.name), epoch, steps)
            metrics.update(
                {"base_map": base_ap, f"base_mrr@{self.at_k}": base_mrr, f"base_ndcg@{self.at_k}": base_ndcg}
            )
            metrics = self.prefix_name_to_metrics(metrics, self.name)
        else:
            metrics = self.prefix_name_to_metrics(metrics, self.name)
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, ap, mrr, ndcg])
        return metrics

    def _prepare(self, sample: Mapping[str, Any]) -> _Prepared:
        """The pairs to score and their relevance; the base metrics of a "documents" sample."""
        for key in ("query", "positive"):
            if key not in sample:
                raise InputError(f"Each sample needs a {key!r} key; got keys {sorted(sample)}.")
        if ("negative" in sample) == ("documents" in sample):
            raise InputError(f"Each sample needs exactly one of 'negative' and 'documents'; got keys {sorted(sample)}.")
        query, positives = sample["query"], as_text_list(sample["positive"])
        documents = sample.get("documents")
        base: tuple[float, float, float] | None = None
        if documents:
            base = self._base_metrics(positives, list(documents))
            if self.always_rerank_positives:
                docs = positives + [doc for doc in documents if doc not in positives]
                is_relevant = [1] * len(positives) + [0] * (len(docs) - len(positives))
            else:
                docs = list(documents)
                is_relevant = [int(doc in positives) for doc in docs]
        else:
            docs = positives + as_text_list(sample.get("negative") or [])
            is_relevant = [1] * len(positives) + [0] * (len(docs) - len(positives))
        if sum(is_relevant) == 0:
            return _Prepared(None, [], base)
        return _Prepared(is_relevant, [[query, doc] for doc in docs], base)

    def _base_metrics(self, positives: list[str], documents: list[str]) -> tuple[float, float, float]:
        """Metrics of the retriever's order; missed positives count as ranked after every document."""
        found = [int(doc in positives) for doc in documents]
        if sum(found) == 0:
            return 0.0, 0.0, 0.0
        is_relevant = found + [1] * (len(positives) - sum(found))
        scores = np.arange(len(is_relevant), 0, -1)  # the given order, best first
        return ranking_metrics(is_relevant, scores, self.at_k, np.argsort(scores)[::-1])

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"at_k": self.at_k}
        if self.samples and "documents" in self.samples[0]:
            config["always_rerank_positives"] = self.always_rerank_positives
        return config


CERerankingEvaluator = CrossEncoderRerankingEvaluator
