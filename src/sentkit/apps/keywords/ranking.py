"""Rank a document's candidate keywords: by cosine similarity, or by Maximal Marginal Relevance (MMR).

Similarities are computed with scikit-learn's ``cosine_similarity`` (the ``keywords`` extra), the
function KeyBERT uses, so that on the same embeddings the scores and tie orders are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentkit._optional import require

__all__ = ["Keyword", "cosine_similarity", "max_marginal_relevance", "top_by_similarity"]

Keyword = tuple[str, float]  # (keyword, similarity to the document rounded to 4 decimals)


def cosine_similarity(first: np.ndarray, second: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarities between the rows of ``first`` (a, d) and ``second`` (b, d), as an (a, b) array.

    With ``second=None`` the rows of ``first`` are compared with each other. Zero rows give zero.
    """
    pairwise: Any = require("sklearn.metrics.pairwise", "keywords", "KeyBERT keyword extraction")
    return np.asarray(pairwise.cosine_similarity(first, second))


def top_by_similarity(
    doc_embedding: np.ndarray, word_embeddings: np.ndarray, words: list[str], top_n: int
) -> list[Keyword]:
    """The ``top_n`` candidates most similar to the document, most similar first.

    Arguments:
        doc_embedding: (1, d) embedding of the document.
        word_embeddings: (m, d) embeddings of the document's m >= 1 candidates, in ``words`` order.
        words: the m candidates.
        top_n: how many to return (all m when m < top_n).
    """
    similarities = cosine_similarity(doc_embedding, word_embeddings)[0]  # (m,)
    best_last = np.argsort(similarities)[-top_n:]
    return [(words[index], round(float(similarities[index]), 4)) for index in best_last[::-1]]


def max_marginal_relevance(
    doc_embedding: np.ndarray, word_embeddings: np.ndarray, words: list[str], top_n: int, diversity: float
) -> list[Keyword]:
    """Pick keywords one by one by Maximal Marginal Relevance, then sort them, most similar first.

    The first pick is the candidate most similar to the document; each next pick maximises
    ``(1 - diversity) * sim(candidate, doc) - diversity * max sim(candidate, picked)``, so a higher
    ``diversity`` (between 0 and 1) trades relevance for keywords unlike those already picked.
    Ties go to the candidate that comes first in ``words``. Cost: O(top_n * m) after the (m, m)
    similarity matrix.

    Arguments:
        doc_embedding: (1, d); word_embeddings: (m, d) with m >= 1; words: the m candidates.
        top_n: how many to pick (all m when m < top_n).
        diversity: weight of the dissimilarity to the keywords already picked.
    """
    doc_similarity = cosine_similarity(word_embeddings, doc_embedding)[:, 0]  # (m,)
    word_similarity = cosine_similarity(word_embeddings)  # (m, m)
    picked = [int(np.argmax(doc_similarity))]
    available = np.ones(len(words), dtype=bool)  # (m,)
    available[picked[0]] = False
    closest = word_similarity[:, picked[0]].copy()  # (m,) highest similarity to any picked keyword
    for _ in range(min(top_n, len(words)) - 1):
        scores = (1 - diversity) * doc_similarity - diversity * closest  # (m,)
        scores[~available] = -np.inf
        choice = int(np.argmax(scores))
        picked.append(choice)
        available[choice] = False
        np.maximum(closest, word_similarity[:, choice], out=closest)
    keywords = [(words[index], round(float(doc_similarity[index]), 4)) for index in picked]
    return sorted(keywords, key=lambda keyword: keyword[1], reverse=True)
