"""The seam between an encoder and the engine that runs its pipeline (torch or ONNX Runtime).

An engine takes the texts of one ``encode`` call and the :class:`EncodeOptions`, batches them
(:mod:`sentkit.inference.batching`) and returns, for ``output_value="sentence_embedding"``, one
(N, D) float array or tensor in input order; for the other output values, one item per text.
Tests can hand an encoder a fake engine with the same ``run`` method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sentkit.errors import NumericalError


@dataclass(frozen=True)
class EncodeOptions:
    """What one ``encode`` call asks of the engine (already validated by the encoder)."""

    prompt: str | None = None
    task: str | None = None
    batch_size: int = 32
    max_batch_tokens: int | None = None
    show_progress_bar: bool = False
    output_value: str | None = "sentence_embedding"
    truncate_dim: int | None = None
    normalize: bool = False


class Engine(Protocol):
    def run(self, texts: list[str], options: EncodeOptions) -> Any:
        """Embed ``texts``: (N, D) for sentence embeddings, else one item per text, in input order."""
        ...


def raise_non_finite(indices: list[int]) -> None:
    """Raise :class:`NumericalError` naming the inputs whose outputs hold NaN or inf (if any)."""
    if indices:
        raise NumericalError(
            f"The model produced NaN or inf for the inputs at indices {sorted(indices)}. "
            "Check the model weights and dtype (fp16 can overflow)."
        )
