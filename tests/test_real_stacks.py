"""KeyBERT on the real flair and TF-Hub (Universal Sentence Encoder) stacks, in their own environment.

flair pins ``transformers<5``, so the two stacks live in ``.venv-stacks`` (built by ``make stacks``,
which ``make test`` runs: ``tests/stacks/build_env.sh``). ``tests/stacks/keybert_stacks.py`` runs
there, builds tiny models, and compares sentkit's ``KeyBERT`` with the keybert package's on the same
model object. A stack that could not be installed is skipped with the reason the build recorded.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / ".venv-stacks"
SCRIPT = ROOT / "tests" / "stacks" / "keybert_stacks.py"
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def status() -> dict[str, Any]:
    path = STACKS / "status.json"
    if not path.is_file():
        pytest.skip(f"No stacks environment at {STACKS}: build it with `make stacks` (make test does).")
    recorded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if not recorded["sentkit"]["installed"]:
        pytest.skip(f"sentkit could not be installed in {STACKS}: {recorded['sentkit']['why']} (delete it to retry)")
    return recorded


@pytest.fixture(scope="module")
def reports(status: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    work = tmp_path_factory.mktemp("stacks")
    result = subprocess.run(
        [str(STACKS / "bin" / "python"), str(SCRIPT), str(work)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={"PATH": "/usr/bin:/bin", "HOME": str(work), "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the stack script printed no report (exit {result.returncode}): {result.stderr[-3000:]}"
    return {line["stack"]: line for line in lines}


@pytest.mark.parametrize("stack", ["flair", "tf-hub"])
def test_keywords_equal_the_keybert_package_on_the_real_stack(
    status: dict[str, Any], reports: dict[str, dict[str, str]], stack: str
) -> None:
    if not status[stack]["installed"]:
        pytest.skip(f"{stack} could not be installed here: {status[stack]['why']} (delete {STACKS} to try again)")
    report = reports[stack]
    assert report["status"] == "passed", report["detail"]
