"""EmbeddingSimilarityEvaluator: correlation of embedding similarities with gold pair scores (STS)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from sentkit.similarity import SIMILARITY_FUNCTIONS
from sentkit.train.evaluation.base import (
    SentenceEvaluator,
    append_csv_row,
    check_same_length,
    progress_text,
    similarity_names,
)
from sentkit.train.evaluation.metrics import pearson, spearman

logger = logging.getLogger(__name__)

_QUANTIZED = ("int8", "uint8", "binary", "ubinary")


class EmbeddingSimilarityEvaluator(SentenceEvaluator):
    """Pearson and Spearman correlation between gold scores and the similarity of each pair's embeddings.

    Args:
        sentences1, sentences2: the (N,) first and second texts of each pair.
        scores: (N,) gold similarity of each pair.
        batch_size: encoding batch size.
        main_similarity: the similarity whose Spearman is the primary metric ("cosine", "dot",
            "euclidean", "manhattan" or a ``SimilarityFunction``).
        similarity_fn_names: the similarities to report; default ``[main_similarity]``, or the
            model's ``similarity_fn_name`` at the first call.
        name: data set name, prefixed to the metric keys.
        show_progress_bar: show encoding progress.
        write_csv: append a row to ``similarity_evaluation[_name][_precision]_results.csv`` when
            called with an ``output_path``.
        precision: embed at this precision ("float32", "int8", "uint8", "binary", "ubinary");
            quantized embeddings are compared as floats (binary ones unpacked to bits).
        truncate_dim: truncate embeddings to this many dimensions (None: the model's setting).

    Returns (when called): ``{"pearson_cosine": ..., "spearman_cosine": ..., ...}`` for each
    similarity, plus ``pearson_max`` / ``spearman_max`` with several; primary metric
    ``spearman_<main>`` (or ``spearman_max``).

    Raises:
        InputError: inputs of different lengths, an unknown similarity name.
    """

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        scores: Sequence[float],
        batch_size: int = 16,
        main_similarity: Any = None,
        similarity_fn_names: Sequence[str] | None = None,
        name: str = "",
        show_progress_bar: bool | None = False,
        write_csv: bool = True,
        precision: str | None = None,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        check_same_length(sentences1=sentences1, sentences2=sentences2, scores=scores)
        self.sentences1, self.sentences2, self.scores = list(sentences1), list(sentences2), list(scores)
        self.batch_size = batch_size
        self.main_similarity = similarity_names(None, main_similarity)[0] if main_similarity else None
        self.similarity_fn_names = similarity_names(similarity_fn_names, self.main_similarity)
        self.name = name
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.precision = precision
        self.truncate_dim = truncate_dim
        self.csv_file = (
            "similarity_evaluation"
            + (f"_{name}" if name else "")
            + (f"_{precision}" if precision else "")
            + "_results.csv"
        )
        self.csv_headers = ["epoch", "steps"]
        self._add_csv_headers(self.similarity_fn_names)

    def _add_csv_headers(self, names: Sequence[str]) -> None:
        self.csv_headers += [f"{fn_name}_{metric}" for fn_name in names for metric in ("pearson", "spearman")]

    @classmethod
    def from_input_examples(cls, examples: Sequence[Any], **kwargs: Any) -> EmbeddingSimilarityEvaluator:
        """Build from objects with ``texts`` (two texts) and ``label`` (the gold score)."""
        first = [example.texts[0] for example in examples]
        second = [example.texts[1] for example in examples]
        return cls(first, second, [example.label for example in examples], **kwargs)

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        logger.info(
            "EmbeddingSimilarityEvaluator: Evaluating the model on the %s dataset%s:",
            self.name,
            progress_text(epoch, steps, self.truncate_dim),
        )
        embeddings1, embeddings2 = self._pair_embeddings(model)
        if not self.similarity_fn_names:
            self.similarity_fn_names = [model.similarity_fn_name]
            self._add_csv_headers(self.similarity_fn_names)
        metrics: dict[str, Any] = {}
        for fn_name in self.similarity_fn_names:
            similarities = SIMILARITY_FUNCTIONS[fn_name][1](embeddings1, embeddings2).detach().cpu().numpy()  # (N,)
            metrics[f"pearson_{fn_name}"] = pearson(self.scores, similarities)
            metrics[f"spearman_{fn_name}"] = spearman(self.scores, similarities)
            logger.info(
                "%s-Similarity:\tPearson: %.4f\tSpearman: %.4f",
                fn_name.capitalize(),
                metrics[f"pearson_{fn_name}"],
                metrics[f"spearman_{fn_name}"],
            )
        if output_path is not None and self.write_csv:
            values = [
                metrics[f"{metric}_{fn}"] for fn in self.similarity_fn_names for metric in ("pearson", "spearman")
            ]
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *values])
        if len(self.similarity_fn_names) > 1:
            metrics["pearson_max"] = max(metrics[f"pearson_{fn}"] for fn in self.similarity_fn_names)
            metrics["spearman_max"] = max(metrics[f"spearman_{fn}"] for fn in self.similarity_fn_names)
        if self.main_similarity:
            self.primary_metric = f"spearman_{self.main_similarity}"
        elif len(self.similarity_fn_names) > 1:
            self.primary_metric = "spearman_max"
        else:
            self.primary_metric = f"spearman_{self.similarity_fn_names[0]}"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _pair_embeddings(self, model: Any) -> tuple[np.ndarray, np.ndarray]:
        """(N, D) float embeddings of both sides; int8/uint8 calibrated on both sides together."""
        if self.precision in ("int8", "uint8"):
            both = self.embed_inputs(model, [*self.sentences1, *self.sentences2])
            first, second = both[: len(self.sentences1)], both[len(self.sentences1) :]
        else:
            first, second = self.embed_inputs(model, self.sentences1), self.embed_inputs(model, self.sentences2)
        if self.precision == "binary":  # packed int8 bits shifted by -128: back to unsigned bytes
            first, second = first.astype(np.int16) + 128, second.astype(np.int16) + 128
        if self.precision in ("binary", "ubinary"):
            first = np.unpackbits(first.astype(np.uint8), axis=1)  # (N, D)
            second = np.unpackbits(second.astype(np.uint8), axis=1)
        if self.precision in _QUANTIZED:
            first, second = first.astype(np.float32), second.astype(np.float32)
        return first, second

    def embed_inputs(self, model: Any, sentences: Sequence[str], **kwargs: Any) -> np.ndarray:
        """(N, D) numpy embeddings of ``sentences`` with this evaluator's settings."""
        options: dict[str, Any] = {"precision": self.precision} if self.precision else {}
        return model.encode(
            list(sentences),
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            normalize_embeddings=bool(self.precision),
            truncate_dim=self.truncate_dim,
            **options,
            **kwargs,
        )

    @property
    def description(self) -> str:
        return "Semantic Similarity"

    def get_config_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ("truncate_dim", "precision") if getattr(self, key) is not None}
