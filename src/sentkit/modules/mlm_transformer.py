"""MLMTransformer: a masked language model, texts -> vocabulary logits per token (for SPLADE)."""

from __future__ import annotations

from typing import ClassVar

from sentkit.modules.base import Features
from sentkit.modules.registry import register
from sentkit.modules.task_transformer import TaskTransformer


# Older sparse folders name the class MLMTransformer; sentence-transformers 6 saves a Transformer
# with transformer_task "fill-mask", which the encoders map here as well.
@register("mlm_transformer", reference=("MLMTransformer",))
class MLMTransformer(TaskTransformer):
    """Run a ``*ForMaskedLM`` model: texts -> ``token_embeddings`` holding the MLM logits (B, T, V).

    V is the vocabulary size, which :meth:`get_embedding_dimension` reports. Followed by
    :class:`~sentkit.modules.splade_pooling.SpladePooling` it makes a SPLADE sparse encoder.
    Takes the arguments of :class:`~sentkit.modules.transformer.Transformer`.
    """

    transformer_task: ClassVar[str] = "fill-mask"
    auto_model_class: ClassVar[str] = "AutoModelForMaskedLM"
    architecture_suffix: ClassVar[str] = "ForMaskedLM"
    output_name: ClassVar[str] = "token_embeddings"

    def get_embedding_dimension(self) -> int:
        return int(self.model.config.vocab_size)

    def forward(self, features: Features) -> Features:
        features["token_embeddings"] = self._logits(features)  # (B, T, V)
        return features
