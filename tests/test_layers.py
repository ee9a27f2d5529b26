"""The inference core (modules, inference, io, encoders) never imports train, apps or server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from sentkit.encoders.fit_entry import fit_function
from sentkit.errors import MissingDependencyError

SOURCE = Path(__file__).resolve().parents[1] / "src" / "sentkit"
CORE = ("modules", "inference", "io", "encoders")
OUTSIDE_THE_CORE = ("sentkit.train", "sentkit.apps", "sentkit.server")


def _imported_modules(path: Path) -> set[str]:
    """Every sentkit module ``path`` imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("sentkit")}


@pytest.mark.parametrize("package", CORE)
def test_the_core_never_imports_train_apps_or_server(package: str) -> None:
    files = sorted((SOURCE / package).rglob("*.py"))
    assert files
    offending = {
        f"{path.relative_to(SOURCE)} imports {name}"
        for path in files
        for name in _imported_modules(path)
        if name.startswith(OUTSIDE_THE_CORE)
    }
    assert not offending, sorted(offending)


def test_loading_the_encoders_loads_nothing_outside_the_core() -> None:
    """At run time too (an import written as a string would escape the check above)."""
    script = (
        "import sys\n"
        "from sentkit import CrossEncoder, MultiVectorEncoder, OnnxEncoder, SentenceTransformer, SparseEncoder\n"
        "import sentkit.models, sentkit.similarity\n"
        f"print(sorted(name for name in sys.modules if name.startswith({OUTSIDE_THE_CORE!r})))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert loaded.stdout.strip() == "[]"


def test_fit_is_found_through_the_package_entry_points() -> None:
    from sentkit.train.fit import fit_cross_encoder, fit_sentence_transformer

    assert fit_function("SentenceTransformer") is fit_sentence_transformer
    assert fit_function("CrossEncoder") is fit_cross_encoder
    with pytest.raises(MissingDependencyError, match=r"NoSuchModel\.fit"):
        fit_function("NoSuchModel")
