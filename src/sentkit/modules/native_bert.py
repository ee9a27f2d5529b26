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

Lower precision (``model_kwargs={"torch_dtype": torch.bfloat16}``): the weights of the linear
layers and embeddings are held in bfloat16 (or float16), as transformers holds them, and the
matrix products and attention run in that type (oneDNN's AMX or AVX-512-BF16 kernels where the
CPU has them, with weights packed once: :mod:`sentkit.modules.packed_linear`), while the
residual stream, embedding sums and layer norms (weights included) stay float32. That makes
sentkit's bfloat16 path closer to float32 than transformers' all-bfloat16 one (see
:meth:`NativeBertModel.load`). The hidden states come out in the weights' type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn
from torch.nn import functional

from sentkit._cpu import attention_key_block
from sentkit.modules.packed_linear import PackedLinear, WeightPacking, packed_linear, products_dtype

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


_DTYPES = {
    "auto": torch.float32,  # the config's type, which is float32 for every folder this module runs
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    torch.float32: torch.float32,
    torch.bfloat16: torch.bfloat16,
    torch.float16: torch.float16,
}


def native_dtype(model_kwargs: dict[str, Any]) -> torch.dtype | None:
    """The weights' type this module runs for transformers' ``model_kwargs``, or None when it cannot.

    It can when ``model_kwargs`` only choose a type (``torch_dtype`` or ``dtype``: float32,
    bfloat16, float16 or "auto", as a string or a ``torch.dtype``), or nothing at all.
    """
    if set(model_kwargs) - {"torch_dtype", "dtype"}:
        return None
    requested = [value for value in model_kwargs.values() if value is not None]
    if not requested:
        return torch.float32
    dtypes = {_DTYPES.get(value) if isinstance(value, str | torch.dtype) else None for value in requested}
    return dtypes.pop() if len(dtypes) == 1 and None not in dtypes else None


class BertOutput(NamedTuple):
    """What sentkit reads from a Hugging Face encoder's output."""

    last_hidden_state: Tensor  # (B, T, D)
    hidden_states: tuple[Tensor, ...] | None = None  # embeddings, then every layer


def _layer_norm(norm: nn.LayerNorm, hidden: Tensor) -> Tensor:
    """``norm(hidden)`` in the dtype of ``hidden`` (float32 also for low-precision weights)."""
    weight, bias = norm.weight.to(hidden.dtype), norm.bias.to(hidden.dtype)
    return functional.layer_norm(hidden, norm.normalized_shape, weight, bias, norm.eps)


class _Embeddings(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(settings.vocab_size, settings.hidden_size)
        self.position_embeddings = nn.Embedding(settings.max_position_embeddings, settings.hidden_size)
        self.token_type_embeddings = nn.Embedding(settings.type_vocab_size, settings.hidden_size)
        self.LayerNorm = nn.LayerNorm(settings.hidden_size, eps=settings.layer_norm_eps)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        """(B, T) ids -> (B, T, D) float32 embeddings."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        words = self.word_embeddings(input_ids).float()
        embeddings = words + self.token_type_embeddings(token_type_ids).float()
        return _layer_norm(self.LayerNorm, embeddings + self.position_embeddings(positions).float())


class _Dense(nn.Module):
    """A linear layer followed by a residual LayerNorm (BERT's SelfOutput and Output)."""

    def __init__(self, inputs: int, settings: BertSettings) -> None:
        super().__init__()
        self.dense = PackedLinear(inputs, settings.hidden_size)
        self.LayerNorm = nn.LayerNorm(settings.hidden_size, eps=settings.layer_norm_eps)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        return _layer_norm(self.LayerNorm, self.dense(hidden).to(residual.dtype) + residual)


class _SelfAttention(nn.Module):
    compute_dtype: torch.dtype | None = None  # as PackedLinear's: the type of the packed products

    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.heads = settings.num_attention_heads
        self.query = PackedLinear(settings.hidden_size, settings.hidden_size)
        self.key = PackedLinear(settings.hidden_size, settings.hidden_size)
        self.value = PackedLinear(settings.hidden_size, settings.hidden_size)
        self.packing = WeightPacking()  # query, key and value packed as one matrix

    def forward(self, hidden: Tensor, mask: Tensor | None) -> Tensor:
        """(B, T, D) hidden states -> (B, T, D) attention context in the weights' dtype.

        ``mask`` (B, 1, 1, T') says which keys each query may attend; T' may exceed T (see
        :func:`_attention_mask`), the keys beyond T being zeros that the mask hides.
        """
        batch, length, width = hidden.shape
        packed = self.packing.packed((self.query, self.key, self.value), self.compute_dtype)
        if packed is not None:
            projected = packed_linear(hidden, packed).view(batch, length, 3, self.heads, -1)  # (B, T, 3, H, D/H)
            queries, keys, values = (part.transpose(1, 2) for part in projected.unbind(2))  # (B, H, T, D/H)
        else:
            queries, keys, values = (
                projection(hidden).view(batch, length, self.heads, -1).transpose(1, 2)
                for projection in (self.query, self.key, self.value)
            )
        if mask is not None and mask.shape[-1] > length:
            extra = (0, 0, 0, mask.shape[-1] - length)
            keys, values = functional.pad(keys, extra), functional.pad(values, extra)  # (B, H, T', D/H)
        context = functional.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
        return context.transpose(1, 2).reshape(batch, length, width)


class _Attention(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.self = _SelfAttention(settings)
        self.output = _Dense(settings.hidden_size, settings)


class _Intermediate(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.dense = PackedLinear(settings.hidden_size, settings.intermediate_size)


class _Layer(nn.Module):
    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.attention = _Attention(settings)
        self.intermediate = _Intermediate(settings)
        self.output = _Dense(settings.intermediate_size, settings)

    def forward(self, hidden: Tensor, mask: Tensor | None) -> Tensor:
        attended = self.attention.output(self.attention.self(hidden, mask), hidden)
        expanded = self.intermediate.dense(attended, activation="gelu")
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
        dtype = self.embeddings.word_embeddings.weight.dtype
        hidden = self.embeddings(input_ids, token_type_ids)  # (B, T, D) float32
        mask = _attention_mask(attention_mask, input_ids, padded_keys=self._low_precision_products())
        states = [hidden]
        for layer in self.encoder.layer:
            hidden = layer(hidden, mask)
            states.append(hidden)
        hidden_states = tuple(state.to(dtype) for state in states) if output_hidden_states else None
        return BertOutput(hidden.to(dtype), hidden_states)

    def set_compute_dtype(self, dtype: torch.dtype | None) -> None:
        """Run the matrix products and attention in ``dtype`` (bfloat16, float16) on packed copies of the
        weights, where the CPU's oneDNN has that type; the weights themselves stay as they are (None:
        products in the weights' own type)."""
        for module in self.modules():
            if isinstance(module, PackedLinear | _SelfAttention):
                module.compute_dtype = dtype
                module.packing = WeightPacking()  # copies packed for the previous type go

    def _low_precision_products(self) -> bool:
        """Whether the products run packed in a low-precision type (every layer runs like the first)."""
        if not len(self.encoder.layer):
            return False
        dense = cast(_Layer, self.encoder.layer[0]).intermediate.dense
        return products_dtype(dense, dense.compute_dtype) is not None

    def set_weight_dtype(self, dtype: torch.dtype) -> None:
        """Hold the weights of the linear layers and embeddings in ``dtype``; layer norms stay float32."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                module.to(dtype)

    @classmethod
    def supports(cls, folder: Path) -> bool:
        """Whether ``folder`` holds a configuration this module runs (reads config.json only)."""
        return _folder_settings(folder) is not None

    @classmethod
    def load(cls, folder: Path, dtype: torch.dtype = torch.float32) -> NativeBertModel | None:
        """The model in ``folder`` when its config and weights are ones this module runs exactly, else None.

        ``dtype`` is the type the weights of the linear layers and embeddings are held in (float32,
        bfloat16 or float16; the files hold float32). Layer norms keep float32 weights: rounding their
        scales to bfloat16 costs more accuracy than all the other weights together (lowest cosine to
        float32 on STS-B with all-MiniLM-L6-v2: 0.99989 with them rounded, 0.99994 without).
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
                model.set_weight_dtype(dtype)  # before loading, so the file's float32 values are rounded once
                model.load_state_dict(found, strict=True)
                return model.eval()
        return None


def _attention_mask(attention_mask: Tensor | None, input_ids: Tensor, padded_keys: bool) -> Tensor | None:
    """The (B, 1, 1, T') boolean mask of the keys each query may attend, or None when all may.

    With ``padded_keys`` on the CPU, T' is T rounded up to the attention kernel's block of keys
    (:func:`sentkit._cpu.attention_key_block`): torch's CPU attention runs the softmax of a
    partial block one key at a time, so 15 keys take about three times as long as 16. The extra
    keys are zeros that the mask hides. That pays when the products run in bfloat16, where
    attention is 14% of the time on short sentences (4% faster end to end); in float32 attention is
    5% and the gain is within noise, so float32 keeps T' = T and outputs equal to transformers' to
    the last bit.
    """
    length = input_ids.shape[1]
    block = attention_key_block() if padded_keys and input_ids.device.type == "cpu" else 1
    padded = -(-length // block) * block
    if padded == length and (attention_mask is None or bool(attention_mask.all())):
        return None
    keep = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    if padded > length:
        keep = functional.pad(keep, (0, padded - length))
    return keep[:, None, None, :]  # (B, 1, 1, T')


def _folder_settings(folder: Path) -> BertSettings | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or not (folder / WEIGHTS_FILE).is_file():
        return None
    return bert_settings(config)
