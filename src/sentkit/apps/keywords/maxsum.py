"""Max Sum Distance: the ``top_n`` keywords, among the ``nr_candidates`` most similar to the document,
that are least similar to each other.

KeyBERT enumerates every combination of ``nr_candidates`` choose ``top_n`` in a Python loop. Here the
enumeration is vectorised and bounded:

* **Exact** when ``comb(nr_candidates, top_n) * top_n**2 <= MAX_EXACT_WORK`` (25 million, a fraction
  of a second): the combinations are scored in chunks, in KeyBERT's order and float precision, so the
  answer is KeyBERT's, ties included. KeyBERT's default (20 choose 5) costs 0.4 million, and every
  ``top_n`` with ``nr_candidates <= 20``, or ``top_n <= 5`` with ``nr_candidates <= 40``, is exact.
* **Bounded** beyond that: the exact search runs on the most similar candidates that fit the budget,
  then pairwise swaps with the other candidates lower the sum of similarities while they can (at most
  ``MAX_SWAP_ROUNDS`` rounds of O(top_n * nr_candidates) each). The answer is a local optimum, not
  always the global one that KeyBERT would spend minutes or days finding.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from sentkit.apps.keywords.ranking import Keyword, cosine_similarity

__all__ = ["MAX_EXACT_WORK", "MAX_SWAP_ROUNDS", "least_similar_subset", "max_sum_distance"]

MAX_EXACT_WORK = 25_000_000  # combinations * top_n**2 scored exhaustively
MAX_SWAP_ROUNDS = 100
CHUNK = 65_536  # combinations scored at once


def max_sum_distance(
    doc_embedding: np.ndarray,
    word_embeddings: np.ndarray,
    words: list[str],
    top_n: int,
    nr_candidates: int,
    max_exact_work: int = MAX_EXACT_WORK,
) -> list[Keyword]:
    """Pick ``top_n`` keywords by Max Sum Distance; they come in increasing similarity to the document,
    as in KeyBERT.

    Arguments:
        doc_embedding: (1, d) embedding of the document.
        word_embeddings: (m, d) embeddings of the document's candidates, in ``words`` order.
        words: the m candidates.
        top_n: how many keywords; ``nr_candidates >= top_n >= 1`` (checked by the caller).
        nr_candidates: how many of the most similar candidates to choose from.
        max_exact_work: the exhaustive-search budget (see the module docstring).

    Returns:
        ``top_n`` (keyword, score) pairs, or ``[]`` when the document has fewer than ``top_n``
        candidates (as KeyBERT does).
    """
    if top_n > len(words):
        return []
    doc_similarity = cosine_similarity(doc_embedding, word_embeddings)[0]  # (m,)
    pool = np.argsort(doc_similarity)[-nr_candidates:]  # (p,) the most similar, in increasing similarity
    pair_similarity = cosine_similarity(word_embeddings[pool])  # (p, p)
    chosen = least_similar_subset(pair_similarity, top_n, max_exact_work)
    return [(words[pool[index]], round(float(doc_similarity[pool[index]]), 4)) for index in chosen]


def least_similar_subset(pair_similarity: np.ndarray, size: int, max_exact_work: int = MAX_EXACT_WORK) -> list[int]:
    """Indices (increasing) of ``size`` rows of the (p, p) matrix whose pairwise similarities sum lowest.

    Exhaustive within ``max_exact_work``; otherwise exhaustive over the last rows that fit the budget,
    improved by swaps (see the module docstring).
    """
    count = len(pair_similarity)
    exact_rows = count
    while exact_rows > size and math.comb(exact_rows, size) * size * size > max_exact_work:
        exact_rows -= 1
    chosen = _exhaustive(pair_similarity, size, range(count - exact_rows, count))
    if exact_rows < count:
        chosen = _improve_by_swaps(pair_similarity, chosen)
    return sorted(chosen)


def _exhaustive(pair_similarity: np.ndarray, size: int, rows: range) -> list[int]:
    """The first combination of ``rows`` (in ``itertools.combinations`` order) with the lowest sum.

    Sums run over ordered pairs (i, j), i != j, in the matrix's dtype and in KeyBERT's order, so equal
    inputs give KeyBERT's choice bit for bit.
    """
    flat = pair_similarity.ravel()
    width = len(pair_similarity)
    combinations = itertools.combinations(rows, size)
    best_sum, best = math.inf, list(rows[:size])
    while True:
        chunk = np.fromiter(
            itertools.chain.from_iterable(itertools.islice(combinations, CHUNK)), dtype=np.intp
        ).reshape(-1, size)  # (c, size)
        if not len(chunk):
            return best
        sums = np.zeros(len(chunk), dtype=pair_similarity.dtype)  # (c,)
        for first in range(size):
            for second in range(size):
                if first != second:
                    sums += flat[chunk[:, first] * width + chunk[:, second]]
        index = int(np.argmin(sums))
        if sums[index] < best_sum:
            best_sum, best = float(sums[index]), chunk[index].tolist()


def _improve_by_swaps(pair_similarity: np.ndarray, chosen: list[int]) -> list[int]:
    """Swap a chosen row for another while that lowers the sum of pairwise similarities (local search).

    Each round costs O(k * p) time and memory for k chosen rows out of p.
    """
    similarity = pair_similarity  # (p, p)
    self_similarity = np.diag(similarity).astype(np.float64)  # (p,)
    selected = np.zeros(len(similarity), dtype=bool)
    selected[chosen] = True
    for _ in range(MAX_SWAP_ROUNDS):
        members, others = np.flatnonzero(selected), np.flatnonzero(~selected)
        if not len(others):
            break
        # load[x]: similarity of row x to the chosen rows, both orders of each pair
        load = similarity[:, members].sum(axis=1, dtype=np.float64) + similarity[members].sum(axis=0, dtype=np.float64)
        leaving = load[members] - 2 * self_similarity[members]  # (k,) what each member adds now
        cross = similarity[np.ix_(members, others)] + similarity[np.ix_(others, members)].T  # (k, p - k)
        # change[a, b]: the sum after swapping member a out and row b in, minus the sum before
        change = load[others][None, :] - cross - leaving[:, None]  # (k, p - k)
        out, into = np.unravel_index(int(np.argmin(change)), change.shape)
        if change[out, into] >= -1e-9:
            break
        selected[members[out]], selected[others[into]] = False, True
    return np.flatnonzero(selected).tolist()
