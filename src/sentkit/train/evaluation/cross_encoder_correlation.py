"""CrossEncoderCorrelationEvaluator: correlation of a cross-encoder's pair scores with gold scores."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sentkit.train.evaluation.base import SentenceEvaluator, append_csv_row, check_same_length, progress_text
from sentkit.train.evaluation.metrics import pearson, spearman

logger = logging.getLogger(__name__)


class CrossEncoderCorrelationEvaluator(SentenceEvaluator):
    """Pearson and Spearman correlation between ``model.predict(sentence_pairs)`` and gold ``scores``.

    Args:
        sentence_pairs: (N,) ``[text1, text2]`` pairs.
        scores: (N,) gold scores.
        name: data set name, prefixed to the metric keys.
        prompt_name: a prompt of the model prepended to the first text.
        batch_size, show_progress_bar: prediction options (progress: shown at INFO logging by default).
        write_csv: append a row to ``CrossEncoderCorrelationEvaluator[_name]_results.csv``.

    Returns (when called): ``{"pearson", "spearman"}``; primary metric ``spearman``.

    Raises:
        InputError: pairs and scores of different lengths.
    """

    def __init__(
        self,
        sentence_pairs: Sequence[Sequence[str]],
        scores: Sequence[float],
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        write_csv: bool = True,
    ) -> None:
        super().__init__()
        check_same_length(sentence_pairs=sentence_pairs, scores=scores)
        self.sentence_pairs, self.scores = [list(pair) for pair in sentence_pairs], list(scores)
        self.name, self.prompt_name, self.batch_size, self.write_csv = name, prompt_name, batch_size, write_csv
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        self.show_progress_bar = show_progress_bar
        self.csv_file = "CrossEncoderCorrelationEvaluator" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "Pearson_Correlation", "Spearman_Correlation"]
        self.primary_metric = "spearman"

    @classmethod
    def from_input_examples(cls, examples: Sequence[Any], **kwargs: Any) -> CrossEncoderCorrelationEvaluator:
        """Build from objects with ``texts`` (a pair) and ``label`` (the gold score)."""
        return cls([example.texts for example in examples], [example.label for example in examples], **kwargs)

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        logger.info(
            "CrossEncoderCorrelationEvaluator: Evaluating the model on %s dataset%s:",
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
        correlation_pearson, correlation_spearman = pearson(self.scores, predicted), spearman(self.scores, predicted)
        logger.info("Correlation:\tPearson: %.4f\tSpearman: %.4f", correlation_pearson, correlation_spearman)
        if output_path is not None and self.write_csv:
            row = [epoch, steps, correlation_pearson, correlation_spearman]
            append_csv_row(output_path, self.csv_file, self.csv_headers, row)
        metrics = self.prefix_name_to_metrics(
            {"pearson": correlation_pearson, "spearman": correlation_spearman}, self.name
        )
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics


CECorrelationEvaluator = CrossEncoderCorrelationEvaluator
