"""BinaryClassificationEvaluator: how well an embedding similarity separates similar from dissimilar pairs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from sentkit.errors import InputError
from sentkit.similarity import SIMILARITY_FUNCTIONS
from sentkit.train.evaluation.base import (
    SentenceEvaluator,
    append_csv_row,
    check_same_length,
    progress_text,
    similarity_names,
)
from sentkit.train.evaluation.metrics import average_precision, matthews_corrcoef
from sentkit.train.evaluation.thresholds import best_accuracy_threshold, best_f1_threshold

logger = logging.getLogger(__name__)

_METRICS = ("accuracy", "accuracy_threshold", "f1", "precision", "recall", "f1_threshold", "ap", "mcc")
# Similarities are used as scores; euclidean and manhattan as distances (lower = more similar).
_DISPLAY = {
    "cosine": ("Cosine-Similarity", True),
    "dot": ("Dot-Product", True),
    "manhattan": ("Manhattan-Distance", False),
    "euclidean": ("Euclidean-Distance", False),
}


class BinaryClassificationEvaluator(SentenceEvaluator):
    """Accuracy, F1 (with their best thresholds), precision, recall, average precision and Matthews
    correlation of labelling pairs similar (1) or dissimilar (0) by a threshold on their similarity.

    Args:
        sentences1, sentences2: the (N,) texts of each pair.
        labels: (N,) 1 for similar pairs, 0 for dissimilar ones.
        name: data set name, prefixed to the metric keys.
        batch_size, show_progress_bar: encoding options.
        write_csv: append a row to ``binary_classification_evaluation[_name]_results.csv``.
        truncate_dim: truncate embeddings to this many dimensions.
        similarity_fn_names: "cosine", "dot", "euclidean", "manhattan" (default: the model's).

    Returns (when called): ``{"<fn>_accuracy", "<fn>_accuracy_threshold", "<fn>_f1",
    "<fn>_f1_threshold", "<fn>_precision", "<fn>_recall", "<fn>_ap", "<fn>_mcc"}`` per similarity,
    plus ``max_<metric>`` with several; primary metric ``<fn>_ap`` (or ``max_ap``).

    Raises:
        InputError: inputs of different lengths, a label other than 0 or 1, an unknown similarity.
    """

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        labels: Sequence[int],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool | None = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        check_same_length(sentences1=sentences1, sentences2=sentences2, labels=labels)
        bad = [index for index, label in enumerate(labels) if label not in (0, 1)]
        if bad:
            raise InputError(f"labels must be 0 or 1; got {labels[bad[0]]!r} at index {bad[0]}.")
        self.sentences1, self.sentences2, self.labels = list(sentences1), list(sentences2), list(labels)
        self.name, self.batch_size, self.write_csv, self.truncate_dim = name, batch_size, write_csv, truncate_dim
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        self.show_progress_bar = show_progress_bar
        self.similarity_fn_names = similarity_names(similarity_fn_names)
        self.csv_file = "binary_classification_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._add_csv_headers(self.similarity_fn_names)

    def _add_csv_headers(self, names: Sequence[str]) -> None:
        self.csv_headers += [f"{fn_name}_{metric}" for fn_name in names for metric in _METRICS]

    @classmethod
    def from_input_examples(cls, examples: Sequence[Any], **kwargs: Any) -> BinaryClassificationEvaluator:
        """Build from objects with ``texts`` (two texts) and ``label`` (0 or 1)."""
        first = [example.texts[0] for example in examples]
        second = [example.texts[1] for example in examples]
        return cls(first, second, [example.label for example in examples], **kwargs)

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        logger.info(
            "Binary Accuracy Evaluation of the model on the %s dataset%s:",
            self.name,
            progress_text(epoch, steps, self.truncate_dim),
        )
        if not self.similarity_fn_names:
            self.similarity_fn_names = [model.similarity_fn_name]
            self._add_csv_headers(self.similarity_fn_names)
        scores = self.compute_metrics(model)
        if output_path is not None and self.write_csv:
            row: list[Any] = [epoch, steps]
            for header in self.csv_headers[2:]:
                fn_name, metric = header.split("_", maxsplit=1)
                if fn_name in scores:
                    row.append(scores[fn_name][metric])
            append_csv_row(output_path, self.csv_file, self.csv_headers, row)
        metrics = {
            f"{fn_name}_{metric}": value for fn_name, values in scores.items() for metric, value in values.items()
        }
        if len(self.similarity_fn_names) > 1:
            first = next(iter(scores.values()))
            metrics.update({f"max_{metric}": max(values[metric] for values in scores.values()) for metric in first})
            self.primary_metric = "max_ap"
        else:
            self.primary_metric = f"{self.similarity_fn_names[0]}_ap"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def compute_metrics(self, model: Any) -> dict[str, dict[str, Any]]:
        """Per similarity name, its metric -> value table (thresholds in the scores' dtype)."""
        embeddings1, embeddings2 = self._pair_embeddings(model)
        labels = np.asarray(self.labels)
        results: dict[str, dict[str, Any]] = {}
        for fn_name in self.similarity_fn_names:
            display, higher_is_similar = _DISPLAY[fn_name]
            similarity = SIMILARITY_FUNCTIONS[fn_name][1](embeddings1, embeddings2).detach().cpu().numpy()  # (N,)
            scores = similarity if higher_is_similar else -similarity  # distances for euclidean/manhattan
            accuracy, accuracy_threshold = best_accuracy_threshold(scores, labels, higher_is_similar)
            f1, precision, recall, f1_threshold = best_f1_threshold(scores, labels, higher_is_similar)
            ap = average_precision(labels, scores if higher_is_similar else -scores)
            predicted = scores >= f1_threshold if higher_is_similar else scores <= f1_threshold
            mcc = matthews_corrcoef(labels, predicted)
            logger.info("Accuracy with %s: %.2f (Threshold: %.4f)", display, accuracy * 100, accuracy_threshold)
            logger.info("F1 with %s: %.2f (Threshold: %.4f)", display, f1 * 100, f1_threshold)
            logger.info("Precision / Recall with %s: %.2f / %.2f", display, precision * 100, recall * 100)
            logger.info("Average Precision / MCC with %s: %.2f / %.2f", display, ap * 100, mcc * 100)
            results[fn_name] = {
                "accuracy": accuracy,
                "accuracy_threshold": accuracy_threshold,
                "f1": f1,
                "f1_threshold": f1_threshold,
                "precision": precision,
                "recall": recall,
                "ap": ap,
                "mcc": mcc,
            }
        return results

    compute_metrices = compute_metrics

    def _pair_embeddings(self, model: Any) -> tuple[Any, Any]:
        """(N, D) embeddings of both sides; each distinct text is encoded once."""
        unique = list(dict.fromkeys([*self.sentences1, *self.sentences2]))
        embeddings = self.embed_inputs(model, unique)
        row_of = {text: row for row, text in enumerate(unique)}
        first = embeddings[[row_of[text] for text in self.sentences1]]
        second = embeddings[[row_of[text] for text in self.sentences2]]
        return first, second

    def embed_inputs(self, model: Any, sentences: Sequence[str], **kwargs: Any) -> np.ndarray:
        """(N, D) numpy embeddings of ``sentences``."""
        return model.encode(
            list(sentences),
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            truncate_dim=self.truncate_dim,
            **kwargs,
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}
