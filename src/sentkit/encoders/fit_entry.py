"""``model.fit(...)`` without the encoders importing the trainers.

The classic fit API lives in :mod:`sentkit.train.fit`, which the inference core never imports.
The package publishes its functions as entry points of the ``sentkit.fit`` group
(``pyproject.toml``), one per model class; :func:`fit_function` looks the class up there, so the
trainers load only when ``fit`` is called, and another package can provide ``fit`` the same way
for a model class of its own (sentkit's entry point wins where both name a class).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from sentkit.errors import MissingDependencyError

GROUP = "sentkit.fit"


def fit_function(model_class: str) -> Callable[..., None]:
    """The ``fit`` implementation registered for ``model_class`` (e.g. ``"SentenceTransformer"``),
    sentkit's own before another package's.

    Raises:
        MissingDependencyError: none is registered: sentkit runs from a source tree that pip did not
            install (so its package metadata, which holds the entry points, is missing).
    """
    found = sorted(
        entry_points(group=GROUP, name=model_class), key=lambda point: not point.value.startswith("sentkit.")
    )
    if not found:
        raise MissingDependencyError(
            f"{model_class}.fit is not available: no '{GROUP}' entry point names it, which happens when sentkit "
            "runs from a source tree that pip did not install. Install it: pip install -e '.[train]'."
        )
    function: Callable[..., None] = found[0].load()
    return function
