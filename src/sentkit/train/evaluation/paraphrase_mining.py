"""ParaphraseMiningEvaluator: mine the most similar pairs of a sentence set, score them against known duplicates."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from sentkit.train.evaluation.base import SentenceEvaluator, append_csv_row, progress_text

logger = logging.getLogger(__name__)

DuplicateGraph = dict[Hashable, dict[Hashable, bool]]


class ParaphraseMiningEvaluator(SentenceEvaluator):
    """Average precision, best F1 (with precision, recall and threshold) of the pairs that
    :func:`sentkit.util.paraphrase_mining` finds, against the known duplicate pairs.

    Args:
        sentences_map: sentence id -> text.
        duplicates_list: ``[(id1, id2), ...]`` duplicate pairs (ids not in ``sentences_map`` are ignored).
        duplicates_dict: ``{id1: {id2: True}}``, an alternative to ``duplicates_list``.
        add_transitive_closure: also count as duplicates every pair linked through other duplicates.
        query_chunk_size, corpus_chunk_size, max_pairs, top_k: mining options.
        show_progress_bar, batch_size, truncate_dim: encoding options.
        name: data set name, prefixed to the metric keys.
        write_csv: append a row to ``paraphrase_mining_evaluation[_name]_results.csv``.

    Returns (when called): ``{"average_precision", "f1", "precision", "recall", "threshold"}``;
    primary metric ``average_precision``.
    """

    def __init__(
        self,
        sentences_map: Mapping[Hashable, str],
        duplicates_list: Sequence[tuple[Hashable, Hashable]] | None = None,
        duplicates_dict: Mapping[Hashable, Mapping[Hashable, bool]] | None = None,
        add_transitive_closure: bool = False,
        query_chunk_size: int = 5000,
        corpus_chunk_size: int = 100000,
        max_pairs: int = 500000,
        top_k: int = 100,
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.ids, self.sentences = list(sentences_map), list(sentences_map.values())
        self.name, self.show_progress_bar, self.batch_size = name, show_progress_bar, batch_size
        self.query_chunk_size, self.corpus_chunk_size = query_chunk_size, corpus_chunk_size
        self.max_pairs, self.top_k, self.truncate_dim = max_pairs, top_k, truncate_dim
        self._add_transitive_closure = add_transitive_closure
        self.duplicates: DuplicateGraph = defaultdict(dict)
        for first, partners in (duplicates_dict or {}).items():
            self.duplicates[first].update(partners)
        for first, second in duplicates_list or ():
            if first in sentences_map and second in sentences_map:
                self.duplicates[first][second] = True
                self.duplicates[second][first] = True
        if add_transitive_closure:
            self.duplicates = self.add_transitive_closure(self.duplicates)
        self.total_num_duplicates = len(
            {
                tuple(sorted((first, second)))  # type: ignore[type-var]
                for first, partners in self.duplicates.items()
                for second in partners
                if first in sentences_map and second in sentences_map and self._is_duplicate(first, second)
            }
        )
        self.csv_file = "paraphrase_mining_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "precision", "recall", "f1", "threshold", "average_precision"]
        self.write_csv = write_csv
        self.primary_metric = "average_precision"

    def _is_duplicate(self, first: Hashable, second: Hashable) -> bool:
        return bool(self.duplicates.get(first, {}).get(second) or self.duplicates.get(second, {}).get(first))

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        from sentkit.apps.mining import paraphrase_mining

        logger.info(
            "Paraphrase Mining Evaluation of the model on the %s dataset%s:",
            self.name,
            progress_text(epoch, steps, self.truncate_dim),
        )
        pairs = paraphrase_mining(
            model,
            self.sentences,
            show_progress_bar=self.show_progress_bar,
            batch_size=self.batch_size,
            query_chunk_size=self.query_chunk_size,
            corpus_chunk_size=self.corpus_chunk_size,
            max_pairs=self.max_pairs,
            top_k=self.top_k,
            truncate_dim=self.truncate_dim,
        )
        logger.info("Number of candidate pairs: %d", len(pairs))
        result = self._score_pairs(pairs)
        if output_path is not None and self.write_csv:
            row = [result[key] for key in ("precision", "recall", "f1", "threshold", "average_precision")]
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *row])
        metrics = self.prefix_name_to_metrics(result, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _score_pairs(self, pairs: Sequence[Sequence[Any]]) -> dict[str, float]:
        """Walk the mined ``[[score, i, j], ...]`` (best first), cutting only between distinct scores."""
        extracted = correct = previous_correct = 0
        best = {"f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": 0.0}
        summed_precision = 0.0
        for index, (score, i, j) in enumerate(pairs):
            extracted += 1
            correct += self._is_duplicate(self.ids[int(i)], self.ids[int(j)])
            if index + 1 < len(pairs) and pairs[index + 1][0] == score:
                continue
            if correct > previous_correct:
                precision = correct / extracted
                recall = correct / self.total_num_duplicates if self.total_num_duplicates > 0 else 0.0
                f1 = 2 * precision * recall / (precision + recall)
                summed_precision += precision * (correct - previous_correct)
                if f1 > best["f1"]:
                    following = pairs[min(index + 1, len(pairs) - 1)][0]
                    best = {"f1": f1, "precision": precision, "recall": recall, "threshold": (score + following) / 2}
            previous_correct = correct
        ap = summed_precision / self.total_num_duplicates if self.total_num_duplicates > 0 else 0.0
        logger.info(
            "Average Precision: %.2f, best F1: %.2f at threshold %.4f", ap * 100, best["f1"] * 100, best["threshold"]
        )
        return {"average_precision": ap, **best}

    @staticmethod
    def add_transitive_closure(graph: DuplicateGraph) -> DuplicateGraph:
        """Mark every pair of ids connected through duplicate links as duplicates (in place); returns ``graph``."""
        visited: set[Hashable] = set()
        for start in list(graph):
            if start in visited:
                continue
            component = {start}
            queue = [node for node, linked in graph[start].items() if linked]
            while queue:
                node = queue.pop()
                if node not in component:
                    component.add(node)
                    queue.extend(other for other, linked in graph.get(node, {}).items() if linked)
            members = list(component)
            for position, first in enumerate(members):
                for second in members[position + 1 :]:
                    graph.setdefault(first, {})[second] = True
                    graph.setdefault(second, {})[first] = True
                    visited.update((first, second))
        return graph

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "add_transitive_closure": self._add_transitive_closure,
            "max_pairs": self.max_pairs,
            "top_k": self.top_k,
        }
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config
