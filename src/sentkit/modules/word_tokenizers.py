"""Word-level tokenizers for WordEmbeddings and BoW: text -> vocabulary ids.

They follow sentence-transformers' ``WhitespaceTokenizer`` and ``PhraseTokenizer``: the same
splitting, stop words, case and punctuation fallbacks, and the same saved files, so folders move
between the two libraries.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from sentkit._optional import require
from sentkit.errors import ModelFormatError
from sentkit.io.files import read_json_object, write_json


@cache
def english_stop_words() -> frozenset[str]:
    """The default stop words (see ``data/README.md`` for their sources)."""
    path = Path(__file__).with_name("data") / "english_stop_words.txt"
    return frozenset(path.read_text(encoding="utf-8").split("\n")[:-1])


class WordTokenizer:
    """Base of the word tokenizers: a vocabulary, and ``tokenize(text) -> list of ids``."""

    config_file_name: ClassVar[str] = ""

    def __init__(
        self, vocab: Iterable[str] = (), stop_words: Iterable[str] | None = None, do_lower_case: bool = False
    ) -> None:
        self.stop_words = set(english_stop_words() if stop_words is None else stop_words)
        self.do_lower_case = do_lower_case
        self.set_vocab(vocab)

    def set_vocab(self, vocab: Iterable[str]) -> None:
        self.vocab = list(vocab)
        self.word2idx = {word: index for index, word in enumerate(self.vocab)}

    def get_vocab(self) -> list[str]:
        return self.vocab

    def tokenize(self, text: str, **kwargs: Any) -> list[int]:
        raise NotImplementedError

    def _lookup(self, token: str, order: tuple[str, ...]) -> int | None:
        """Id of ``token`` trying, in ``order``, the token as is, stripped of punctuation, lowercased.

        A form that is a stop word ends the search (the token is dropped), as in the reference.
        """
        for step in order:
            if step == "strip":
                token = token.strip(string.punctuation)
            elif step == "lower":
                token = token.lower()
            if token in self.stop_words:
                return None
            if token and token in self.word2idx:
                return self.word2idx[token]
        return None

    def get_config(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "stop_words": sorted(self.stop_words), "do_lower_case": self.do_lower_case}

    def save(self, folder: str | Path) -> None:
        write_json(Path(folder) / self.config_file_name, self.get_config())

    @classmethod
    def load(cls, folder: str | Path) -> WordTokenizer:
        path = Path(folder) / cls.config_file_name
        if not path.is_file():
            raise ModelFormatError(f"{path} is missing: the {cls.__name__} cannot be rebuilt without it.")
        return cls(**read_json_object(path))


class WhitespaceTokenizer(WordTokenizer):
    """Split on whitespace; look each token up as is, without punctuation, then lowercased."""

    config_file_name: ClassVar[str] = "whitespacetokenizer_config.json"

    def tokenize(self, text: str, **kwargs: Any) -> list[int]:
        if self.do_lower_case:
            text = text.lower()
        ids = (self._lookup(token, ("as_is", "strip", "lower")) for token in text.split())
        return [index for index in ids if index is not None]


class PhraseTokenizer(WordTokenizer):
    """Like WhitespaceTokenizer, but words are split by NLTK and vocabulary phrases (``New_York``) merged.

    Needs ``nltk`` (``pip install nltk``).
    """

    config_file_name: ClassVar[str] = "phrasetokenizer_config.json"

    def __init__(
        self,
        vocab: Iterable[str] = (),
        stop_words: Iterable[str] | None = None,
        do_lower_case: bool = False,
        ngram_separator: str = "_",
        max_ngram_length: int = 5,
    ) -> None:
        self.ngram_separator = ngram_separator
        self.max_ngram_length = max_ngram_length
        super().__init__(vocab, stop_words, do_lower_case)

    def set_vocab(self, vocab: Iterable[str]) -> None:
        super().set_vocab(vocab)
        separator = self.ngram_separator
        self.ngram_lookup = {
            word
            for word in self.vocab
            if separator in word and separator * 2 not in word and word.count(separator) + 1 <= self.max_ngram_length
        }
        self.ngram_lengths = {word.count(separator) + 1 for word in self.ngram_lookup}

    def tokenize(self, text: str, **kwargs: Any) -> list[int]:
        nltk_tokenize = require("nltk.tokenize", "phrases", "PhraseTokenizer")
        tokens = nltk_tokenize.word_tokenize(text, preserve_line=True)
        for length in sorted(self.ngram_lengths, reverse=True):
            position = 0
            while position <= len(tokens) - length:
                ngram = self.ngram_separator.join(tokens[position : position + length])
                if ngram in self.ngram_lookup:
                    tokens[position : position + length] = [ngram]
                elif ngram.lower() in self.ngram_lookup:
                    tokens[position : position + length] = [ngram.lower()]
                position += 1
        ids = (self._lookup(token, ("as_is", "lower", "strip")) for token in tokens)
        return [index for index in ids if index is not None]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "ngram_separator": self.ngram_separator,
            "max_ngram_length": self.max_ngram_length,
        }


WORD_TOKENIZERS: dict[str, type[WordTokenizer]] = {
    "WhitespaceTokenizer": WhitespaceTokenizer,
    "PhraseTokenizer": PhraseTokenizer,
}
# Import paths sentence-transformers writes for them, readable by all its versions.
REFERENCE_TOKENIZER_PATHS = {
    "WhitespaceTokenizer": "sentence_transformers.models.tokenizer.WhitespaceTokenizer.WhitespaceTokenizer",
    "PhraseTokenizer": "sentence_transformers.models.tokenizer.PhraseTokenizer.PhraseTokenizer",
}


def word_tokenizer_class(type_string: str) -> type[WordTokenizer]:
    """The tokenizer class a saved ``tokenizer_class`` path names (by its last component).

    Raises:
        ModelFormatError: an unknown tokenizer class.
    """
    name = type_string.rsplit(".", 1)[-1]
    if name not in WORD_TOKENIZERS:
        raise ModelFormatError(
            f"Unknown word tokenizer {type_string!r}; known: {', '.join(WORD_TOKENIZERS)}. "
            "Custom tokenizer code is not executed by sentkit."
        )
    return WORD_TOKENIZERS[name]
