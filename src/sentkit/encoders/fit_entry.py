"""``model.fit(...)`` without the encoders importing the trainers.

The classic fit API lives in :mod:`sentkit.train.fit`, which the inference core never imports.
The package publishes its functions as entry points of the ``sentkit.fit`` group
(``pyproject.toml``), one per model class; :func:`fit_function` looks the class up there, so the
trainers load only when ``fit`` is called, and another package can provide ``fit`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from sentkit.errors import MissingDependencyError

GROUP = "sentkit.fit"


def fit_function(model_class: str) -> Callable[..., None]:
    """The ``fit`` implementation registered for ``model_class`` (e.g. ``"SentenceTransformer"``).

    Raises:
        MissingDependencyError: no package provides it (sentkit installed without its metadata,
            e.g. from a copied source tree), or the training dependencies are missing.
    """
    found = entry_points(group=GROUP, name=model_class)
    if not found:
        raise MissingDependencyError(
            f"{model_class}.fit is not available: no '{GROUP}' entry point names it. "
            "Install sentkit with pip (pip install 'sentkit[train]') rather than using a copy of its sources."
        )
    function: Callable[..., None] = next(iter(found)).load()
    return function
