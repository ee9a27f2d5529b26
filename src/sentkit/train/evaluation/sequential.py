"""SequentialEvaluator: run several evaluators one after the other and merge their metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sentkit.train.evaluation.base import SentenceEvaluator


def _last(scores: list[float]) -> float:
    return scores[-1]


class SequentialEvaluator(SentenceEvaluator):
    """Call each evaluator in turn; merge their metric dicts and add ``sequential_score``.

    Args:
        evaluators: the evaluators to run.
        main_score_function: maps the list of each evaluator's primary score to the
            ``sequential_score`` (default: the last one).

    Returns (when called): every sub-evaluator's metrics (an evaluator that returns a bare
    number appears as ``evaluator_<index>``) and ``sequential_score``, the primary metric.
    """

    def __init__(self, evaluators: Iterable[Any], main_score_function: Callable[[list[float]], float] = _last) -> None:
        super().__init__()
        self.evaluators = list(evaluators)
        self.main_score_function = main_score_function

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        merged: dict[str, Any] = {}
        primary_scores: list[float] = []
        for index, evaluator in enumerate(self.evaluators):
            result = evaluator(model, output_path, epoch, steps)
            if not isinstance(result, dict):
                primary_scores.append(result)
                result = {f"evaluator_{index}": result}
            else:
                key = getattr(evaluator, "primary_metric", None) or next(iter(result))
                primary_scores.append(result[key])
            merged.update(result)
        self.primary_metric = "sequential_score"
        merged["sequential_score"] = self.main_score_function(primary_scores) if primary_scores else 0.0
        return merged
