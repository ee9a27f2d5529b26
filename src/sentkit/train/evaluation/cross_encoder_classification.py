"""CrossEncoderClassificationEvaluator: binary (thresholded score) or multi-class (argmax) pair classification."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from sentkit.train.evaluation.base import SentenceEvaluator, append_csv_row, check_same_length, progress_text
from sentkit.train.evaluation.metrics import average_precision, f1_scores
from sentkit.train.evaluation.thresholds import best_accuracy_threshold, best_f1_threshold

logger = logging.getLogger(__name__)

_BINARY_HEADERS = ["Accuracy", "Accuracy_Threshold", "F1", "F1_Threshold", "Precision", "Recall", "Average_Precision"]
_MULTICLASS_HEADERS = ["Macro_F1", "Micro_F1", "Weighted_F1"]


class CrossEncoderClassificationEvaluator(SentenceEvaluator):
    """Classify pairs with ``model.predict``.

    A one-label model: accuracy and F1 at their best thresholds on the score, precision, recall
    and average precision (primary). A multi-label model: the argmax label, macro (primary),
    micro and weighted F1.

    Args:
        sentence_pairs: (N,) ``[text1, text2]`` pairs.
        labels: (N,) 0/1 labels (one-label model) or class indices.
        name: data set name, prefixed to the metric keys.
        prompt_name: a prompt of the model prepended to the first text.
        batch_size, show_progress_bar: prediction options.
        write_csv: append a row to ``CrossEncoderClassificationEvaluator[_name]_results.csv``.

    Returns (when called): ``{"accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision",
    "recall", "average_precision"}`` or ``{"f1_macro", "f1_micro", "f1_weighted"}``.

    Raises:
        InputError: pairs and labels of different lengths.
    """

    def __init__(
        self,
        sentence_pairs: Sequence[Sequence[str]],
        labels: Sequence[int],
        *,
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        write_csv: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        check_same_length(sentence_pairs=sentence_pairs, labels=labels)
        self.sentence_pairs, self.labels = [list(pair) for pair in sentence_pairs], np.asarray(labels)
        self.name, self.prompt_name, self.batch_size, self.write_csv = name, prompt_name, batch_size, write_csv
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        self.show_progress_bar = show_progress_bar
        self.csv_file = "CrossEncoderClassificationEvaluator" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"]

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        logger.info(
            "CrossEncoderClassificationEvaluator: Evaluating the model on %s dataset%s:",
            self.name,
            progress_text(epoch, steps),
        )
        predicted = model.predict(
            self.sentence_pairs,
            prompt_name=self.prompt_name,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress_bar,
        )
        if model.num_labels == 1:
            metrics = self._binary(predicted)
            self.csv_headers, self.primary_metric = ["epoch", "steps", *_BINARY_HEADERS], "average_precision"
        else:
            f1 = f1_scores(self.labels, np.argmax(predicted, axis=1))
            metrics = {"f1_macro": f1["macro"], "f1_micro": f1["micro"], "f1_weighted": f1["weighted"]}
            logger.info("Macro / Micro / Weighted F1: %.2f / %.2f / %.2f", *(100 * v for v in metrics.values()))
            self.csv_headers, self.primary_metric = ["epoch", "steps", *_MULTICLASS_HEADERS], "f1_macro"
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *metrics.values()])
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _binary(self, scores: np.ndarray) -> dict[str, Any]:
        accuracy, accuracy_threshold = best_accuracy_threshold(scores, self.labels, True)
        f1, precision, recall, f1_threshold = best_f1_threshold(scores, self.labels, True)
        ap = average_precision(self.labels, scores)
        logger.info("Accuracy: %.2f (Threshold: %.4f)", accuracy * 100, accuracy_threshold)
        logger.info("F1: %.2f (Threshold: %.4f)", f1 * 100, f1_threshold)
        logger.info("Precision / Recall / AP: %.2f / %.2f / %.2f", precision * 100, recall * 100, ap * 100)
        return {
            "accuracy": accuracy,
            "accuracy_threshold": accuracy_threshold,
            "f1": f1,
            "f1_threshold": f1_threshold,
            "precision": precision,
            "recall": recall,
            "average_precision": ap,
        }
