"""Inputs without content are reported (empty= keep | warn | error); truncate_dim is checked like the server's."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sentkit import SentenceTransformer
from sentkit.errors import ConfigurationError, ContentlessInputWarning, InputError
from sentkit.inference.inputs import has_content
from tests.reference import reference_model

TEXTS = ["A real sentence.", "", " ", "\x00", "\u200b", "\ufeff\n\t", "word"]
CONTENTLESS = [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def folder(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contentless")
    return reference_model(hf_checkpoints["bert"], root / "model", dense=True, normalize=True)  # 16 dimensions


def _reports(call: Callable[[], Any]) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, ContentlessInputWarning)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", False),
        (" \t\n", False),
        ("\x00\x1f", False),
        ("\u200b\u200c\u200d\u2060", False),
        ("\ufeff", False),
        ("\xad", False),
        ("a", True),
        ("  a  ", True),
        ("\u200bword", True),
        ("。", True),
        ("🙂", True),
    ],
)
def test_has_content(text: str, expected: bool) -> None:
    assert has_content(text) is expected


def test_contentless_inputs_keep_the_reference_vectors_after_one_warning(folder: Path) -> None:
    from sentence_transformers import SentenceTransformer as Reference

    model = SentenceTransformer(str(folder), device="cpu")
    embeddings, reports = _reports(lambda: model.encode(TEXTS))
    assert len(reports) == 1
    assert str(CONTENTLESS) in str(reports[0].message)
    assert reports[0].filename == __file__  # points at the caller
    np.testing.assert_allclose(embeddings, Reference(str(folder), device="cpu").encode(TEXTS), atol=1e-5)
    kept, quiet = _reports(lambda: model.encode(TEXTS, empty="keep"))
    assert quiet == []
    np.testing.assert_array_equal(kept, embeddings)
    with pytest.raises(InputError, match=r"indices \[1, 2, 3, 4, 5\] have no content"):
        model.encode(TEXTS, empty="error")
    with pytest.raises(InputError, match="empty='sometimes'"):
        model.encode(TEXTS, empty="sometimes")
    _, none = _reports(lambda: model.encode(["fine", "also fine"]))
    assert none == []


def test_many_contentless_inputs_are_summarised(folder: Path) -> None:
    model = SentenceTransformer(str(folder), device="cpu")
    with pytest.raises(InputError, match=r"\[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\] and 15 more"):
        model.encode([""] * 25, empty="error")


def test_sparse_and_onnx_encoders_report_them_too(folder: Path, tmp_path: Path) -> None:
    from sentkit import SparseEncoder
    from tests.tiny_models import build_masked_lm

    sparse = SparseEncoder(str(build_masked_lm(tmp_path / "mlm")), device="cpu")
    _, reports = _reports(lambda: sparse.encode(TEXTS))
    assert len(reports) == 1
    with pytest.raises(InputError, match="no content"):
        sparse.encode(TEXTS, empty="error")
    pytest.importorskip("onnxruntime")
    from sentkit import OnnxEncoder

    light = OnnxEncoder.load(str(folder))
    _, reports = _reports(lambda: light.encode(TEXTS))
    assert len(reports) == 1
    with pytest.raises(InputError, match="no content"):
        light.encode(TEXTS, empty="error")


@pytest.mark.parametrize("value", [0, -1, 17, 1000, 2.5, True, "8"])
def test_truncate_dim_outside_the_model_is_refused(folder: Path, value: object) -> None:
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.get_sentence_embedding_dimension() == 16
    with pytest.raises(ConfigurationError, match=r"in 1\.\.16 \(this model's embeddings have 16 dimensions\)"):
        model.encode(["a"], truncate_dim=value)
    with pytest.raises(ConfigurationError, match="16 dimensions"):
        SentenceTransformer(str(folder), device="cpu", truncate_dim=value)  # type: ignore[arg-type]


def test_truncate_dim_within_the_model_works(folder: Path) -> None:
    model = SentenceTransformer(str(folder), device="cpu", truncate_dim=4)
    assert model.encode(["a", "b"]).shape == (2, 4)
    assert model.encode(["a"], truncate_dim=16).shape == (1, 16)
    assert model.encode(["a"], truncate_dim=1).shape == (1, 1)
    assert model.encode(["a"], truncate_dim=np.int64(8)).shape == (1, 8)  # numpy ints are ints
    pytest.importorskip("onnxruntime")
    from sentkit import OnnxEncoder

    light = OnnxEncoder.load(str(folder))
    assert light.encode(["a"], truncate_dim=16).shape == (1, 16)
    with pytest.raises(ConfigurationError, match="16 dimensions"):
        light.encode(["a"], truncate_dim=17)
