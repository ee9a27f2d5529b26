"""MSEEvaluator: mean squared error between a teacher's embeddings and the student's (distillation)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from sentkit.errors import InputError
from sentkit.train.evaluation.base import SentenceEvaluator, append_csv_row, progress_text

logger = logging.getLogger(__name__)


class MSEEvaluator(SentenceEvaluator):
    """MSE (x 100) between the teacher's embeddings of ``source_sentences`` (computed once, here)
    and the evaluated model's embeddings of ``target_sentences``.

    Args:
        source_sentences: (N,) texts for the teacher.
        target_sentences: (N,) texts for the student (e.g. translations of the sources).
        teacher_model: a model with ``encode``.
        show_progress_bar, batch_size, truncate_dim: encoding options.
        name: data set name, prefixed to the metric keys.
        write_csv: append a row to ``mse_evaluation_<name>_results.csv``.

    Returns (when called): ``{"negative_mse": -MSE x 100}`` (higher is better), the primary metric.

    Raises:
        InputError: sources and targets of different lengths.
    """

    def __init__(
        self,
        source_sentences: Sequence[str],
        target_sentences: Sequence[str],
        teacher_model: Any = None,
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        if len(source_sentences) != len(target_sentences):
            raise InputError(
                f"source_sentences ({len(source_sentences)}) and target_sentences ({len(target_sentences)}) "
                "must have the same length."
            )
        self.truncate_dim, self.show_progress_bar, self.batch_size = truncate_dim, show_progress_bar, batch_size
        self.target_sentences = list(target_sentences)
        self.name, self.write_csv = name, write_csv
        self.csv_file = f"mse_evaluation_{name}_results.csv"
        self.csv_headers = ["epoch", "steps", "MSE"]
        self.primary_metric = "negative_mse"
        self.source_embeddings = self.embed_inputs(teacher_model, source_sentences)  # (N, D)

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        target_embeddings = self.embed_inputs(model, self.target_sentences)  # (N, D)
        mse = float((((self.source_embeddings - target_embeddings) ** 2).mean() * 100).item())
        logger.info(
            "MSE evaluation (lower = better) on the %s dataset%s: MSE (*100): %f",
            self.name,
            progress_text(epoch, steps, self.truncate_dim),
            mse,
        )
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, mse])
        metrics = self.prefix_name_to_metrics({"negative_mse": -mse}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

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

    @property
    def description(self) -> str:
        return "Knowledge Distillation"

    def get_config_dict(self) -> dict[str, Any]:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}
