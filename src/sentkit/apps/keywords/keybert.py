"""KeyBERT: keywords as the candidate words and phrases whose embeddings are closest to the document's."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

from sentkit._optional import require
from sentkit.apps.keywords.candidates import as_documents, find_candidates, is_integer, is_number
from sentkit.apps.keywords.highlight import highlight_document
from sentkit.apps.keywords.maxsum import max_sum_distance
from sentkit.apps.keywords.ranking import Keyword, max_marginal_relevance, top_by_similarity
from sentkit.backends import Embedder, select_backend
from sentkit.backends.base import as_embedding_matrix
from sentkit.errors import ConfigurationError, InputError, InputTypeError

__all__ = ["KeyBERT"]

Strategy = Literal["similarity", "mmr", "maxsum"]


def _strategy(use_mmr: bool, use_maxsum: bool) -> Strategy:
    """KeyBERT's two flags as one choice; MMR wins when both are set, as in KeyBERT."""
    return "mmr" if use_mmr else "maxsum" if use_maxsum else "similarity"


def _check_settings(strategy: Strategy, top_n: Any, diversity: Any, nr_candidates: Any) -> None:
    if not is_integer(top_n) or top_n < 1:
        raise InputError(f"top_n={top_n!r} must be a positive integer (the number of keywords per document).")
    if strategy == "mmr" and not (is_number(diversity) and 0 <= diversity <= 1):
        raise InputError(
            f"diversity={diversity!r} must be between 0 and 1 with use_mmr=True "
            "(0: most relevant keywords, 1: most diverse)."
        )
    if strategy == "maxsum" and not (is_integer(nr_candidates) and nr_candidates >= top_n):
        raise InputError(
            f"nr_candidates={nr_candidates!r} must be an integer >= top_n={top_n} with use_maxsum=True: Max Sum "
            "Distance picks top_n keywords among the nr_candidates most similar candidates."
        )


def _seed_groups(seed_keywords: Any, n_docs: int) -> list[list[str]]:
    """One list of seed keywords shared by all documents, or one list per document.

    Raises:
        InputError: an empty list, or a nested list whose length is not the number of documents.
        InputTypeError: seeds that are neither strings nor lists of strings.
    """
    if isinstance(seed_keywords, str):
        return [[seed_keywords]]
    seeds = list(seed_keywords) if isinstance(seed_keywords, Iterable) else []
    if seeds and all(isinstance(seed, str) for seed in seeds):
        return [seeds]
    groups = [[group] if isinstance(group, str) else group for group in seeds]
    groups = [list(group) if isinstance(group, Iterable) else [] for group in groups]
    if not groups or not all(group and all(isinstance(seed, str) for seed in group) for group in groups):
        raise InputTypeError(
            "seed_keywords must be a non-empty list of strings (shared by all documents) or a list of "
            "non-empty lists of strings (one per document)."
        )
    if len(groups) != n_docs:
        raise InputError(f"The length of docs ({n_docs}) must match the length of seed_keywords ({len(groups)}).")
    return groups


class KeyBERT:
    """Keyword extraction with embeddings, with KeyBERT's API: ``from sentkit import KeyBERT``.

    Candidate keywords (the n-grams a ``CountVectorizer`` finds) are embedded with the same model as
    the document; the keywords are the candidates closest to the document by cosine similarity,
    optionally diversified by Maximal Marginal Relevance or Max Sum Distance.

    Arguments:
        model: a model name (loaded with sentkit's ``SentenceTransformer``), a sentkit or
            sentence-transformers ``SentenceTransformer``, a ``BaseEmbedder``, a model2vec
            ``StaticModel``, flair embeddings, a spaCy ``Language``, gensim ``KeyedVectors``, a
            transformers feature-extraction pipeline, an object with ``embed(texts)``, or a callable
            from texts to embeddings such as a TF-Hub Universal Sentence Encoder.
        llm: KeyBERT's optional LLM refinement; sentkit has no LLM step, so only ``None`` is accepted.

    Raises:
        MissingDependencyError: scikit-learn is missing (``pip install 'sentkit[keywords]'``).
        InputTypeError: a model of a kind that no backend accepts.
        ConfigurationError: an ``llm`` was passed.
    """

    def __init__(self, model: Any = "all-MiniLM-L6-v2", llm: Any = None) -> None:
        require("sklearn", "keywords", "KeyBERT")
        if llm is not None:
            raise ConfigurationError("KeyBERT(llm=...) is not supported by sentkit; leave llm=None.")
        self.model: Embedder = select_backend(model)
        self.llm = None

    def extract_keywords(
        self,
        docs: str | Sequence[str],
        candidates: Sequence[str] | None = None,
        keyphrase_ngram_range: tuple[int, int] = (1, 1),
        stop_words: str | Sequence[str] | None = "english",
        top_n: int = 5,
        min_df: int | float = 1,
        use_maxsum: bool = False,
        use_mmr: bool = False,
        diversity: float = 0.5,
        nr_candidates: int = 20,
        vectorizer: Any = None,
        highlight: bool = False,
        seed_keywords: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        doc_embeddings: np.ndarray | None = None,
        word_embeddings: np.ndarray | None = None,
        threshold: float | None = None,
    ) -> list[Keyword] | list[list[Keyword]]:
        """Extract the keywords of one document or of several.

        Arguments:
            docs: one document (str) or a list of documents. Passing many at once is faster.
            candidates: the candidate keywords to choose from, instead of the documents' n-grams.
            keyphrase_ngram_range: (low, high) number of words per keyword.
            stop_words: ``"english"``, a list (or set) of words, or ``None``, removed from the candidates.
            top_n: keywords per document (a positive integer).
            min_df: minimum number (or fraction) of the documents a candidate must appear in.
            use_maxsum: pick by Max Sum Distance: the ``top_n`` candidates, among the
                ``nr_candidates`` most similar, least similar to each other. Exact (KeyBERT's answer)
                while ``comb(nr_candidates, top_n) * top_n**2 <= 25 million``, bounded beyond (see
                :mod:`sentkit.apps.keywords.maxsum`). Keywords come in increasing similarity.
            use_mmr: pick by Maximal Marginal Relevance; wins over ``use_maxsum`` when both are set.
            diversity: with ``use_mmr``, between 0 (relevance only) and 1 (diversity only).
            nr_candidates: with ``use_maxsum``, the pool size; at least ``top_n``.
            vectorizer: a fitted-on-the-fly vectorizer (e.g. ``CountVectorizer``) that replaces
                ``candidates``, ``keyphrase_ngram_range``, ``stop_words`` and ``min_df``.
            highlight: print the document with its keywords marked (one document only).
            seed_keywords: keywords that steer the extraction: a list shared by all documents, or one
                list per document. The document embedding becomes ``(3 * doc + mean(seeds)) / 4``.
            doc_embeddings: (n_docs, d) precomputed document embeddings.
            word_embeddings: (V, d) precomputed candidate embeddings, from :meth:`extract_embeddings`
                with the same candidate settings.
            threshold: used by KeyBERT's LLM step only; sentkit has none, so it has no effect.

        Returns:
            For one document (a string, or a list of one), a list of (keyword, score) pairs, the score
            being the cosine similarity to the document rounded to 4 decimals, most similar first
            (increasing with ``use_maxsum``). For several documents, one such list per document.
            A document without candidates gives ``[]``, and so does an empty string, an empty list or
            documents that have no candidate at all; ``use_maxsum`` gives ``[]`` for a document with
            fewer than ``top_n`` candidates (as in KeyBERT), the other strategies all its candidates.

        Raises:
            InputError: ``top_n < 1``; with ``use_mmr``, ``diversity`` outside [0, 1]; with
                ``use_maxsum`` alone, ``nr_candidates < top_n``; an invalid n-gram range, stop words or
                ``min_df``; duplicate candidates; seed keywords that do not match the documents;
                precomputed embeddings of the wrong shape.
            InputTypeError: ``docs=None`` or a document that is not a string; malformed seed keywords.
            NumericalError: embeddings with NaN or inf.
        """
        strategy = _strategy(use_mmr, use_maxsum)
        _check_settings(strategy, top_n, diversity, nr_candidates)
        documents = as_documents(docs)
        if not documents:
            return []
        found = find_candidates(documents, candidates, keyphrase_ngram_range, stop_words, min_df, vectorizer)
        if found is None:
            return []
        seeds = None if seed_keywords is None else _seed_groups(seed_keywords, len(documents))
        doc_vectors, word_vectors = self._embeddings(documents, found.words, doc_embeddings, word_embeddings)
        if seeds is not None:
            doc_vectors = (doc_vectors * 3 + self._seed_vectors(seeds)) / 4  # (n_docs, d)

        keywords: list[list[Keyword]] = []
        for index, columns in enumerate(found.per_document):
            if not len(columns):
                keywords.append([])
                continue
            words = [found.words[column] for column in columns]
            doc_vector, candidate_vectors = doc_vectors[index : index + 1], word_vectors[columns]  # (1, d), (m, d)
            if strategy == "mmr":
                keywords.append(max_marginal_relevance(doc_vector, candidate_vectors, words, top_n, diversity))
            elif strategy == "maxsum":
                keywords.append(max_sum_distance(doc_vector, candidate_vectors, words, top_n, nr_candidates))
            else:
                keywords.append(top_by_similarity(doc_vector, candidate_vectors, words, top_n))

        if len(keywords) == 1:
            if highlight:
                highlight_document(documents[0], keywords[0], found.vectorizer)
            return keywords[0]
        return keywords

    def extract_embeddings(
        self,
        docs: str | Sequence[str],
        candidates: Sequence[str] | None = None,
        keyphrase_ngram_range: tuple[int, int] = (1, 1),
        stop_words: str | Sequence[str] | None = "english",
        min_df: int | float = 1,
        vectorizer: Any = None,
    ) -> tuple[np.ndarray, np.ndarray] | list[Any]:
        """Embed the documents and their candidate keywords, to pass to :meth:`extract_keywords` later.

        The candidate settings must be the same in both calls: the rows of ``word_embeddings``
        follow the vocabulary that they produce.

        Returns:
            ``(doc_embeddings, word_embeddings)`` of shapes (n_docs, d) and (V, d), or ``[]`` when there
            are no documents or no candidates (as in KeyBERT).

        Raises:
            InputError, InputTypeError: as for :meth:`extract_keywords`.
        """
        documents = as_documents(docs)
        if not documents:
            return []
        found = find_candidates(documents, candidates, keyphrase_ngram_range, stop_words, min_df, vectorizer)
        if found is None:
            return []
        return self._embeddings(documents, found.words, None, None)

    def _embed(self, texts: list[str], what: str) -> np.ndarray:
        return as_embedding_matrix(self.model.embed(texts), len(texts), what)

    def _embeddings(
        self, documents: list[str], words: list[str], doc_embeddings: Any, word_embeddings: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n_docs, d) document and (V, d) candidate embeddings, computed or checked."""
        if word_embeddings is not None and len(word_embeddings) != len(words):
            raise InputError(
                f"word_embeddings has {len(word_embeddings)} rows but there are {len(words)} candidates. Make "
                "them with .extract_embeddings, with the same candidates, keyphrase_ngram_range, stop_words, "
                "min_df and vectorizer as in .extract_keywords."
            )
        if doc_embeddings is None:
            doc_vectors = self._embed(documents, "The document embeddings")
        else:
            doc_vectors = np.asarray(doc_embeddings)
            if doc_vectors.ndim == 1 and len(documents) == 1:
                doc_vectors = doc_vectors.reshape(1, -1)  # (1, d)
            doc_vectors = as_embedding_matrix(doc_vectors, len(documents), "doc_embeddings")
        if word_embeddings is None:
            word_vectors = self._embed(words, "The candidate embeddings")
        else:
            word_vectors = as_embedding_matrix(word_embeddings, len(words), "word_embeddings")
        if doc_vectors.shape[1] != word_vectors.shape[1]:
            raise InputError(
                f"Document embeddings have {doc_vectors.shape[1]} dimensions but candidate embeddings "
                f"{word_vectors.shape[1]}; embed both with the same model."
            )
        return doc_vectors, word_vectors

    def _seed_vectors(self, groups: list[list[str]]) -> np.ndarray:
        """(1, d) mean seed embedding shared by all documents, or (n_docs, d), one per document."""
        flat = [seed for group in groups for seed in group]
        vectors = self._embed(flat, "The seed keyword embeddings")  # (S, d)
        bounds = np.cumsum([0] + [len(group) for group in groups])
        return np.vstack([vectors[start:end].mean(axis=0, keepdims=True) for start, end in itertools.pairwise(bounds)])
