"""Pooling: token embeddings -> one sentence embedding (cls, max, mean, ... or several concatenated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from sentkit.errors import ConfigurationError
from sentkit.modules.base import Features, Module
from sentkit.modules.registry import register

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")

# The boolean flags of older configs and constructors, in the order their outputs are concatenated.
LEGACY_MODE_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def modes_from_flags(flags: dict[str, Any]) -> tuple[str, ...]:
    """The modes switched on by legacy ``pooling_mode_*`` flags; mean when none is."""
    modes = tuple(mode for flag, mode in LEGACY_MODE_FLAGS.items() if flags.get(flag))
    return modes or ("mean",)


@register("pooling", reference=("Pooling",))
class Pooling(Module):
    """Pool ``token_embeddings`` (B, T, D) into ``sentence_embedding`` (B, len(modes) * D).

    Args:
        embedding_dimension: size D of the token embeddings (older name: ``word_embedding_dimension``).
        pooling_mode: one of :data:`POOLING_MODES`, or a sequence of them whose outputs are
            concatenated in that order. Defaults to ``"mean"``.
        include_prompt: when False, prompt tokens (``features["prompt_length"]``) are left out.
        pooling_mode_*: the older boolean flags (``pooling_mode_mean_tokens=True``, ...); only the
            flags passed explicitly count, as in sentence-transformers 6.

    Raises:
        ConfigurationError: an unknown mode (the message lists the valid ones).
    """

    config_keys: ClassVar[tuple[str, ...]] = ("embedding_dimension", "pooling_mode", "include_prompt")
    legacy_config_keys: ClassVar[dict[str, str]] = {"word_embedding_dimension": "embedding_dimension"}

    def __init__(
        self,
        embedding_dimension: int | None = None,
        pooling_mode: str | tuple[str, ...] | list[str] | None = None,
        include_prompt: bool = True,
        *,
        word_embedding_dimension: int | None = None,
        **legacy_flags: bool,
    ) -> None:
        super().__init__()
        if embedding_dimension is None:
            embedding_dimension = word_embedding_dimension
        if embedding_dimension is None:
            raise ConfigurationError("Pooling needs embedding_dimension (the size of the token embeddings).")
        unknown = sorted(set(legacy_flags) - set(LEGACY_MODE_FLAGS))
        if unknown:
            raise ConfigurationError(
                f"Unknown Pooling arguments {unknown}; the mode flags are {sorted(LEGACY_MODE_FLAGS)}."
            )
        if pooling_mode is None:
            pooling_mode = modes_from_flags(legacy_flags) if legacy_flags else "mean"
        modes = (pooling_mode,) if isinstance(pooling_mode, str) else tuple(pooling_mode)
        invalid = [mode for mode in modes if mode not in POOLING_MODES]
        if invalid or not modes:
            raise ConfigurationError(
                f"Invalid pooling mode {invalid or pooling_mode!r}; valid modes are {', '.join(POOLING_MODES)}."
            )
        self.embedding_dimension = int(embedding_dimension)
        self.modes = modes
        self.pooling_mode: str | tuple[str, ...] = modes[0] if len(modes) == 1 else modes
        self.include_prompt = include_prompt

    @classmethod
    def normalize_config(cls, config: dict[str, Any], source: Path | str = "config") -> dict[str, Any]:
        config = dict(config)
        flags = {key: config.pop(key) for key in list(config) if key in LEGACY_MODE_FLAGS}
        if "pooling_mode" not in config and flags:
            modes = modes_from_flags(flags)
            config["pooling_mode"] = modes[0] if len(modes) == 1 else modes
        return super().normalize_config(config, source)

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        config["pooling_mode"] = self.pooling_mode if isinstance(self.pooling_mode, str) else list(self.modes)
        return config

    def expected_input_dimension(self) -> int:
        return self.embedding_dimension

    def get_embedding_dimension(self) -> int:
        return len(self.modes) * self.embedding_dimension

    def forward(self, features: Features) -> Features:
        tokens = features["token_embeddings"]  # (B, T, D)
        mask = features.get("attention_mask")
        if mask is None or mask.shape[-1] != tokens.shape[1]:
            mask = torch.ones(tokens.shape[:2], dtype=torch.int64, device=tokens.device)
        full_mask = mask
        prompt_length = features.get("prompt_length")
        if not self.include_prompt and prompt_length:
            mask = _mask_prompt(mask, int(prompt_length))
        pooled = [self._pool(mode, tokens, mask, full_mask, features) for mode in self.modes]
        features["sentence_embedding"] = torch.cat(pooled, dim=-1)  # (B, len(modes) * D)
        return features

    def _pool(
        self, mode: str, tokens: torch.Tensor, mask: torch.Tensor, full_mask: torch.Tensor, features: Features
    ) -> torch.Tensor:
        accumulate = torch.float32 if tokens.dtype in (torch.float16, torch.bfloat16) else tokens.dtype
        if mode == "cls":
            if "cls_token_embeddings" in features:
                return features["cls_token_embeddings"]
            first = mask.to(torch.int32).argmax(dim=1)  # (B,) first position the mask keeps
            return tokens[torch.arange(tokens.shape[0], device=tokens.device), first]
        if mode == "max":
            keep = mask.unsqueeze(-1).to(tokens.dtype)  # (B, T, 1)
            return tokens.masked_fill(keep == 0, float("-inf")).max(dim=1).values
        if mode in ("mean", "mean_sqrt_len_tokens"):
            keep = mask.unsqueeze(-1).to(tokens.dtype)  # (B, T, 1)
            summed = (tokens * keep).sum(dim=1, dtype=accumulate)  # (B, D)
            if "token_weights_sum" in features:
                count = features["token_weights_sum"].unsqueeze(-1).to(accumulate)
            else:
                count = keep.sum(dim=1, dtype=accumulate)  # (B, 1)
            count = count.clamp(min=1e-9)
            denominator = count if mode == "mean" else count.sqrt()
            return (summed / denominator).to(tokens.dtype)
        if mode == "weightedmean":
            keep = mask.unsqueeze(-1).to(accumulate)  # (B, T, 1)
            positions = torch.arange(1, tokens.shape[1] + 1, device=tokens.device, dtype=accumulate)
            # Weights count from the first real token, so left padding does not shift them.
            left_pad = full_mask.to(torch.int32).argmax(dim=1).to(accumulate)  # (B,)
            weights = keep * (positions.view(1, -1, 1) - left_pad.view(-1, 1, 1))  # (B, T, 1)
            summed = (tokens * weights).sum(dim=1)
            if "token_weights_sum" in features:
                total = features["token_weights_sum"].unsqueeze(-1).to(accumulate)
            else:
                total = weights.sum(dim=1)
            return (summed / total.clamp(min=1e-9)).to(tokens.dtype)
        # lasttoken: the last position the mask keeps (right or left padding alike)
        seq_len = tokens.shape[1]
        flipped_max, flipped_index = mask.flip(1).max(dim=1)
        flipped_index = torch.where(flipped_max == 0, seq_len - 1, flipped_index)
        last = seq_len - 1 - flipped_index  # (B,)
        picked = tokens[torch.arange(tokens.shape[0], device=tokens.device), last]  # (B, D)
        return picked * mask[torch.arange(tokens.shape[0], device=tokens.device), last].unsqueeze(-1)


def _mask_prompt(mask: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """A copy of ``mask`` (B, T) with the prompt's positions (after any left padding) set to 0."""
    mask = mask.clone()
    left_pad = mask.to(torch.int32).argmax(dim=1)  # (B,)
    positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)  # (1, T)
    mask[positions < (left_pad + prompt_length).unsqueeze(1)] = 0
    return mask
