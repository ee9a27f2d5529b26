"""Keyword extraction with KeyBERT's API: ``KeyBERT(model).extract_keywords(docs)``.

Needs the ``keywords`` extra (scikit-learn), imported when a ``KeyBERT`` is built.
"""

from sentkit.apps.keywords.highlight import highlight_document
from sentkit.apps.keywords.keybert import KeyBERT
from sentkit.apps.keywords.maxsum import MAX_EXACT_WORK, max_sum_distance
from sentkit.apps.keywords.ranking import max_marginal_relevance, top_by_similarity

__all__ = [
    "MAX_EXACT_WORK",
    "KeyBERT",
    "highlight_document",
    "max_marginal_relevance",
    "max_sum_distance",
    "top_by_similarity",
]
