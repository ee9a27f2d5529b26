"""The torch engine: runs a SentenceTransformer's modules over texts in length-sorted batches.

Texts are sorted by length in characters, as sentence-transformers does. Pipelines whose
features carry a token mask (every Transformer) are tokenized a group of batches at a time (about
:data:`GROUP_TEXTS` texts), and within a group the batches are formed again by token count, so
each batch pads to almost nothing (characters are a poor guess of tokens: on STS-B sentences they
leave about 30% of a batch's positions as padding, tokens about 2%); features without a mask are
run in order. Each batch holds at most ``batch_size`` inputs and, with ``max_batch_tokens``, at
most that many padded tokens; it is trimmed to its own longest input. A batch that runs out of
memory is halved and retried (:class:`~sentkit.inference.batching.HalvingRunner`). For
``output_value=None``, whose per-text features keep the batch's padding, batches are those of
sentence-transformers (one character-sorted batch per tokenizer call), and so are the batches of
features that are not one row per input (StaticEmbedding's flat token ids), which run whole. The
forward pass runs under ``torch.inference_mode``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from sentkit.errors import InputError, UnencodableTextError
from sentkit.inference.batching import HalvingRunner, input_lengths, length_sorted_batches
from sentkit.inference.engine import EncodeOptions, raise_non_finite

Features = dict[str, Any]

GROUP_TEXTS = 2048
"""Texts tokenized together and re-batched by token count (whole batches; at least one)."""


class TorchEngine:
    """Runs ``model`` (a SentenceTransformer: ``tokenize`` and ``forward``) on its device.

    ``forward(features, output_value)``, when given, replaces the modules' forward pass (the ONNX
    backend runs its graph there); tokenization stays the model's own.
    """

    def __init__(self, model: Any, forward: Callable[[Features, str | None], Features] | None = None) -> None:
        self.model = model
        self.forward = forward

    def run(self, texts: list[str], options: EncodeOptions) -> Any:
        """(N, D) CPU tensor of sentence embeddings, or one item per text for other output values."""
        embeddings: Tensor | None = None
        items: list[Any] = [None] * len(texts)
        non_finite: list[int] = []
        halving = HalvingRunner()
        batches = length_sorted_batches(input_lengths(texts), options.batch_size)
        # Only texts gain from re-batching by tokens; images (CLIPModel) go one batch at a time.
        only_text = all(isinstance(text, str) for text in texts)
        group = 1 if options.output_value is None or not only_text else max(1, GROUP_TEXTS // options.batch_size)
        progress = tqdm(total=len(texts), desc="Encoding", unit="text", disable=not options.show_progress_bar)
        start = 0
        while start < len(batches):
            chunk = batches[start : start + group]
            indices = np.concatenate(chunk)
            features = self._tokenize(texts, indices, options)
            if len(chunk) > 1 and not _row_aligned(features, len(indices)):
                group = 1  # flat features (StaticEmbedding's) cannot be split: tokenize batch by batch
                continue
            start += len(chunk)
            for rows, output in self._forward_parts(features, len(indices), options, halving):
                positions = indices[rows]
                if options.output_value == "sentence_embedding":
                    values = output["sentence_embedding"]  # (b, D)
                    non_finite += _non_finite_rows(values, positions)
                    values = _finish(values, options).cpu()
                    if embeddings is None:
                        embeddings = values.new_empty((len(texts), values.shape[1]))
                    embeddings[torch.from_numpy(positions)] = values
                else:
                    for row, item in zip(positions, _row_items(output, options.output_value, len(rows)), strict=True):
                        items[row] = item
                    if options.output_value == "token_embeddings":
                        non_finite += _non_finite_rows(output["token_embeddings"], positions)
                progress.update(len(rows))
        progress.close()
        raise_non_finite(non_finite)
        return embeddings if options.output_value == "sentence_embedding" else items

    def _tokenize(self, texts: list[str], indices: np.ndarray, options: EncodeOptions) -> Features:
        try:
            features = self.model.tokenize([texts[i] for i in indices], prompt=options.prompt, task=options.task)
        except UnencodableTextError as exc:
            raise UnencodableTextError(int(indices[exc.index])) from exc.__cause__
        device = self.model.device
        return {key: value.to(device) if isinstance(value, Tensor) else value for key, value in features.items()}

    def _forward_parts(
        self, features: Features, size: int, options: EncodeOptions, halving: HalvingRunner
    ) -> Iterator[tuple[np.ndarray, Features]]:
        """Yield ``(rows, outputs)`` for the batches of the ``size`` tokenized inputs, by token count.

        Each batch fits ``batch_size``, the token budget and memory. Features that are not one row
        per input (StaticEmbedding's flat token ids) run whole.
        """
        mask = _token_mask(features, size)
        if mask is not None and (options.output_value is not None or options.max_batch_tokens is not None):
            parts = length_sorted_batches(mask.sum(dim=1).tolist(), options.batch_size, options.max_batch_tokens)
        else:  # in order, batch_size at a time (features without a token mask: BoW, CNN inputs ...)
            parts = [
                np.arange(start, min(start + options.batch_size, size)) for start in range(0, size, options.batch_size)
            ]

        def forward(rows: np.ndarray) -> Features:
            part = take_rows(features, rows, size)
            with torch.inference_mode():
                if self.forward is not None:
                    return self.forward(part, options.output_value)
                return self.model.forward(part)

        if not _row_aligned(features, size):
            yield np.arange(size), forward(np.arange(size))
            return
        for part in parts:
            yield from halving(part, forward)


def take_rows(features: Features, rows: np.ndarray, size: int) -> Features:
    """The features of ``rows`` of a batch of ``size``; token columns that are padding in all of them are dropped."""
    if len(rows) == size and bool(np.all(rows == np.arange(size))):
        return features
    index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    mask = features.get("attention_mask")
    keep: Tensor | None = None
    if isinstance(mask, Tensor) and mask.ndim == 2:
        keep = mask.index_select(0, index.to(mask.device)).bool().any(dim=0)  # (T,)
    part: Features = {}
    for key, value in features.items():
        if isinstance(value, Tensor) and value.ndim > 0 and value.shape[0] == size:
            value = value.index_select(0, index.to(value.device))
            if keep is not None and mask is not None and value.ndim >= 2 and value.shape[1] == mask.shape[1]:
                value = value[:, keep]
        part[key] = value
    return part


def _token_mask(features: Features, size: int) -> Tensor | None:
    """The (B, T) attention mask of features that hold one row per input, else None."""
    mask = features.get("attention_mask")
    ok = isinstance(mask, Tensor) and mask.ndim == 2 and _row_aligned(features, size)
    return mask if ok else None


def _row_aligned(features: Features, size: int) -> bool:
    """Whether every tensor of ``features`` holds one row per input."""
    return all(value.ndim > 0 and value.shape[0] == size for value in features.values() if isinstance(value, Tensor))


def _finish(embeddings: Tensor, options: EncodeOptions) -> Tensor:
    if options.truncate_dim is not None:
        embeddings = embeddings[:, : options.truncate_dim]
    if options.normalize:
        embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
    return embeddings


def _row_items(output: Features, output_value: str | None, size: int) -> list[Any]:
    """One item per row: the (T_i, D) token embeddings, or a dict of every feature of that row."""
    if output_value == "token_embeddings":
        if "token_embeddings" not in output:
            raise InputError(
                "This model outputs no token embeddings (its first module gives one embedding per input, "
                "e.g. CLIPModel); use output_value='sentence_embedding' or None."
            )
        tokens, mask = output["token_embeddings"], output["attention_mask"]
        lengths = mask.sum(dim=1).tolist()
        return [tokens[row, : int(length)] for row, length in enumerate(lengths)]
    return [
        {
            name: value[row] if isinstance(value, Tensor) and value.ndim > 0 and value.shape[0] == size else value
            for name, value in output.items()
        }
        for row in range(size)
    ]


def _non_finite_rows(values: Tensor, positions: np.ndarray) -> list[int]:
    """Input indices of the rows of ``values`` (B, ...) that hold NaN or inf."""
    finite = torch.isfinite(values).reshape(values.shape[0], -1).all(dim=1)
    if bool(finite.all()):
        return []
    return [int(positions[i]) for i in torch.nonzero(~finite).flatten().tolist()]
