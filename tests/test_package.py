"""The package surface: cheap import, public names, the seed examples with only the import changed."""

from __future__ import annotations

import subprocess
import sys

import sentkit


def test_import_is_lazy() -> None:
    code = "import sys, sentkit; print('torch' in sys.modules, 'transformers' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["False", "False"]


def test_public_names() -> None:
    for name in sentkit.__all__:
        assert getattr(sentkit, name) is not None
    from sentkit.models import Dense, Normalize, Pooling, Transformer  # noqa: F401
    from sentkit.util import cos_sim, semantic_search  # noqa: F401
