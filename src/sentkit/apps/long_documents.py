"""Embeddings of texts longer than the model takes: overlapping token windows, opt in.

``model.encode`` (like sentence-transformers) truncates a text to ``max_seq_length`` tokens, so
whatever it says after that point is lost (sentence-transformers #2268, #2669). :func:`encode_long`
cuts such a text into overlapping windows instead and returns each window's embedding or one
vector aggregated over them::

    from sentkit.apps.long_documents import encode_long

    vectors = encode_long(model, documents)                    # (N, D): mean over each text's windows
    windows = encode_long(model, documents, aggregate=None)    # N arrays (W_i, D), one row per window

How a text is cut: it is tokenized once with the model's own tokenizer (prompt included, no
truncation); the content tokens are split into pieces of ``window`` tokens less the special
tokens and the prompt, each starting ``stride`` tokens after the previous one (the last piece
may be shorter); every window is the model's special tokens around ``prompt + piece``, exactly as
the tokenizer frames one text, and goes through the model as it is, token ids and all. A text
that fits in one window is passed to ``model.encode`` unchanged, so it gets exactly
``model.encode(text)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sentkit.errors import InputError, NumericalError, UnencodableTextError
from sentkit.inference.inputs import as_text_list, check_batch_size
from sentkit.inference.precision import check_precision, quantize_embeddings
from sentkit.modules import Transformer

AGGREGATIONS = ("mean", "max", None)
ENCODE_OPTIONS = {
    "prompt_name": None,
    "prompt": None,
    "batch_size": 32,
    "show_progress_bar": False,
    "precision": "float32",
    "convert_to_numpy": True,
    "convert_to_tensor": False,
    "device": None,
    "normalize_embeddings": False,
    "truncate_dim": None,
}


@dataclass(frozen=True)
class _Framing:
    """How the tokenizer frames one text: special tokens around prompt + content."""

    head: list[int]  # leading special tokens, e.g. [CLS]
    prompt: list[int]  # the prompt's tokens
    tail: list[int]  # trailing special tokens, e.g. [SEP]
    token_type: int | None  # the token type id of a single text, when the model takes them

    def window(self, piece: list[int]) -> list[int]:
        return self.head + self.prompt + piece + self.tail


def encode_long(
    model: Any,
    texts: str | Sequence[str],
    window: int | None = None,
    stride: int | None = None,
    aggregate: str | None = "mean",
    **encode_kwargs: Any,
) -> Any:
    """Embed texts of any length with overlapping token windows.

    Args:
        model: a :class:`~sentkit.SentenceTransformer` whose first module is a Transformer.
        texts: one text or a list of texts.
        window: tokens per window, special tokens and prompt included; defaults to (and may not
            exceed) ``model.max_seq_length``. A text of at most ``window`` tokens is one window.
        stride: content tokens from the start of one window to the start of the next; the windows
            overlap by ``window - special tokens - prompt tokens - stride`` tokens. Defaults to
            three quarters of a window's content (a quarter overlap); 1 to the content size.
        aggregate: ``"mean"`` (the mean of the window embeddings) or ``"max"`` (their element-wise
            maximum) gives one vector per text; ``None`` gives every window's embedding.
        encode_kwargs: ``prompt_name``, ``prompt``, ``batch_size`` (windows per forward pass),
            ``show_progress_bar``, ``precision``, ``convert_to_numpy``, ``convert_to_tensor``,
            ``device``, ``normalize_embeddings`` and ``truncate_dim``, as in ``model.encode``.
            Truncation applies to each window, normalisation to the aggregated vector (to each
            window when ``aggregate`` is None), quantization to all results together.

    Returns:
        With an aggregate, what ``model.encode`` returns for the same texts: (N, D) (or (D,) for
        one text) as numpy, a tensor, or a list of tensors. With ``aggregate=None``, a list with one
        (W_i, D) array (or tensor) per text, or that one array for one text.

    Raises:
        InputError: an unknown aggregate or keyword argument, a window that is too large or leaves
            no room for content, a bad stride, or a model without a Transformer first module.
        InputTypeError, UnencodableTextError, NumericalError: as ``model.encode``.
    """
    options = _encode_options(encode_kwargs)
    if aggregate not in AGGREGATIONS:
        raise InputError(f"aggregate={aggregate!r} is not supported; use one of {AGGREGATIONS}.")
    items, is_single = as_text_list(texts)
    window = _window_size(model, window)
    if options["device"] is not None:
        model.to(options["device"])
    prompt = _resolve_prompt(model, options["prompt"], options["prompt_name"])
    truncate_dim = options["truncate_dim"] if options["truncate_dim"] is not None else model.truncate_dim

    if not items:
        if aggregate is None:
            return []
        return model.encode(
            [],
            precision=options["precision"],
            convert_to_numpy=options["convert_to_numpy"],
            convert_to_tensor=options["convert_to_tensor"],
            truncate_dim=truncate_dim,
        )
    token_ids = _tokenize(model.tokenizer, items, prompt)
    fitting = [index for index, ids in enumerate(token_ids) if len(ids) <= window]
    vectors: list[Tensor | None] = [None] * len(items)  # (D,) aggregated, or (W, D) windows
    if fitting:
        encoded = _encode_whole(model, [items[index] for index in fitting], prompt, truncate_dim, options)  # (F, D)
        for row, index in enumerate(fitting):
            vectors[index] = encoded[row] if aggregate else encoded[row : row + 1]
    long_ones = [index for index, ids in enumerate(token_ids) if len(ids) > window]
    if long_ones:
        framing = _framing(model.tokenizer, prompt)
        budget = window - len(framing.head) - len(framing.prompt) - len(framing.tail)
        step = _check_stride(stride, budget, window)
        pieces = [_pieces(token_ids[index], framing, budget, step) for index in long_ones]
        embeddings = _run_windows(model, framing, pieces, options)  # one (W_i, D) per long text
        for index, windows in zip(long_ones, embeddings, strict=True):
            vectors[index] = _finish(windows[:, :truncate_dim], aggregate, options["normalize_embeddings"])
    return _format([vector for vector in vectors if vector is not None], is_single, aggregate, options)


def _window_size(model: Any, window: Any) -> int:
    """``window``, or ``model.max_seq_length`` for None, checked against the model."""
    if not isinstance(model[0], Transformer):
        raise InputError(
            f"encode_long needs a model whose first module is a Transformer, not {type(model[0]).__name__}."
        )
    limit = int(model.max_seq_length)
    window = limit if window is None else window
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= limit:
        raise InputError(f"window must be an int from 1 to max_seq_length={limit}, got {window!r}.")
    return window


def _encode_whole(
    model: Any, texts: list[str], prompt: str | None, truncate_dim: int | None, options: dict[str, Any]
) -> Tensor:
    """(F, D) ``model.encode`` of texts that fit in one window, before quantization."""
    return model.encode(
        texts,
        prompt=prompt,
        batch_size=options["batch_size"],
        show_progress_bar=options["show_progress_bar"],
        convert_to_tensor=True,
        normalize_embeddings=options["normalize_embeddings"],
        truncate_dim=truncate_dim,
    )


def _encode_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - set(ENCODE_OPTIONS))
    if unknown:
        raise InputError(
            f"encode_long() got unexpected keyword arguments {unknown}; it takes {sorted(ENCODE_OPTIONS)}."
        )
    options = {**ENCODE_OPTIONS, **kwargs}
    options["batch_size"] = check_batch_size(options["batch_size"])
    check_precision(options["precision"])
    if options["convert_to_tensor"]:
        options["convert_to_numpy"] = False
    return options


def _resolve_prompt(model: Any, prompt: str | None, prompt_name: str | None) -> str | None:
    """The prompt ``model.encode`` would use: ``prompt``, else the named one, else the model's default."""
    if prompt is not None:
        return prompt
    name = prompt_name if prompt_name is not None else model.default_prompt_name
    if name is None:
        return None
    if name not in model.prompts:
        raise InputError(f"prompt_name={name!r} is not among the prompts {list(model.prompts)}.")
    return str(model.prompts[name])


def _tokenize(tokenizer: Any, texts: list[str], prompt: str | None) -> list[list[int]]:
    """Each text's full token ids (prompt prepended, special tokens added, nothing truncated)."""
    token_ids = []
    for index, text in enumerate(texts):
        try:
            ids = tokenizer((prompt or "") + text, truncation=False, verbose=False)["input_ids"]
        except (TypeError, ValueError) as exc:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise UnencodableTextError(index) from exc
            raise
        token_ids.append(list(ids))
    return token_ids


def _framing(tokenizer: Any, prompt: str | None) -> _Framing:
    """The special tokens the tokenizer puts before and after one text, and the prompt's tokens."""
    sample = tokenizer("a", truncation=False, verbose=False, return_special_tokens_mask=True)
    ids, marks = list(sample["input_ids"]), list(sample["special_tokens_mask"])
    content = [position for position, mark in enumerate(marks) if not mark]
    first, last = (content[0], content[-1] + 1) if content else (len(ids), len(ids))
    token_types = sample.get("token_type_ids")
    return _Framing(
        head=ids[:first],
        prompt=list(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else [],
        tail=ids[last:],
        token_type=int(token_types[0]) if token_types else None,
    )


def _check_stride(stride: Any, budget: int, window: int) -> int:
    if budget < 1:
        raise InputError(f"window={window} leaves no room for content after the special tokens and the prompt.")
    if stride is None:
        return max(1, budget - budget // 4)
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= budget:
        raise InputError(f"stride must be an int from 1 to {budget} (the content tokens of a window), got {stride!r}.")
    return stride


def _pieces(ids: list[int], framing: _Framing, budget: int, step: int) -> list[list[int]]:
    """The content of one text's windows: ``budget`` tokens each, starting ``step`` tokens apart."""
    start = len(framing.head) + len(framing.prompt)
    content = ids[start : len(ids) - len(framing.tail)]
    pieces = []
    for offset in range(0, len(content), step):
        pieces.append(content[offset : offset + budget])
        if offset + budget >= len(content):
            break
    return pieces


def _run_windows(model: Any, framing: _Framing, pieces: list[list[list[int]]], options: dict[str, Any]) -> list[Tensor]:
    """(W_i, D) float embeddings of each text's windows, run ``batch_size`` windows at a time."""
    flat = [framing.window(piece) for text_pieces in pieces for piece in text_pieces]
    batch_size = options["batch_size"]
    outputs = []
    for start in tqdm(range(0, len(flat), batch_size), desc="Windows", disable=not options["show_progress_bar"]):
        batch = flat[start : start + batch_size]
        columns: dict[str, list[list[int]]] = {"input_ids": batch, "attention_mask": [[1] * len(ids) for ids in batch]}
        if framing.token_type is not None:
            columns["token_type_ids"] = [[framing.token_type] * len(ids) for ids in batch]
        features = dict(model.tokenizer.pad(columns, return_tensors="pt"))  # (B, T) each
        features = {key: value.to(model.device) for key, value in features.items()}
        features["task"] = None
        if framing.prompt:
            features["prompt_length"] = len(framing.head) + len(framing.prompt)
        with torch.inference_mode():
            embeddings = model.forward(features)["sentence_embedding"].cpu()  # (B, D)
        if not torch.isfinite(embeddings).all():
            raise NumericalError("The model produced NaN or inf for a window of a long text; check weights and dtype.")
        outputs.append(embeddings)
    stacked = torch.cat(outputs)  # (sum W_i, D)
    return list(torch.split(stacked, [len(text_pieces) for text_pieces in pieces]))


def _finish(windows: Tensor, aggregate: str | None, normalize: bool) -> Tensor:
    """(D,) aggregated or (W, D) per-window embeddings, normalised if asked."""
    if aggregate == "mean":
        result = windows.mean(dim=0)
    elif aggregate == "max":
        result = windows.max(dim=0).values
    else:
        result = windows
    return torch.nn.functional.normalize(result, p=2, dim=-1) if normalize else result


def _format(vectors: list[Tensor], is_single: bool, aggregate: str | None, options: dict[str, Any]) -> Any:
    """Quantize all results together, then shape them as ``model.encode`` would."""
    rows = torch.stack(vectors) if aggregate else torch.cat(vectors)  # (N, D) or (sum W_i, D)
    if options["precision"] != "float32":
        rows = torch.from_numpy(quantize_embeddings(rows, options["precision"]))
    elif rows.dtype == torch.bfloat16 and options["convert_to_numpy"]:
        rows = rows.float()  # numpy has no bfloat16
    if aggregate:
        result: Any = rows.numpy() if options["convert_to_numpy"] else rows
        if not options["convert_to_numpy"] and not options["convert_to_tensor"]:
            result = list(rows)
        return result[0] if is_single else result
    parts = list(torch.split(rows, [len(vector) for vector in vectors]))
    result = [part.numpy() for part in parts] if options["convert_to_numpy"] else parts
    return result[0] if is_single else result
