"""A BERT encoder in plain torch, loaded from the model folder without ``transformers``.

Importing ``transformers`` and building its model classes is most of a cold start (it pulls in
``torch.distributed.tensor``, ``torch._dynamo`` and sympy); for the BERT family, which most
sentence-embedding models use, this module gives the same forward pass from ``config.json`` and
``model.safetensors`` alone. Parameter names equal those of ``transformers.BertModel``, so the
state dict is interchangeable: :meth:`sentkit.models.Transformer.auto_model` swaps in the
``transformers`` model, sharing these very parameters, whenever the full Hugging Face API is
needed (saving, training, ONNX export).

Only configurations whose forward pass this module reproduces exactly are accepted
(:func:`bert_settings`); anything else loads through ``transformers`` as before. Inference only:
there is no dropout, so training always runs on the ``transformers`` model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

WEIGHTS_FILE = "model.safetensors"
# The checkpoint prefixes under which transformers finds BertModel's weights (BertForMaskedLM,
# BertForPreTraining ... save them under "bert.").
_PREFIXES = ("", "bert.")
# Buffers older transformers versions saved with the weights; they hold nothing to load.
_SAVED_BUFFERS = frozenset({"embeddings.position_ids", "embeddings.token_type_ids"})


@dataclass(frozen=True)
class BertSettings:
    """The parts of a BERT ``config.json`` the forward pass depends on (read by sentkit too, as ``.config``)."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int | None
    output_hidden_states: bool = False
    model_type: str = "bert"


def bert_settings(config: dict[str, Any]) -> BertSettings | None:
    """The settings of a ``config.json`` this module runs exactly like ``transformers``, else None."""
    supported = (
        config.get("model_type") == "bert"
        and config.get("hidden_act", "gelu") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and not config.get("is_decoder", False)
        and not config.get("add_cross_attention", False)
        and config.get("torch_dtype", config.get("dtype", "float32")) in (None, "float32")
        and not config.get("quantization_config")
    )
    if not supported:
        return None
    try:
        settings = BertSettings(
            vocab_size=int(config["vocab_size"]),
            hidden_size=int(config["hidden_size"]),
            num_hidden_layers=int(config["num_hidden_layers"]),
            num_attention_heads=int(config["num_attention_heads"]),
            intermediate_size=int(config["intermediate_size"]),
            max_position_embeddings=int(config.get("max_position_embeddings", 512)),
            type_vocab_size=int(config.get("type_vocab_size", 2)),
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
            pad_token_id=config.get("pad_token_id", 0),
            output_hidden_states=bool(config.get("output_hidden_states", False)),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return settings if settings.hidden_size % settings.num_attention_heads == 0 else None


class BertOutput(NamedTuple):
    """What sentkit reads from a Hugging Face encoder's output."""

    last_hidden_state: Tensor  # (B, T, D)
    hidden_states: tuple[Tensor, ...] | None = None  # embeddings, then every layer


class _Embeddings(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(settings.vocab_size, settings.hidden_size)
        self.position_embeddings = nn.Embedding(settings.max_position_embeddings, settings.hidden_size)
        self.token_type_embeddings = nn.Embedding(settings.type_vocab_size, settings.hidden_size)
        self.LayerNorm = nn.LayerNorm(settings.hidden_size, eps=settings.layer_norm_eps)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(embeddings + self.position_embeddings(positions))


class _Dense(nn.Module):
    """A linear layer followed by a residual LayerNorm (BERT's SelfOutput and Output)."""

    def __init__(self, inputs: int, settings: BertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(inputs, settings.hidden_size)
        self.LayerNorm = nn.LayerNorm(settings.hidden_size, eps=settings.layer_norm_eps)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(hidden) + residual)


class _SelfAttention(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.heads = settings.num_attention_heads
        self.query = nn.Linear(settings.hidden_size, settings.hidden_size)
        self.key = nn.Linear(settings.hidden_size, settings.hidden_size)
        self.value = nn.Linear(settings.hidden_size, settings.hidden_size)

    def forward(self, hidden: Tensor, mask: Tensor | None) -> Tensor:
        batch, length, width = hidden.shape

        def split(projection: nn.Linear) -> Tensor:  # (B, H, T, D/H)
            return projection(hidden).view(batch, length, self.heads, -1).transpose(1, 2)

        context = nn.functional.scaled_dot_product_attention(
            split(self.query), split(self.key), split(self.value), attn_mask=mask
        )
        return context.transpose(1, 2).reshape(batch, length, width)


class _Attention(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.self = _SelfAttention(settings)
        self.output = _Dense(settings.hidden_size, settings)


class _Intermediate(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(settings.hidden_size, settings.intermediate_size)


class _Layer(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.attention = _Attention(settings)
        self.intermediate = _Intermediate(settings)
        self.output = _Dense(settings.intermediate_size, settings)

    def forward(self, hidden: Tensor, mask: Tensor | None) -> Tensor:
        attended = self.attention.output(self.attention.self(hidden, mask), hidden)
        expanded = nn.functional.gelu(self.intermediate.dense(attended))
        return self.output(expanded, attended)


class _Encoder(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(settings) for _ in range(settings.num_hidden_layers))


class _Pooler(nn.Module):
    """Kept only so that the state dict matches ``transformers.BertModel``; sentkit never runs it."""

    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(settings.hidden_size, settings.hidden_size)


class NativeBertModel(nn.Module):
    """``transformers.BertModel``'s encoder forward pass (eval mode), with the same parameter names."""

    def __init__(self, settings: BertSettings, pooler: bool = True) -> None:
        super().__init__()
        self.config = settings
        self.embeddings = _Embeddings(settings)
        self.encoder = _Encoder(settings)
        self.pooler = _Pooler(settings) if pooler else None

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
        return_dict: bool = True,  # accepted as transformers models do; the output is always a BertOutput
    ) -> BertOutput:
        hidden = self.embeddings(input_ids, token_type_ids)  # (B, T, D)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): keys each query may attend
        states = [hidden]
        for layer in self.encoder.layer:
            hidden = layer(hidden, mask)
            states.append(hidden)
        return BertOutput(hidden, tuple(states) if output_hidden_states else None)

    @classmethod
    def supports(cls, folder: Path) -> bool:
        """Whether ``folder`` holds a configuration this module runs (reads config.json only)."""
        return _folder_settings(folder) is not None

    @classmethod
    def load(cls, folder: Path) -> NativeBertModel | None:
        """The model in ``folder`` when its config and weights are ones this module runs exactly, else None.

        None means "load it with transformers", which then reports any problem with the files.
        """
        settings = _folder_settings(folder)
        if settings is None:
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            weights = load_file(folder / WEIGHTS_FILE)
        except (OSError, SafetensorError):
            return None
        for prefix in _PREFIXES:
            model = cls(settings, pooler=f"{prefix}pooler.dense.weight" in weights)
            wanted = model.state_dict()
            found = {name: weights.get(prefix + name) for name in wanted}
            # Weights of the encoder that the config has no place for (more layers ...): transformers
            # loading reports those, so this module declines.
            extra = [
                name
                for name in weights
                if name.startswith(prefix)
                and name[len(prefix) :].split(".", 1)[0] in ("embeddings", "encoder")
                and name[len(prefix) :] not in wanted
                and name[len(prefix) :] not in _SAVED_BUFFERS
            ]
            if not extra and all(
                tensor is not None and tensor.shape == wanted[name].shape and tensor.dtype == torch.float32
                for name, tensor in found.items()
            ):
                model.load_state_dict(found, strict=True)
                return model.eval()
        return None


def _folder_settings(folder: Path) -> BertSettings | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or not (folder / WEIGHTS_FILE).is_file():
        return None
    return bert_settings(config)
