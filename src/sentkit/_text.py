"""Text preparation shared by the tokenizers of both engines (no torch, no transformers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# A text longer than max_length * this many characters is cut before tokenizing (see text_head).
_CHARS_PER_TOKEN_BOUND = 12
# Tokens the cut head must hold beyond max_length, so boundary effects cannot reach kept tokens.
_TOKEN_MARGIN = 16


def text_head(
    text: str, max_length: int, count_tokens: Callable[[str], int], truncated_ids: Callable[[str], list[int]]
) -> str:
    """A prefix of ``text`` that tokenizes to the same first ``max_length`` tokens.

    The whole text is never tokenized when it is far longer than the model can take: the text is
    cut at a whitespace that lies beyond ``max_length + margin`` tokens. Two cuts at different
    places must agree on the kept tokens (tokenization is local to words for the tokenizers in
    use; the check guards the rest); otherwise the full text is used. ``count_tokens`` counts
    tokens without special tokens; ``truncated_ids`` gives the ids kept of a text.
    """
    limit = max_length * _CHARS_PER_TOKEN_BOUND
    while limit < len(text):
        cut = text.rfind(" ", limit // 2, limit)
        if cut > 0 and count_tokens(text[:cut]) >= max_length + _TOKEN_MARGIN:
            longer = text.rfind(" ", limit, 2 * limit)
            if longer < 0:
                return text
            if truncated_ids(text[:cut]) == truncated_ids(text[:longer]):
                return text[:cut]
            return text
        limit *= 2
    return text


def first_unencodable(texts: list[Any]) -> int | None:
    """Index of the first input that cannot be UTF-8 encoded (a lone surrogate), or None."""
    for index, item in enumerate(texts):
        parts = item if isinstance(item, tuple) else (item,)
        for part in parts:
            try:
                part.encode("utf-8")
            except UnicodeEncodeError:
                return index
    return None
