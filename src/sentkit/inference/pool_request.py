"""One ``encode`` call through a pool: the arguments checked here, the answers put back together.

The workers run ``encode`` on their chunks with ``precision="float32"`` and return tensors; this
module applies what single-process ``encode`` does to the whole output (quantization with ranges
over all embeddings, the numpy / tensor / list conversion, unwrapping a single text), so the pool
returns what ``encode`` returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from sentkit.inference.inputs import as_text_list, check_contentless, split_task_inputs
from sentkit.inference.precision import quantize_embeddings
from sentkit.modules import Router

# Options the parent handles itself; everything else goes to the workers' encode unchanged.
_PARENT_OPTIONS = ("precision", "convert_to_numpy", "convert_to_tensor", "show_progress_bar")


@dataclass
class PoolRequest:
    """The texts of one pooled ``encode`` call and how to shape its answer."""

    texts: list[str]
    is_single: bool
    worker_kwargs: dict[str, Any]
    parent_kwargs: dict[str, Any]
    progress: bool

    @classmethod
    def build(cls, model: Any, sentences: Any, kwargs: dict[str, Any]) -> PoolRequest:
        """Check the arguments exactly as ``model.encode`` does (same errors) and split them.

        Raises:
            InputError, InputTypeError: whatever ``model.encode`` raises for these arguments.
        """
        kwargs = {key: value for key, value in kwargs.items() if key != "device"}
        if sentences is None and "inputs" in kwargs:
            sentences = kwargs.pop("inputs")
        model.encode([], **kwargs)  # argument checks only: an empty call returns before any work
        parent = {key: kwargs.pop(key) for key in _PARENT_OPTIONS if key in kwargs}
        if isinstance(model, torch.nn.Sequential) and any(isinstance(module, Router) for module in model):
            sentences, kwargs["task"] = split_task_inputs(sentences, kwargs.get("task"))
        texts, is_single = as_text_list(sentences, getattr(model, "modalities", ("text",)))
        check_contentless(texts, kwargs.pop("empty", "warn"))  # once here, not per chunk
        progress = parent.get("show_progress_bar")
        if progress is None:
            progress = logging.getLogger("sentkit").getEffectiveLevel() <= logging.INFO
        workers = {**kwargs, "show_progress_bar": False, "precision": "float32", "empty": "keep"}
        if kwargs.get("output_value", "sentence_embedding") == "sentence_embedding":
            workers.update(convert_to_numpy=False, convert_to_tensor=True)
        return cls(texts, is_single, workers, {**kwargs, **parent}, bool(progress))

    def local_kwargs(self) -> dict[str, Any]:
        """The arguments for a plain ``encode`` call in this process (used for an empty input)."""
        return dict(self.parent_kwargs)

    def assemble(self, parts: list[Any]) -> Any:
        """Join the workers' answers (one per chunk, in order) into what ``encode`` returns."""
        if self.worker_kwargs.get("output_value", "sentence_embedding") != "sentence_embedding":
            outputs = [item for part in parts for item in part]
            return outputs[0] if self.is_single else outputs
        convert_to_tensor = bool(self.parent_kwargs.get("convert_to_tensor", False))
        convert_to_numpy = bool(self.parent_kwargs.get("convert_to_numpy", True)) and not convert_to_tensor
        precision = self.parent_kwargs.get("precision", "float32")
        embeddings = torch.cat(parts)  # (N, D)
        result: Any = embeddings
        if precision != "float32":
            result = torch.from_numpy(quantize_embeddings(embeddings, precision))
        if convert_to_numpy:
            result = result.float().numpy() if result.dtype == torch.bfloat16 else result.numpy()
        elif not convert_to_tensor:
            result = list(result)
        return result[0] if self.is_single else result
