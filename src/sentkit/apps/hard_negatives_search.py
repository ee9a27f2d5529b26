"""The search half of :func:`~sentkit.apps.hard_negatives.mine_hard_negatives`.

Embed the unique anchors and the corpus (optionally cached on disk, optionally on a multi-process
pool), retrieve the best ``range_max + max_positives`` corpus entries per anchor, score each
(anchor, positive) pair, rescore with a CrossEncoder, then drop positives and the candidates that
the margins and score bounds rule out, and take ``num_negatives`` per anchor.

Retrieval never holds the full (anchors x corpus) similarity matrix: ``faiss_batch_size`` anchors
are scored at a time, and each block of anchors against at most ``SCORE_BLOCK`` scores' worth of
corpus entries, keeping a running top-k (with ``use_faiss``, a flat inner-product FAISS index does
the search instead, on all GPUs when FAISS sees some).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import trange

from sentkit._optional import require
from sentkit.apps.top_k import chunked_top_k
from sentkit.errors import InputError

if TYPE_CHECKING:
    from sentkit.apps.hard_negatives_settings import MiningSettings, MiningTexts

logger = logging.getLogger(__name__)

__all__ = ["SCORE_BLOCK", "Candidates", "EncodeSettings", "MinedNegatives", "find_candidates", "select_negatives"]

SCORE_BLOCK = 1 << 25  # similarity scores computed at once (128 MiB of float32) when searching without FAISS
NO_SCORE = -float("inf")  # the score of a dropped or missing candidate


@dataclass(frozen=True)
class EncodeSettings:
    """How to embed and search: the encoding, caching and search arguments of one call."""

    batch_size: int
    query_prompt_name: str | None
    query_prompt: str | None
    corpus_prompt_name: str | None
    corpus_prompt: str | None
    use_multi_process: list[str] | bool
    cache_folder: str | None
    faiss_batch_size: int
    use_faiss: bool
    verbose: bool

    @property
    def target_devices(self) -> list[str] | None:
        return None if isinstance(self.use_multi_process, bool) else list(self.use_multi_process)


@dataclass
class Candidates:
    """``scores`` and corpus ``ids`` (Q, K) of each anchor's best candidates, best first (-inf / -1
    where the corpus ran out), and ``positive_scores`` (P,) of the (anchor, positive) pairs."""

    scores: Tensor
    ids: Tensor
    positive_scores: Tensor


@dataclass
class MinedNegatives:
    """The chosen negatives: corpus ``ids`` and ``scores`` (Q, num_negatives), -inf where none was
    found; ``positive_scores`` (P,); per filter name, ``(candidates skipped, ratio)``."""

    ids: Tensor
    scores: Tensor
    positive_scores: Tensor
    skipped: dict[str, tuple[int, float]] = field(default_factory=dict)


def find_candidates(
    model: Any, cross_encoder: Any, texts: MiningTexts, settings: MiningSettings, encoding: EncodeSettings
) -> Candidates:
    """Embed, retrieve ``range_max + max_positives`` candidates per anchor, score the positives, and
    rescore both with ``cross_encoder`` when a margin or score bound is set (as the reference)."""
    query_embeddings, corpus_embeddings = _embed(model, texts, encoding)  # (Q, D), (C, D)
    k = settings.range_max + texts.max_positives
    if encoding.use_faiss:
        scores, ids = _faiss_top_k(query_embeddings, corpus_embeddings, k, encoding)
    else:
        scores, ids = _torch_top_k(model, query_embeddings, corpus_embeddings, k, encoding)
    pair_query_ids = [q for q, ids_of_query in enumerate(texts.positive_ids) for _ in ids_of_query]
    pair_corpus_ids = [index for ids_of_query in texts.positive_ids for index in ids_of_query]
    positive_scores = model.similarity_pairwise(
        torch.as_tensor(query_embeddings[pair_query_ids]), torch.as_tensor(corpus_embeddings[pair_corpus_ids])
    ).cpu()  # (P,)
    if cross_encoder is not None and settings.filters:
        scores, positive_scores = _rescore(cross_encoder, texts, ids, encoding)
    scores[ids < 0] = NO_SCORE
    return Candidates(scores=scores, ids=ids, positive_scores=positive_scores)


def select_negatives(candidates: Candidates, texts: MiningTexts, settings: MiningSettings) -> MinedNegatives:
    """Drop the positives and filtered candidates, keep ranks ``range_min:range_max``, take ``num_negatives``."""
    scores, ids = candidates.scores.clone(), candidates.ids
    skipped = _apply_filters(scores, ids, candidates.positive_scores, texts, settings)
    scores, order = torch.topk(scores, k=settings.range_max, dim=1)  # (Q, range_max)
    ids = ids.gather(1, order)[:, settings.range_min :]
    scores = scores[:, settings.range_min :]
    count = settings.num_negatives
    if settings.sampling_strategy == "top":
        ids, scores = ids[:, :count], scores[:, :count]
    else:
        # Draw among the candidates left (all of them if fewer than `count`), with Python's
        # `random`, one row at a time as the reference does, so that `random.seed` reproduces it.
        left = (ids.size(1) - scores.isinf().sum(dim=1)).clamp(min=count)
        picks = torch.tensor([random.sample(range(options), k=count) for options in left.tolist()], dtype=torch.long)
        picks = picks.reshape(len(ids), count)
        ids, scores = ids.gather(1, picks), scores.gather(1, picks)
        scores, order = scores.sort(dim=1, descending=True)
        ids = ids.gather(1, order)
    return MinedNegatives(ids=ids, scores=scores, positive_scores=candidates.positive_scores, skipped=skipped)


# ------------------------------------------------------------------------------------ embedding
def _embed(model: Any, texts: MiningTexts, encoding: EncodeSettings) -> tuple[np.ndarray, np.ndarray]:
    """Normalized float32 embeddings of the queries (Q, D) and the corpus (C, D), from the cache if there."""
    model_name = getattr(getattr(model, "model_card_data", None), "base_model", None) or ""
    query_file = corpus_file = None
    query_embeddings = corpus_embeddings = None
    if encoding.cache_folder:
        os.makedirs(encoding.cache_folder, exist_ok=True)
        query_key = (model_name, encoding.query_prompt, encoding.query_prompt_name, texts.queries)
        corpus_key = (model_name, encoding.corpus_prompt, encoding.corpus_prompt_name, texts.corpus)
        query_file = _cache_file(encoding.cache_folder, "query", query_key)
        corpus_file = _cache_file(encoding.cache_folder, "corpus", corpus_key)
        query_embeddings = _load_cached(query_file, "query", texts.queries, encoding, model.encode_query)
        corpus_embeddings = _load_cached(corpus_file, "corpus", texts.corpus, encoding, model.encode_document)
    if query_embeddings is None or corpus_embeddings is None:
        pool = (
            model.start_multi_process_pool(target_devices=encoding.target_devices)
            if encoding.use_multi_process
            else None
        )
        options: dict[str, Any] = {
            "pool": pool,
            "batch_size": encoding.batch_size,
            "normalize_embeddings": True,
            "convert_to_numpy": True,
            "show_progress_bar": encoding.verbose,
        }
        try:
            if corpus_embeddings is None:
                corpus_embeddings = model.encode_document(
                    texts.corpus, prompt_name=encoding.corpus_prompt_name, prompt=encoding.corpus_prompt, **options
                )
            if query_embeddings is None:
                query_embeddings = model.encode_query(
                    texts.queries, prompt_name=encoding.query_prompt_name, prompt=encoding.query_prompt, **options
                )
        finally:
            if pool is not None:
                model.stop_multi_process_pool(pool)
    for path, embeddings, kind in ((query_file, query_embeddings, "query"), (corpus_file, corpus_embeddings, "corpus")):
        if path is not None and not os.path.exists(path):
            np.save(path, embeddings)
            if encoding.verbose:
                print(f"[Cache] Saved {kind} embeddings to {path}")
    return np.asarray(query_embeddings), np.asarray(corpus_embeddings)


def _cache_file(folder: str, kind: str, key: tuple[Any, ...]) -> str:
    """The reference's cache file name: a sha256 of the model name, the prompt arguments and the texts."""
    digest = hashlib.sha256(repr(key).encode(), usedforsecurity=False).hexdigest()
    return os.path.join(folder, f"{kind}_embeddings_{digest}.npy")


def _load_cached(
    path: str, kind: str, texts: list[str], encoding: EncodeSettings, encode: Callable[..., Any]
) -> np.ndarray | None:
    """The embeddings cached at ``path``, if they are this model's embeddings of ``texts``.

    The file name (the reference's) hashes the model's base-model id, which is empty for a local
    model, so two models can share a name: a file whose row count differs from ``texts`` or whose
    first row is not the model's own embedding of the first text (cosine < 0.999) is removed and
    encoded again, with a warning.
    """
    if not os.path.exists(path):
        return None
    embeddings = np.load(path)
    fits = embeddings.ndim == 2 and embeddings.shape[0] == len(texts)
    if fits and texts:
        prompt_name, prompt = (
            (encoding.query_prompt_name, encoding.query_prompt)
            if kind == "query"
            else (encoding.corpus_prompt_name, encoding.corpus_prompt)
        )
        first = encode(texts[:1], prompt_name=prompt_name, prompt=prompt, normalize_embeddings=True)[0]
        fits = first.shape == embeddings[0].shape and float(np.dot(first, embeddings[0])) >= 0.999
    if not fits:
        logger.warning(
            "The cached %s embeddings in %s were not made by this model for these texts; encoding again.", kind, path
        )
        os.remove(path)
        return None
    if encoding.verbose:
        print(f"[Cache] Loaded {kind} embeddings from {path} (shape={embeddings.shape})")
    return embeddings


# ------------------------------------------------------------------------------------ retrieval
def _torch_top_k(
    model: Any, queries: np.ndarray, corpus: np.ndarray, k: int, encoding: EncodeSettings
) -> tuple[Tensor, Tensor]:
    """The ``k`` best corpus entries per query under ``model.similarity``: scores and ids (Q, k),
    padded with -inf / -1 when the corpus has fewer than ``k`` entries."""
    device = model.device
    corpus_tensor = torch.as_tensor(corpus)  # (C, D), left where it is: chunks go to the device
    found = min(k, len(corpus))
    score_blocks, id_blocks = [], []
    step = encoding.faiss_batch_size
    for start in trange(0, len(queries), step, desc="Computing similarity scores", disable=not encoding.verbose):
        block = torch.as_tensor(queries[start : start + step]).to(device)  # (q, D)
        chunk = max(1, SCORE_BLOCK // max(1, len(block), corpus_tensor.size(1)))  # scores and values at once
        scores, ids = chunked_top_k(block, corpus_tensor, found, model.similarity, chunk)
        score_blocks.append(scores.cpu())
        id_blocks.append(ids.cpu())
    scores, ids = torch.cat(score_blocks), torch.cat(id_blocks)  # (Q, found)
    if found < k:
        scores = torch.cat([scores, scores.new_full((len(scores), k - found), NO_SCORE)], dim=1)
        ids = torch.cat([ids, ids.new_full((len(ids), k - found), -1)], dim=1)
    return scores, ids


def _faiss_top_k(queries: np.ndarray, corpus: np.ndarray, k: int, encoding: EncodeSettings) -> tuple[Tensor, Tensor]:
    """The ``k`` best corpus entries per query by inner product on a flat FAISS index (Q, k)."""
    faiss = require("faiss", "index", "mine_hard_negatives(use_faiss=True)")
    corpus = np.ascontiguousarray(corpus, dtype=np.float32)
    index = faiss.IndexFlatIP(corpus.shape[1])
    if getattr(faiss, "get_num_gpus", lambda: 0)() > 0:
        options = faiss.GpuMultipleClonerOptions()
        options.shard = True
        options.useFloat16 = True
        index = faiss.index_cpu_to_all_gpus(index, co=options)
    index.add(corpus)
    score_blocks, id_blocks = [], []
    step = encoding.faiss_batch_size
    for start in trange(0, len(queries), step, desc="Querying FAISS index", disable=not encoding.verbose):
        scores, ids = index.search(np.ascontiguousarray(queries[start : start + step], dtype=np.float32), k)
        score_blocks.append(scores)
        id_blocks.append(ids)
    return torch.from_numpy(np.concatenate(score_blocks)), torch.from_numpy(np.concatenate(id_blocks)).long()


def _rescore(cross_encoder: Any, texts: MiningTexts, ids: Tensor, encoding: EncodeSettings) -> tuple[Tensor, Tensor]:
    """CrossEncoder scores of every (anchor, candidate) pair (Q, K) and every (anchor, positive) pair (P,)."""
    pairs = [(texts.queries[q], texts.corpus[c]) for q, row in enumerate(ids.tolist()) for c in row if c >= 0]
    candidate_count = len(pairs)
    pairs.extend(zip(texts.pair_queries, texts.pair_positives, strict=True))
    options: dict[str, Any] = {
        "batch_size": encoding.batch_size,
        "convert_to_tensor": True,
        "show_progress_bar": encoding.verbose,
    }
    pool = None
    if encoding.use_multi_process and hasattr(cross_encoder, "start_multi_process_pool"):
        pool = cross_encoder.start_multi_process_pool(target_devices=encoding.target_devices)
        options["pool"] = pool
    try:
        predicted = torch.as_tensor(cross_encoder.predict(pairs, **options)).cpu()
    finally:
        if pool is not None:
            cross_encoder.stop_multi_process_pool(pool)
    if predicted.dim() != 1:
        raise InputError(
            f"cross_encoder gives {predicted.shape[-1]} scores per pair; rescoring candidates needs a "
            "CrossEncoder with one output (num_labels=1)."
        )
    scores = torch.full(ids.shape, NO_SCORE, dtype=predicted.dtype)
    scores[ids >= 0] = predicted[:candidate_count]
    return scores, predicted[candidate_count:]


# ------------------------------------------------------------------------------------ filtering
def _apply_filters(
    scores: Tensor, ids: Tensor, positive_scores: Tensor, texts: MiningTexts, settings: MiningSettings
) -> dict[str, tuple[int, float]]:
    """Set to -inf (in place) the positives and the candidates the margins and score bounds rule out;
    return the count and ratio skipped per filter (the reference's ratios)."""
    if not settings.include_positives:
        scores[_positive_mask(ids, texts)] = NO_SCORE
    skipped: dict[str, tuple[int, float]] = {}
    remaining = scores.numel()
    if settings.absolute_margin is not None or settings.relative_margin is not None:
        # With several positives, the margin is taken from the lowest-scoring (hardest) one.
        pair_query_ids = torch.tensor([q for q, ids_of_query in enumerate(texts.positive_ids) for _ in ids_of_query])
        lowest = torch.full((len(scores),), float("inf"), dtype=positive_scores.dtype)
        lowest = lowest.scatter_reduce(0, pair_query_ids, positive_scores, reduce="amin")  # (Q,)
        if settings.absolute_margin is not None:
            removed = scores + settings.absolute_margin > lowest.unsqueeze(1)
            remaining -= _drop(scores, removed, "absolute_margin", remaining, skipped)
        if settings.relative_margin is not None:
            # |positive| * margin below the positive, so that the threshold also drops for negative scores.
            threshold = lowest - lowest.abs() * settings.relative_margin
            remaining -= _drop(scores, scores > threshold.unsqueeze(1), "relative_margin", remaining, skipped)
    if settings.max_score is not None:
        _drop(scores, scores > settings.max_score, "max_score", remaining, skipped)
    if settings.min_score is not None:
        _drop(scores, (scores < settings.min_score) & (scores > NO_SCORE), "min_score", remaining, skipped)
    return skipped


def _drop(scores: Tensor, removed: Tensor, name: str, remaining: int, skipped: dict[str, tuple[int, float]]) -> int:
    scores[removed] = NO_SCORE
    count = int(removed.sum())
    if count:
        skipped[name] = (count, count / remaining)
    return count


def _positive_mask(ids: Tensor, texts: MiningTexts) -> Tensor:
    """(Q, K) True where candidate ``ids[q, j]`` is one of the positives of query ``q``."""
    corpus_size = len(texts.corpus)
    positive_keys = torch.tensor(
        [q * corpus_size + index for q, ids_of_query in enumerate(texts.positive_ids) for index in ids_of_query]
    )
    candidate_keys = torch.arange(len(ids)).unsqueeze(1) * corpus_size + ids  # (Q, K)
    return torch.isin(candidate_keys, positive_keys) & (ids >= 0)
