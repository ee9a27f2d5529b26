"""TranslationEvaluator: does each source sentence find its own translation as nearest neighbour?"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sentkit.similarity import cos_sim
from sentkit.train.evaluation.base import SentenceEvaluator, append_csv_row, check_same_length, progress_text

logger = logging.getLogger(__name__)


class TranslationEvaluator(SentenceEvaluator):
    """Accuracy of matching source i to target i (and back) by the highest cosine similarity.

    A match to another copy of the same target text counts as correct.

    Args:
        source_sentences, target_sentences: (N,) parallel texts.
        show_progress_bar, batch_size, truncate_dim: encoding options.
        name: data set name, prefixed to the metric keys.
        print_wrong_matches: print the mismatches and their top-5 candidates.
        write_csv: append a row to ``translation_evaluation[_name]_results.csv``.

    Returns (when called): ``{"src2trg_accuracy", "trg2src_accuracy", "mean_accuracy"}``;
    primary metric ``mean_accuracy``.

    Raises:
        InputError: sources and targets of different lengths.
    """

    def __init__(
        self,
        source_sentences: Sequence[str],
        target_sentences: Sequence[str],
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        print_wrong_matches: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        check_same_length(source_sentences=source_sentences, target_sentences=target_sentences)
        self.source_sentences, self.target_sentences = list(source_sentences), list(target_sentences)
        self.name, self.batch_size, self.show_progress_bar = name, batch_size, show_progress_bar
        self.print_wrong_matches, self.truncate_dim, self.write_csv = print_wrong_matches, truncate_dim, write_csv
        self.csv_file = "translation_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "src2trg", "trg2src"]
        self.primary_metric = "mean_accuracy"

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        logger.info(
            "Evaluating translation matching Accuracy of the model on the %s dataset%s:",
            self.name,
            progress_text(epoch, steps, self.truncate_dim),
        )
        sources = torch.stack(list(self.embed_inputs(model, self.source_sentences)))  # (N, D)
        targets = torch.stack(list(self.embed_inputs(model, self.target_sentences)))  # (N, D)
        similarities = cos_sim(sources, targets).detach().cpu().numpy()  # (N, N)
        src2trg = self._accuracy(similarities, self.target_sentences, self.source_sentences, self.print_wrong_matches)
        trg2src = self._accuracy(similarities.T, self.source_sentences, self.target_sentences, False)
        logger.info("Accuracy src2trg: %.2f, trg2src: %.2f", src2trg * 100, trg2src * 100)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, src2trg, trg2src])
        metrics = {"src2trg_accuracy": src2trg, "trg2src_accuracy": trg2src, "mean_accuracy": (src2trg + trg2src) / 2}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @staticmethod
    def _accuracy(similarities: np.ndarray, candidates: list[str], queries: list[str], report: bool) -> float:
        """Share of rows whose best column holds the same text as the row's own column."""
        best = np.argmax(similarities, axis=1)  # (N,)
        correct = 0
        for row, column in enumerate(best):
            if candidates[row] == candidates[column]:
                correct += 1
            elif report:
                print(f"\nIncorrect: source {row} is most similar to target {column} instead of target {row}")
                print("Source     :", queries[row])
                print("Pred Target:", candidates[column], f"(Score: {similarities[row][column]:.4f})")
                print("True Target:", candidates[row], f"(Score: {similarities[row][row]:.4f})")
                for index in np.argsort(-similarities[row], kind="stable")[:5]:
                    print("\t", index, f"(Score: {similarities[row][index]:.4f})", candidates[index])
        return correct / len(similarities) if len(similarities) else 0.0

    def embed_inputs(self, model: Any, sentences: Sequence[str], **kwargs: Any) -> Any:
        """Per-text embedding tensors of ``sentences``."""
        return model.encode(
            list(sentences),
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=False,
            truncate_dim=self.truncate_dim,
            **kwargs,
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}
