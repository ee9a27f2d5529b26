"""Show a document with its keywords marked: styled with rich in a terminal or notebook, plain markup otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

__all__ = ["HIGHLIGHT_STYLE", "highlight_document", "keyword_spans", "mark_plain"]

HIGHLIGHT_STYLE = "black on #FFFF00"
Span = tuple[int, int]  # (start, end) character offsets into the document


def _tokenizer(vectorizer: Any) -> Callable[[str], list[str]]:
    build = getattr(vectorizer, "build_tokenizer", None)
    tokenizer = build() if callable(build) else None
    return tokenizer if callable(tokenizer) else str.split


def _stop_words(vectorizer: Any) -> frozenset[str]:
    get_stop_words = getattr(vectorizer, "get_stop_words", None)
    stop_words = get_stop_words() if callable(get_stop_words) else None
    return frozenset(stop_words or ())


def _token_spans(doc: str, tokens: Sequence[str]) -> list[Span]:
    """Where each token lies in ``doc``, searched left to right; tokens not found there are skipped."""
    spans, cursor = [], 0
    for token in tokens:
        start = doc.find(token, cursor)
        if token and start >= 0:
            spans.append((start, start + len(token)))
            cursor = start + len(token)
    return spans


def keyword_spans(doc: str, keywords: Sequence[str], vectorizer: Any) -> list[Span]:
    """Character spans of ``doc`` that hold one of ``keywords``, longest match first, left to right.

    The document is split into tokens by the vectorizer's tokenizer (the one that produced the
    candidates) and its stop words are left out, as when the candidates were made; an n-gram keyword
    matches n consecutive remaining tokens joined by spaces, ignoring case. A match spans the text
    between its tokens too (a keyword "learning function" marks "learning a function").
    """
    wanted = {keyword.lower() for keyword in keywords}
    longest = max((len(keyword.split()) for keyword in wanted), default=0)
    stop_words = _stop_words(vectorizer)
    fold = str.lower if getattr(vectorizer, "lowercase", True) else str
    spans = [
        span
        for span in _token_spans(doc, _tokenizer(vectorizer)(doc))
        if fold(doc[span[0] : span[1]]) not in stop_words
    ]
    found, index = [], 0
    while index < len(spans):
        for length in range(min(longest, len(spans) - index), 0, -1):
            group = spans[index : index + length]
            if " ".join(doc[start:end] for start, end in group).lower() in wanted:
                found.append((group[0][0], group[-1][1]))
                index += length
                break
        else:
            index += 1
    return found


def mark_plain(doc: str, spans: Sequence[Span], left: str = "**", right: str = "**") -> str:
    """``doc`` with each span wrapped in ``left`` and ``right`` (Markdown bold by default)."""
    parts, cursor = [], 0
    for start, end in spans:
        parts.extend([doc[cursor:start], left, doc[start:end], right])
        cursor = end
    parts.append(doc[cursor:])
    return "".join(parts)


def highlight_document(
    doc: str, keywords: Sequence[tuple[str, float]], vectorizer: Any, file: TextIO | None = None
) -> str:
    """Print ``doc`` with its keywords highlighted and return the plain-markup version (``**keyword**``).

    With ``rich`` installed and a terminal or notebook as output, the keywords are printed in
    ``HIGHLIGHT_STYLE``; otherwise (no rich, output piped to a file) the plain markup is printed.

    Arguments:
        doc: the document.
        keywords: (keyword, score) pairs as ``extract_keywords`` returns them.
        vectorizer: the fitted vectorizer whose tokenizer produced the candidates.
        file: where to print (standard output by default).
    """
    spans = keyword_spans(doc, [keyword for keyword, _ in keywords], vectorizer)
    plain = mark_plain(doc, spans)
    output = file if file is not None else sys.stdout
    try:
        from rich.console import Console
        from rich.text import Text
    except ImportError:
        print(plain, file=output)
        return plain
    console = Console(file=output, highlight=False)
    if not (console.is_terminal or console.is_jupyter):
        print(plain, file=output)
        return plain
    text = Text(doc)
    for start, end in spans:
        text.stylize(HIGHLIGHT_STYLE, start, end)
    console.print(text)
    return plain
