"""The exported graph in place of the torch modules' forward, for ``SentenceTransformer(backend="onnx")``.

The encoder keeps its own tokenization (prompts, ``max_seq_length`` and every setting behave as
on the torch backend); only the forward pass runs on ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sentkit.inference.onnx.cache import MODEL_FILE
from sentkit.inference.onnx.runtime import SessionRunner, create_session
from sentkit.io.integrity import verified


class OnnxForward:
    """``forward(features, output_value) -> features`` on an exported pipeline folder."""

    def __init__(
        self, folder: Path, threads: int | None = None, providers: list[str] | None = None, verify: bool = True
    ) -> None:
        self.folder = folder
        self.threads = threads
        self.providers = providers
        with verified(folder, verify):  # the cached export against the checksums written with it
            self.runner = SessionRunner(create_session(folder / MODEL_FILE, threads, providers))

    def __call__(self, features: dict[str, Any], output_value: str | None) -> dict[str, Any]:
        arrays = {name: value.cpu().numpy() for name, value in features.items() if isinstance(value, Tensor)}
        outputs = (
            ["sentence_embedding"]
            if output_value == "sentence_embedding"
            else ["sentence_embedding", "token_embeddings"]
        )
        values = self.runner(arrays, outputs)
        features = dict(features)
        for name, value in zip(outputs, values, strict=True):
            features[name] = torch.from_numpy(value)
        return features

    # An ONNX Runtime session cannot be pickled or copied: copies open their own (the files were
    # checked when this one opened).
    def __reduce__(self) -> tuple[Any, ...]:
        return (OnnxForward, (self.folder, self.threads, self.providers, False))

    def __deepcopy__(self, memo: dict[int, Any]) -> OnnxForward:
        return OnnxForward(self.folder, self.threads, self.providers, verify=False)
