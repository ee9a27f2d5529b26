from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.tiny_models import BUILDERS, build

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Exports, tokenizer snapshots and file hashes go to a cache of this run, not the user's.
if "SENTKIT_CACHE" not in os.environ:
    os.environ["SENTKIT_CACHE"] = tempfile.mkdtemp(prefix="sentkit-test-cache-")
    atexit.register(shutil.rmtree, os.environ["SENTKIT_CACHE"], True)

SHARED_DATA = Path(os.environ.get("SENTKIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FAMILIES = sorted(BUILDERS)


@pytest.fixture(scope="session")
def hf_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny plain Hugging Face checkpoint per model family, built once per session."""
    root = tmp_path_factory.mktemp("hf")
    return {family: build(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def stsb_path() -> Path:
    path = SHARED_DATA / "stsb" / "sts-test.csv"
    if not path.is_file():
        pytest.skip(f"STS-B data not found at {path}")
    return path


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models train faster on one thread, and the runs stay comparable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def snapshot_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh sentkit cache for one test: the first load of a folder tokenizes with transformers."""
    monkeypatch.setenv("SENTKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
