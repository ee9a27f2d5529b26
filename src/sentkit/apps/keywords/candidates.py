"""From documents to candidate keywords: the documents checked, a vectorizer fitted, each document's candidates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentkit._optional import require
from sentkit.errors import InputError, InputTypeError

__all__ = ["Candidates", "as_documents", "find_candidates", "is_integer", "is_number"]


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (Python or numpy), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Candidates:
    """The candidate keywords of a set of documents.

    Attributes:
        words: the vocabulary, in the vectorizer's order (the rows of ``word_embeddings``).
        per_document: for each document, the indices into ``words`` of its candidates.
        vectorizer: the fitted vectorizer (its tokenizer is used for highlighting).
    """

    words: list[str]
    per_document: list[np.ndarray]
    vectorizer: Any


def as_documents(docs: str | Iterable[str] | None) -> list[str]:
    """The documents as a list; one string is one document, an empty string none.

    Raises:
        InputTypeError: ``None``, or a document that is not a string (names its index and type).
    """
    if docs is None:
        raise InputTypeError("docs is None; pass a document (str) or a list of documents.")
    if isinstance(docs, str):
        return [docs] if docs else []
    documents = list(docs)
    for index, doc in enumerate(documents):
        if not isinstance(doc, str):
            raise InputTypeError(f"Document {index} is a {type(doc).__name__}, not a str; pass texts.")
    return documents


def _check_ngram_range(ngram_range: Any) -> tuple[int, int]:
    try:
        low, high = ngram_range
    except (TypeError, ValueError):
        low = high = None
    if not (is_integer(low) and is_integer(high) and 1 <= int(low) <= int(high)):
        raise InputError(
            f"keyphrase_ngram_range={ngram_range!r} is not a pair (low, high) with 1 <= low <= high; "
            "for example (1, 2) gives keywords of one or two words."
        )
    return int(low), int(high)


def _check_candidates(candidates: Any) -> Any:
    """``candidates`` as a list (a mapping or ``None`` as it is).

    Raises:
        InputTypeError: one string instead of a list.
        InputError: a candidate given twice (scikit-learn would refuse it; KeyBERT would give ``[]``).
    """
    if candidates is None or isinstance(candidates, dict):
        return candidates
    if isinstance(candidates, str):
        raise InputTypeError(f"candidates={candidates!r} is one string; pass a list of candidate keywords.")
    candidates = list(candidates)
    seen: set[str] = set()
    for candidate in candidates:
        if candidate in seen:
            raise InputError(f"candidates holds {candidate!r} twice; pass each candidate keyword once.")
        seen.add(candidate)
    return candidates


def _fit(
    documents: list[str],
    candidates: Any,
    ngram_range: Any,
    stop_words: Any,
    min_df: Any,
    vectorizer: Any,
) -> Any | None:
    """Fit ``vectorizer`` (or a ``CountVectorizer`` with these settings) on the documents.

    Returns ``None`` when the default vectorizer keeps no candidate (all documents empty or stop
    words, ``min_df`` above the number of documents, an empty ``candidates`` list).
    """
    if vectorizer is not None:
        try:
            return vectorizer.fit(documents)
        except ValueError as exc:
            raise InputError(f"The vectorizer could not be fitted on the documents: {exc}") from exc
    text: Any = require("sklearn.feature_extraction.text", "keywords", "KeyBERT keyword extraction")
    candidates = _check_candidates(candidates)
    ngram_range = _check_ngram_range(ngram_range)
    if isinstance(stop_words, (set, frozenset, tuple)):
        stop_words = list(stop_words)  # scikit-learn takes a list only; KeyBERT would give no keywords
    try:
        counter = text.CountVectorizer(
            ngram_range=ngram_range, stop_words=stop_words, min_df=min_df, vocabulary=candidates
        )
        return counter.fit(documents)
    except ValueError as exc:
        # scikit-learn's InvalidParameterError (a setting of the wrong type or range) is also a
        # TypeError; any other ValueError means that no candidate is left, which gives no keywords.
        if isinstance(exc, TypeError):
            raise InputError(f"Invalid candidate settings (stop_words, min_df or candidates): {exc}") from exc
        return None


def find_candidates(
    documents: list[str],
    candidates: Any = None,
    ngram_range: Any = (1, 1),
    stop_words: Any = "english",
    min_df: Any = 1,
    vectorizer: Any = None,
) -> Candidates | None:
    """The candidate keywords of each document, as KeyBERT finds them; ``None`` when there are none.

    With ``vectorizer`` (any object with ``fit``, ``transform`` and ``get_feature_names_out``, such as
    a scikit-learn ``CountVectorizer``) the other settings are ignored, as in KeyBERT, and the
    vectorizer is fitted in place. Otherwise a ``CountVectorizer(ngram_range, stop_words, min_df,
    vocabulary=candidates)`` is fitted.

    Raises:
        InputError: invalid settings, duplicate candidates, or a vectorizer that cannot be fitted.
    """
    fitted = _fit(documents, candidates, ngram_range, stop_words, min_df, vectorizer)
    if fitted is None:
        return None
    sparse: Any = require("scipy.sparse", "keywords", "KeyBERT keyword extraction")
    words = [str(word) for word in fitted.get_feature_names_out()]
    counts = sparse.csr_matrix(fitted.transform(documents))  # (n_docs, V)
    rows, columns = counts.nonzero()  # row-major, each row's columns in stored order
    bounds = np.searchsorted(rows, np.arange(len(documents) + 1))  # (n_docs + 1,)
    per_document = [columns[bounds[index] : bounds[index + 1]] for index in range(len(documents))]
    return Candidates(words=words, per_document=per_document, vectorizer=fitted)
