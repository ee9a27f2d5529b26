"""MaxSim: late-interaction scores between multi-vector (per-token) embeddings.

The score of a query ``q`` (Tq, D) against a document ``d`` (Td, D) is
``sum_i max_j q_i . d_j``: every query token finds its best document token, and the best
similarities add up (ColBERT). MeanMaxSim divides that sum by the query's real token count.

One side of a call is any of:

- a list of (T_i, D) tensors or arrays (ragged; each is padded per chunk, lengths give the mask),
- a padded (N, T, D) tensor or array (all-zero token rows count as padding unless a mask is given),
- one (T, D) tensor or array (a batch of one).

Masks are (N, T) (or (T,) beside a single (T, D) input, or a list of per-item (T_i,) masks); a 0 /
False entry leaves a token out (out of the max on the document side, out of the sum on the query
side). Scores are float32 on the documents' device. A document with no token left scores
:data:`EMPTY_DOCUMENT_SCORE`, below every real score.

Memory: the (queries, documents, query tokens, document tokens) similarity tensor is never built
at once. Both sides are cut into chunks whose padded embeddings and similarities stay within
``chunk_elements`` elements (default :data:`DEFAULT_CHUNK_ELEMENTS`); one pair may exceed it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sentkit.errors import InputError, InputTypeError

__all__ = [
    "DEFAULT_CHUNK_ELEMENTS",
    "EMPTY_DOCUMENT_SCORE",
    "cat_padded_token_embeddings",
    "chunk_ranges",
    "maxsim",
    "maxsim_pairwise",
    "mean_maxsim",
    "mean_maxsim_pairwise",
    "stack_padded_token_embeddings",
]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ELEMENTS = 100_000_000
"""Elements (not bytes) per chunk: about 400 MB in float32, as in sentence-transformers."""
EMPTY_DOCUMENT_SCORE = -1e9
"""The score of a document without any unmasked token: below any real MaxSim score, and finite."""

MultiVectors = Tensor | np.ndarray | Sequence[Any]
"""One side of a MaxSim call: a list of (T_i, D) items, a padded (N, T, D) batch or one (T, D) item."""


def chunk_ranges(widths: Sequence[int], per_token: int, budget: int, per_item: int = 0) -> list[tuple[int, int]]:
    """Cut items into consecutive ``(start, end)`` ranges whose cost stays within ``budget``.

    A range of ``n`` items of largest width ``w`` costs ``(per_token * w + per_item) * n``
    elements (what padding it to ``w`` allocates). Every range holds at least one item.
    """
    ranges: list[tuple[int, int]] = []
    start, width = 0, 0
    for index, item_width in enumerate(widths):
        candidate = max(width, item_width)
        count = index - start + 1
        if count > 1 and (per_token * candidate + per_item) * count > budget:
            ranges.append((start, index))
            start, width = index, item_width
        else:
            width = candidate
    ranges.append((start, len(widths)))
    return ranges


def maxsim(
    a: MultiVectors,
    b: MultiVectors,
    a_mask: Any = None,
    b_mask: Any = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
    device: str | torch.device | None = None,
) -> Tensor:
    """(Na, Nb) float32 MaxSim scores: ``res[i, j] = sum_t max_s a[i][t] . b[j][s]``.

    Args:
        a, b: queries and documents (see the module docstring for the accepted forms).
        a_mask, b_mask: token masks for ``a`` and ``b`` (None: every token of a list item,
            the non-zero rows of a padded tensor).
        chunk_elements: element budget per chunk (default :data:`DEFAULT_CHUNK_ELEMENTS`).
        length_normalize: divide each row by the query's real token count (MeanMaxSim).
        device: where to compute, chunk by chunk; the result stays on the documents' device.

    Raises:
        InputTypeError: embeddings or masks of an unsupported type.
        InputError: wrong dimensions, embedding sizes that differ, masks that do not fit, a bad budget.
    """
    a_side, b_side = _Side(a, a_mask, "a"), _Side(b, b_mask, "b")
    result_device = b_side.device or a_side.device or torch.device("cpu")
    if not len(a_side) or not len(b_side):
        return torch.zeros(len(a_side), len(b_side), dtype=torch.float32, device=result_device)
    _check_same_dimension(a_side, b_side)
    budget = _budget(chunk_elements)
    scoring_device = torch.device(device) if device is not None else result_device
    doc_width, dim = max(b_side.widths), b_side.dimension
    rows = []
    for q_start, q_end in chunk_ranges(a_side.widths, doc_width + dim, budget - doc_width * dim):
        queries, query_mask = a_side.padded(q_start, q_end, scoring_device)  # (q, Tq, D), (q, Tq)
        per_document = queries.shape[0] * queries.shape[1] + dim
        columns = [
            _score_documents(queries, query_mask, *b_side.padded(d_start, d_end, scoring_device)).to(result_device)
            for d_start, d_end in chunk_ranges(b_side.widths, per_document, budget - queries.numel())
        ]
        rows.append(torch.cat(columns, dim=1) if len(columns) > 1 else columns[0])
    scores = torch.cat(rows, dim=0) if len(rows) > 1 else rows[0]
    if length_normalize:
        scores = scores / a_side.token_counts().to(scores.device).unsqueeze(1)
    return scores


def maxsim_pairwise(
    a: MultiVectors,
    b: MultiVectors,
    a_mask: Any = None,
    b_mask: Any = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
    device: str | torch.device | None = None,
) -> Tensor:
    """(N,) float32 MaxSim scores of the pairs ``(a[i], b[i])``; arguments as in :func:`maxsim`.

    Raises:
        InputError: ``a`` and ``b`` of different lengths, or any error of :func:`maxsim`.
    """
    a_side, b_side = _Side(a, a_mask, "a"), _Side(b, b_mask, "b")
    if len(a_side) != len(b_side):
        raise InputError(
            f"maxsim_pairwise scores a[i] with b[i], so a and b need as many items; got {len(a_side)} and "
            f"{len(b_side)}. Use maxsim for every query against every document."
        )
    result_device = b_side.device or a_side.device or torch.device("cpu")
    if not len(a_side):
        return torch.zeros(0, dtype=torch.float32, device=result_device)
    _check_same_dimension(a_side, b_side)
    scoring_device = torch.device(device) if device is not None else result_device
    query_width, dim = max(a_side.widths), b_side.dimension
    chunks = []
    for start, end in chunk_ranges(b_side.widths, query_width + dim, _budget(chunk_elements), query_width * dim):
        queries, query_mask = a_side.padded(start, end, scoring_device)
        documents, document_mask = b_side.padded(start, end, scoring_device)
        chunks.append(_score_pairs(queries, query_mask, documents, document_mask).to(result_device))
    scores = torch.cat(chunks) if len(chunks) > 1 else chunks[0]
    if length_normalize:
        scores = scores / a_side.token_counts().to(scores.device)
    return scores


def mean_maxsim(
    a: MultiVectors,
    b: MultiVectors,
    a_mask: Any = None,
    b_mask: Any = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
    device: str | torch.device | None = None,
) -> Tensor:
    """:func:`maxsim` divided by each query's real token count (scores comparable across queries)."""
    return maxsim(a, b, a_mask, b_mask, chunk_elements, length_normalize, device)


def mean_maxsim_pairwise(
    a: MultiVectors,
    b: MultiVectors,
    a_mask: Any = None,
    b_mask: Any = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
    device: str | torch.device | None = None,
) -> Tensor:
    """:func:`maxsim_pairwise` divided by each query's real token count."""
    return maxsim_pairwise(a, b, a_mask, b_mask, chunk_elements, length_normalize, device)


def stack_padded_token_embeddings(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack K (B, T_k, D) token embeddings and (B, T_k) masks into (B, K, T, D) and (B, K, T).

    Each is zero-padded to ``T = max T_k`` first (padding is masked out by the returned mask).
    """
    embeddings, masks = _pad_to_common_width(embeddings, masks)
    return torch.stack(embeddings, dim=1), torch.stack(masks, dim=1)


def cat_padded_token_embeddings(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Concatenate (B_k, T_k, D) token embeddings and (B_k, T_k) masks into (sum B_k, T, D) and (sum B_k, T)."""
    embeddings, masks = _pad_to_common_width(embeddings, masks)
    return torch.cat(embeddings, dim=0), torch.cat(masks, dim=0)


# ------------------------------------------------------------------------------------ internals
def _pad_to_common_width(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    if not embeddings or len(embeddings) != len(masks):
        raise InputError(f"Pass one mask per embeddings tensor, at least one; got {len(embeddings)} and {len(masks)}.")
    width = max(item.shape[1] for item in embeddings)
    if all(item.shape[1] == width for item in embeddings):
        return embeddings, masks
    padded = [torch.nn.functional.pad(item, (0, 0, 0, width - item.shape[1])) for item in embeddings]
    return padded, [torch.nn.functional.pad(mask, (0, width - mask.shape[1])) for mask in masks]


def _budget(chunk_elements: int | None) -> int:
    if chunk_elements is None:
        return DEFAULT_CHUNK_ELEMENTS
    if isinstance(chunk_elements, bool) or not isinstance(chunk_elements, int) or chunk_elements <= 0:
        raise InputError(f"chunk_elements must be a positive int (an element count), got {chunk_elements!r}.")
    return chunk_elements


def _check_same_dimension(a: _Side, b: _Side) -> None:
    if a.dimension != b.dimension:
        raise InputError(
            f"Query tokens have {a.dimension} dimensions but document tokens have {b.dimension}; "
            "score embeddings made by the same model."
        )


def _as_tensor(item: Any, name: str) -> Tensor:
    if isinstance(item, Tensor):
        tensor = item
    elif isinstance(item, np.ndarray):
        tensor = torch.from_numpy(item) if item.flags.writeable else torch.tensor(item)
    else:
        raise InputTypeError(f"{name} must hold torch tensors or numpy arrays, got {type(item).__name__}.")
    return tensor if tensor.is_floating_point() else tensor.float()


def _as_mask(mask: Any, name: str) -> Tensor | None:
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        items = [torch.as_tensor(np.asarray(item) if not isinstance(item, Tensor) else item) for item in mask]
        return torch.nn.utils.rnn.pad_sequence(items, batch_first=True) if items else torch.zeros(0, 0)
    if isinstance(mask, np.ndarray):
        return torch.from_numpy(mask)
    if isinstance(mask, Tensor):
        return mask
    raise InputTypeError(f"{name} must be a tensor, an array or a list of per-item masks, got {type(mask).__name__}.")


class _Side:
    """One side of a MaxSim call: ragged items or a padded batch, and its mask, checked once."""

    def __init__(self, embeddings: Any, mask: Any, name: str) -> None:
        self.name = name
        self.mask = _as_mask(mask, f"{name}_mask")
        if isinstance(embeddings, (Tensor, np.ndarray)):
            batch = _as_tensor(embeddings, name)
            if batch.dim() == 2:  # (T, D): one item
                batch = batch.unsqueeze(0)
                self.mask = self.mask.unsqueeze(0) if self.mask is not None and self.mask.dim() == 1 else self.mask
            if batch.dim() != 3:
                raise InputError(
                    f"{name} must be a (T, D) item, a padded (N, T, D) batch or a list of (T_i, D) items; "
                    f"got shape {tuple(batch.shape)}."
                )
            self.items: list[Tensor] | None = None
            self.batch: Tensor | None = batch
            self.widths = [batch.shape[1]] * batch.shape[0]
            self.dimension = int(batch.shape[2])
        elif isinstance(embeddings, (list, tuple)):
            self.items = [self._item(item, index) for index, item in enumerate(embeddings)]
            self.batch = None
            self.widths = [item.shape[0] for item in self.items]
            dimensions = {int(item.shape[1]) for item in self.items if item.shape[0]}
            if len(dimensions) > 1:
                raise InputError(f"The items of {name} have different embedding sizes {sorted(dimensions)}.")
            self.dimension = dimensions.pop() if dimensions else (int(self.items[0].shape[1]) if self.items else 0)
        else:
            raise InputTypeError(
                f"{name} must be a tensor, an array or a list of (T_i, D) tensors, got {type(embeddings).__name__}."
            )
        self._check_mask()

    def _item(self, item: Any, index: int) -> Tensor:
        tensor = _as_tensor(item, f"{self.name}[{index}]")
        if tensor.dim() != 2:
            raise InputError(
                f"{self.name}[{index}] must be a (T, D) matrix of token embeddings, got {tuple(tensor.shape)}."
            )
        return tensor

    def _check_mask(self) -> None:
        if self.mask is None or not self.widths:
            return
        width = max(self.widths)
        if self.mask.dim() != 2 or self.mask.shape[-1] != width or self.mask.shape[0] not in (1, len(self.widths)):
            raise InputError(
                f"{self.name}_mask has shape {tuple(self.mask.shape)}, but {self.name} needs "
                f"({len(self.widths)}, {width}): one entry per (padded) token."
            )
        self.mask = self.mask.expand(len(self.widths), -1)

    def __len__(self) -> int:
        return len(self.widths)

    @property
    def device(self) -> torch.device | None:
        if self.batch is not None:
            return self.batch.device
        return self.items[0].device if self.items else None

    def padded(self, start: int, end: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Items ``start:end`` padded to their own widest: (n, T, D) embeddings and an (n, T) float mask."""
        if self.batch is not None:
            chunk = self.batch[start:end]
            mask = self.mask[start:end] if self.mask is not None else chunk.any(dim=-1)  # zero rows are padding
        else:
            items = self.items[start:end] if self.items is not None else []
            chunk = torch.nn.utils.rnn.pad_sequence([item.to(device) for item in items], batch_first=True)
            if self.mask is not None:
                mask = self.mask[start:end, : chunk.shape[1]]
            else:
                lengths = torch.tensor([item.shape[0] for item in items], device=device)
                mask = torch.arange(chunk.shape[1], device=device).unsqueeze(0) < lengths.unsqueeze(1)
        return chunk.to(device), mask.to(device=device, dtype=chunk.dtype)

    def token_counts(self) -> Tensor:
        """(N,) real tokens per item (at least 1), for MeanMaxSim."""
        if self.mask is not None:
            counts = self.mask.bool().sum(dim=-1)
        elif self.batch is not None:
            counts = self.batch.any(dim=-1).sum(dim=-1)
        else:
            counts = torch.tensor(self.widths)
        return counts.clamp(min=1).to(torch.float32)


def _score_documents(queries: Tensor, query_mask: Tensor, documents: Tensor, document_mask: Tensor) -> Tensor:
    """(q, d) float32 scores of a chunk of queries (q, Tq, D) against a chunk of documents (d, Td, D)."""
    if documents.shape[1] == 0:
        return torch.full((queries.shape[0], documents.shape[0]), EMPTY_DOCUMENT_SCORE, device=documents.device)
    similarities = torch.einsum("qsh,dth->qdst", queries, documents)  # (q, d, Tq, Td)
    # Padding goes to the dtype's minimum so it never wins the max, even over negative similarities.
    similarities.masked_fill_(~document_mask.bool()[None, :, None, :], torch.finfo(similarities.dtype).min)
    best = similarities.max(dim=-1).values.float()  # (q, d, Tq), summed in float32
    scores = (best * query_mask.float().unsqueeze(1)).sum(dim=-1)  # (q, d)
    return _mark_empty(scores, ~document_mask.bool().any(dim=-1))


def _score_pairs(queries: Tensor, query_mask: Tensor, documents: Tensor, document_mask: Tensor) -> Tensor:
    """(n,) float32 scores of aligned pairs: queries (n, Tq, D) with documents (n, Td, D)."""
    if documents.shape[1] == 0:
        return torch.full((documents.shape[0],), EMPTY_DOCUMENT_SCORE, device=documents.device)
    similarities = torch.einsum("nsh,nth->nst", queries, documents)  # (n, Tq, Td)
    similarities.masked_fill_(~document_mask.bool()[:, None, :], torch.finfo(similarities.dtype).min)
    best = similarities.max(dim=-1).values.float()  # (n, Tq)
    scores = (best * query_mask.float()).sum(dim=-1)  # (n,)
    return _mark_empty(scores, ~document_mask.bool().any(dim=-1))


def _mark_empty(scores: Tensor, empty: Tensor) -> Tensor:
    """Give documents without any unmasked token :data:`EMPTY_DOCUMENT_SCORE` (their sum is garbage)."""
    if empty.device.type == "cpu" and bool(empty.any()):
        logger.warning(
            "%d document(s) have no token to score (every token masked out, or no token at all); they score %g.",
            int(empty.sum()),
            EMPTY_DOCUMENT_SCORE,
        )
    return scores.masked_fill(empty, EMPTY_DOCUMENT_SCORE)
