"""TripletEvaluator: how often an anchor is more similar to its positive than to its negative."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sentkit.errors import InputError
from sentkit.similarity import SIMILARITY_FUNCTIONS
from sentkit.train.evaluation.base import (
    SentenceEvaluator,
    append_csv_row,
    check_same_length,
    encode_function,
    progress_text,
    similarity_names,
)

logger = logging.getLogger(__name__)

_FUNCTION_NAMES = ("cosine", "dot", "manhattan", "euclidean")


class TripletEvaluator(SentenceEvaluator):
    """Accuracy of ``similarity(anchor, positive) > similarity(anchor, negative) + margin``.

    Anchors are encoded with ``encode_query``, positives and negatives with ``encode_document``.

    Args:
        anchors, positives, negatives: the (N,) texts of each triplet.
        main_similarity_function: the similarity of the primary metric.
        margin: a number for every similarity, or ``{name: margin}`` (others 0); default 0.
        name: data set name, prefixed to the metric keys.
        batch_size, show_progress_bar, truncate_dim: encoding options.
        write_csv: append a row to ``triplet_evaluation[_name]_results.csv``.
        similarity_fn_names: the similarities to report (default ``[main]`` or the model's).
        main_distance_function: the former name of ``main_similarity_function``.

    Returns (when called): ``{"<fn>_accuracy": ...}``, plus ``max_accuracy`` with several;
    primary metric ``<main>_accuracy`` (or ``max_accuracy``).

    Raises:
        InputError: inputs of different lengths, unknown similarity names or margin keys.
    """

    def __init__(
        self,
        anchors: Sequence[str],
        positives: Sequence[str],
        negatives: Sequence[str],
        main_similarity_function: Any = None,
        margin: float | Mapping[str, float] | None = None,
        name: str = "",
        batch_size: int = 16,
        show_progress_bar: bool | None = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: Sequence[str] | None = None,
        main_distance_function: Any = "deprecated",
    ) -> None:
        super().__init__()
        check_same_length(anchors=anchors, positives=positives, negatives=negatives)
        self.anchors, self.positives, self.negatives = list(anchors), list(positives), list(negatives)
        self.name, self.truncate_dim, self.batch_size, self.write_csv = name, truncate_dim, batch_size, write_csv
        if main_distance_function != "deprecated" and main_similarity_function is None:
            logger.warning("main_distance_function is deprecated; use main_similarity_function.")
            main_similarity_function = main_distance_function
        self.main_similarity_function = (
            similarity_names(None, main_similarity_function)[0] if main_similarity_function else None
        )
        self.similarity_fn_names = similarity_names(similarity_fn_names, self.main_similarity_function)
        self.margin = _margins(margin)
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        self.show_progress_bar = show_progress_bar
        self.csv_file = "triplet_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._add_csv_headers(self.similarity_fn_names)

    def _add_csv_headers(self, names: Sequence[str]) -> None:
        self.csv_headers += [f"accuracy_{fn_name}" for fn_name in names]

    @classmethod
    def from_input_examples(cls, examples: Sequence[Any], **kwargs: Any) -> TripletEvaluator:
        """Build from objects with ``texts`` = (anchor, positive, negative)."""
        anchors, positives, negatives = ([example.texts[i] for example in examples] for i in range(3))
        return cls(anchors, positives, negatives, **kwargs)

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        logger.info(
            "TripletEvaluator: Evaluating the model on the %s dataset%s:",
            self.name,
            progress_text(epoch, steps, self.truncate_dim),
        )
        anchors = self.embed_inputs(model, self.anchors, encode_fn_name="query")
        positives = self.embed_inputs(model, self.positives, encode_fn_name="document")
        negatives = self.embed_inputs(model, self.negatives, encode_fn_name="document")
        if not self.similarity_fn_names:
            self.similarity_fn_names = [model.similarity_fn_name]
            self._add_csv_headers(self.similarity_fn_names)
        metrics: dict[str, Any] = {}
        for fn_name in self.similarity_fn_names:
            pairwise = SIMILARITY_FUNCTIONS[fn_name][1]
            positive_scores, negative_scores = pairwise(anchors, positives), pairwise(anchors, negatives)  # (N,)
            metrics[f"{fn_name}_accuracy"] = (
                (positive_scores > negative_scores + self.margin[fn_name]).float().mean().item()
            )
            logger.info("Accuracy %s Similarity:\t%.2f%%", fn_name.capitalize(), metrics[f"{fn_name}_accuracy"] * 100)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *metrics.values()])
        if len(self.similarity_fn_names) > 1:
            metrics["max_accuracy"] = max(metrics.values())
        if self.main_similarity_function:
            self.primary_metric = f"{self.main_similarity_function}_accuracy"
        elif len(self.similarity_fn_names) > 1:
            self.primary_metric = "max_accuracy"
        else:
            self.primary_metric = f"{self.similarity_fn_names[0]}_accuracy"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def embed_inputs(
        self, model: Any, sentences: Sequence[str], encode_fn_name: str | None = None, **kwargs: Any
    ) -> np.ndarray:
        """(N, D) numpy embeddings; ``encode_fn_name`` "query" / "document" picks the role's encode."""
        return encode_function(model, encode_fn_name)(
            list(sentences),
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            truncate_dim=self.truncate_dim,
            **kwargs,
        )

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if any(self.margin.values()):
            config["margin"] = self.margin
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config


def _margins(margin: float | Mapping[str, float] | None) -> dict[str, float]:
    """The margin of each similarity name.

    Raises:
        InputError: a mapping with unknown names, or a margin that is neither a number nor a mapping.
    """
    if margin is None:
        return dict.fromkeys(_FUNCTION_NAMES, 0.0)
    if isinstance(margin, int | float):
        return dict.fromkeys(_FUNCTION_NAMES, float(margin))
    if isinstance(margin, Mapping):
        unknown = sorted(set(margin) - set(_FUNCTION_NAMES))
        if unknown:
            raise InputError(f"margin has unknown keys {unknown}; use keys among {list(_FUNCTION_NAMES)}.")
        return {**dict.fromkeys(_FUNCTION_NAMES, 0.0), **{key: float(value) for key, value in margin.items()}}
    raise InputError(
        f"margin must be a number or a mapping of similarity names to numbers, got {type(margin).__name__}."
    )
