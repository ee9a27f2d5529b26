"""TaskTransformer: a Hugging Face model with a task head (masked LM, sequence classification).

sentence-transformers 6 saves such a model as its plain ``Transformer`` with a ``transformer_task``
key in ``sentence_bert_config.json`` (``"fill-mask"`` for SPLADE, ``"sequence-classification"`` for
cross encoders). The subclasses here load the matching ``AutoModelFor...`` class and write that key
back, so folders move both ways. Tokenization, truncation and ``max_seq_length`` are the
:class:`~sentkit.modules.transformer.Transformer`'s.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import torch

from sentkit.modules.transformer import Transformer, raise_on_weight_mismatch

logger = logging.getLogger(__name__)

# The on-disk type the reference reads for every Transformer, whatever its task.
REFERENCE_TRANSFORMER_TYPE = "sentence_transformers.models.Transformer"


class TaskTransformer(Transformer):
    """A :class:`Transformer` whose Hugging Face model carries a task head.

    Subclasses set ``transformer_task`` (the reference's name for it), ``auto_model_class`` (the
    ``transformers`` auto class that loads it), ``architecture_suffix`` (how the checkpoint's
    ``architectures`` entry ends when it already has this head) and implement ``forward``.
    The constructor takes the same arguments as :class:`Transformer`.

    Raises:
        ModelNotFoundError: the model cannot be found.
        ModelFormatError: missing or corrupt files, or weights that do not fit the config.
    """

    transformer_task: ClassVar[str] = ""
    auto_model_class: ClassVar[str] = ""
    architecture_suffix: ClassVar[str] = ""
    output_name: ClassVar[str] = ""
    reference_type: ClassVar[str] = REFERENCE_TRANSFORMER_TYPE
    config_keys: ClassVar[tuple[str, ...]] = (
        "max_seq_length",
        "do_lower_case",
        "transformer_task",
        "modality_config",
        "module_output_name",
    )

    def __init__(self, model_name_or_path: str | Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(model_name_or_path, *args, **kwargs)
        self.output_hidden_states = False  # the head's logits are the output; no module reads every layer

    # ------------------------------------------------------------------------------- config
    @property
    def modality_config(self) -> dict[str, dict[str, str]]:
        """What the reference calls on the model and reads from its output (saved for it)."""
        return {"text": {"method": "forward", "method_output_name": "logits"}}

    @property
    def module_output_name(self) -> str:
        return self.output_name

    # ------------------------------------------------------------------------------ forward
    def _logits(self, features: dict[str, Any]) -> torch.Tensor:
        """The head's logits for a tokenized batch: (B, num_labels) or (B, T, V)."""
        return self.model(**self._model_inputs(features), return_dict=True).logits

    # ------------------------------------------------------------------------------ loading
    def model_loader(self, config: Any) -> Any:
        import transformers

        return getattr(transformers, self.auto_model_class)

    def check_loading_info(self, model: Any, folder: Path, info: dict[str, Any]) -> None:
        """Refuse weights that do not fit; allow a new head only on a checkpoint that has none yet.

        A checkpoint saved with this head must provide every weight: a missing one would be filled
        with random values. A checkpoint without it (a base or other-task model) gets a freshly
        initialised head, as in the reference, and a warning: its scores mean nothing until trained.
        """
        architectures = [str(name) for name in getattr(model.config, "architectures", None) or []]
        has_head = any(name.endswith(self.architecture_suffix) for name in architectures)
        missing = sorted(info.get("missing_keys", ()))
        raise_on_weight_mismatch(model, folder, info, missing if has_head else [], self.auto_model_class)
        if missing and not has_head:
            logger.warning(
                "%s has no %s head; these weights are newly initialised: %s. Its outputs are random until trained.",
                folder,
                self.auto_model_class,
                missing[:10],
            )
