"""ClassifierTransformer: a sequence-classification model, text pairs -> label logits (cross encoders)."""

from __future__ import annotations

from typing import Any, ClassVar

from sentkit.modules.base import Features
from sentkit.modules.registry import register
from sentkit.modules.task_transformer import TaskTransformer


# The reference has no class of this name: it saves a Transformer with transformer_task
# "sequence-classification", which the encoders map here.
@register("classifier_transformer")
class ClassifierTransformer(TaskTransformer):
    """Run a ``*ForSequenceClassification`` model: tokenized texts or pairs -> ``scores`` (B, num_labels).

    A checkpoint without a classification head (a base model) gets a new head with one label
    unless ``config_kwargs`` sets ``num_labels``, as in the reference; a warning says so.
    Takes the arguments of :class:`~sentkit.modules.transformer.Transformer`.
    """

    transformer_task: ClassVar[str] = "sequence-classification"
    auto_model_class: ClassVar[str] = "AutoModelForSequenceClassification"
    architecture_suffix: ClassVar[str] = "ForSequenceClassification"
    output_name: ClassVar[str] = "scores"

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    def prepare_config(self, config: Any, config_kwargs: dict[str, Any]) -> None:
        architectures = getattr(config, "architectures", None) or []
        has_head = any(str(name).endswith(self.architecture_suffix) for name in architectures)
        if not has_head and "num_labels" not in config_kwargs:
            config.num_labels = 1  # a new head scores relevance with one logit, as the reference's default

    def forward(self, features: Features) -> Features:
        features["scores"] = self._logits(features)  # (B, num_labels)
        return features
