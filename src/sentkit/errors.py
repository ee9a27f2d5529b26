"""The one exception tree of sentkit.

Every error that sentkit raises on purpose derives from :class:`SentkitError`, so
``except SentkitError`` catches them all. Each class also derives from the builtin that code
written for sentence-transformers would catch (``ValueError``, ``TypeError``, ``OSError``,
``ImportError``), so existing ``except`` clauses keep working::

    SentkitError
    ├── InputError (ValueError)               bad argument or input text: what, where, what to do
    │   ├── InputTypeError (TypeError)        an input item of the wrong type
    │   └── UnencodableTextError              a text that is not valid Unicode (lone surrogate)
    ├── ConfigurationError (ValueError)       a setting that cannot hold (e.g. max_seq_length too large)
    ├── ModelNotFoundError (OSError)          no local folder, cache entry, carrier package or hub repo
    ├── ModelFormatError (ValueError)         a model folder that is broken: names the file and the problem
    │   └── IndexFormatError                  a saved vector index that is truncated, corrupt or too new
    ├── NumericalError (FloatingPointError)   NaN or inf in an output: names the rows
    ├── MissingDependencyError (ImportError)  an optional extra is not installed: names the pip command
    └── WorkerError (RuntimeError)            a multi-process pool worker died or hung: names it

Warnings that something may be wrong without being an error derive from :class:`SentkitWarning`
(a ``UserWarning``)::

    SentkitWarning (UserWarning)
    └── ContentlessInputWarning               inputs with no content: names their indices
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ContentlessInputWarning",
    "IndexFormatError",
    "InputError",
    "InputTypeError",
    "MissingDependencyError",
    "ModelFormatError",
    "ModelNotFoundError",
    "NumericalError",
    "SentkitError",
    "SentkitWarning",
    "UnencodableTextError",
    "WorkerError",
]


class SentkitError(Exception):
    """Root of every error sentkit raises on purpose."""


class InputError(SentkitError, ValueError):
    """An argument or an input text that sentkit cannot use."""


class InputTypeError(InputError, TypeError):
    """An input item whose type is not accepted (for example ``None`` in a list of texts)."""


class UnencodableTextError(InputError):
    """A text that cannot be encoded as UTF-8; ``index`` is its position in the input."""

    def __init__(self, index: int) -> None:
        super().__init__(
            f"Text at index {index} cannot be encoded as UTF-8 (it holds a lone surrogate or similar); "
            "clean it, e.g. text.encode('utf-8', 'replace').decode('utf-8')."
        )
        self.index = index


class ConfigurationError(SentkitError, ValueError):
    """A setting that cannot hold for this model."""


class ModelNotFoundError(SentkitError, OSError):
    """The model could be found neither locally, in the cache, in a carrier package nor on the hub."""


class ModelFormatError(SentkitError, ValueError):
    """A model folder that is incomplete or corrupt."""


class IndexFormatError(ModelFormatError):
    """A saved :class:`~sentkit.index.VectorIndex` file that is truncated, corrupt (checksum
    mismatch), not an index at all, or written in a newer format version; names the file."""


class NumericalError(SentkitError, FloatingPointError):
    """A model output that holds NaN or infinite values."""


class MissingDependencyError(SentkitError, ImportError):
    """An optional dependency is missing; the message names the pip command that installs it."""


class WorkerError(SentkitError, RuntimeError):
    """A multi-process pool worker died, hung past the pool's timeout, or raised an error that
    cannot be sent back; the message names the worker (name, pid, device) and its chunk."""


class SentkitWarning(UserWarning):
    """Root of every warning sentkit issues."""


class ContentlessInputWarning(SentkitWarning):
    """Inputs that are empty or hold only whitespace, control or zero-width characters.

    They still get an embedding (the one of an empty input, as in sentence-transformers), which
    is the same for all of them and rarely what the caller meant.
    """
