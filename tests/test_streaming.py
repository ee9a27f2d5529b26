"""encode_to_disk: shards on disk, a memory-mapped reader, and exact resume after kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sentkit import SentenceTransformer
from sentkit.errors import ConfigurationError, InputError, InputTypeError
from sentkit.inference import streaming
from sentkit.inference.streaming import encode_to_disk, iter_lines
from sentkit.io.embeddings_reader import EmbeddingReader, open_embeddings
from sentkit.io.model_identity import model_fingerprint
from tests.reference import TEXTS

SUBPROCESS_TIMEOUT = 240.0
LINES = [f"line {i}: {TEXTS[i % len(TEXTS)][:60]} ünïcode {i % 17}" for i in range(1200)]
LINES[5] = ""  # an empty line is a row too
LINES[6] = "tab\tinside"


@pytest.fixture(scope="module")
def model(hf_checkpoints: dict[str, Path]) -> SentenceTransformer:
    return SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")


@pytest.fixture(scope="module")
def expected(model: SentenceTransformer) -> np.ndarray:
    return model.encode(LINES)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


STREAM_SCRIPT = """
import sys, time
from sentkit import SentenceTransformer
from sentkit.inference.streaming import encode_to_disk, iter_lines

model = SentenceTransformer(sys.argv[1], device="cpu")

def slowly(lines):  # a slow source, so that the kill lands mid-run
    for line in lines:
        time.sleep(0.002)
        yield line

encode_to_disk(model, slowly(iter_lines(sys.argv[2])), sys.argv[3], shard_size=50)
print("DONE", flush=True)
"""


def _manifest_rows(folder: Path) -> int:
    try:
        return int(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["rows"])
    except (OSError, ValueError, KeyError):
        return 0


def _run_until_killed(command: list[str], folder: Path, rows: int, pause: float) -> None:
    """Run ``command`` (which encodes into ``folder``) until ``rows`` rows are committed, let it go on
    for ``pause`` seconds (so the kill lands anywhere: tokenizing, encoding, writing a shard or the
    manifest), then SIGKILL its process group."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while _manifest_rows(folder) < rows and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(pause)
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    assert b"DONE" not in stdout


def test_kill_9_at_several_points_then_resume_loses_and_repeats_no_row(
    model: SentenceTransformer, expected: np.ndarray, corpus: Path, tmp_path: Path, hf_checkpoints: dict[str, Path]
) -> None:
    folder = tmp_path / "store"
    script = tmp_path / "stream.py"
    script.write_text(STREAM_SCRIPT, encoding="utf-8")
    command = [sys.executable, str(script), str(hf_checkpoints["bert"]), str(corpus), str(folder)]
    chooser = random.Random(7)
    points = sorted(chooser.sample(range(60, 1000), 3))  # rows committed before each kill
    inode_before = None
    for point in points:  # each run resumes what the previous one left
        before = _manifest_rows(folder)
        _run_until_killed(command, folder, max(point, before + 1), pause=chooser.uniform(0.0, 0.15))
        assert before <= _manifest_rows(folder) < len(LINES)
        if inode_before is None:
            inode_before = (folder / "embeddings-00000.npy").stat().st_ino

    reader = encode_to_disk(model, iter_lines(corpus), folder, shard_size=50)

    assert (folder / "embeddings-00000.npy").stat().st_ino == inode_before  # committed shards kept, not redone
    assert len(reader) == len(LINES)
    assert reader.complete
    assert list(reader.texts) == LINES  # every row exactly once, in input order
    np.testing.assert_allclose(np.asarray(reader), expected, atol=1e-5, rtol=0)


def test_a_crash_between_shard_and_commit_is_redone_once(
    model: SentenceTransformer, expected: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = streaming.write_manifest
    calls = []

    def crash_on_fourth_commit(folder: Path, manifest: dict) -> None:
        calls.append(manifest["rows"])
        if len(calls) == 4:  # the start, shards 0 and 1 committed; shard 2 is on disk but not listed
            raise KeyboardInterrupt
        real_write(folder, manifest)

    monkeypatch.setattr(streaming, "write_manifest", crash_on_fourth_commit)
    with pytest.raises(KeyboardInterrupt):
        encode_to_disk(model, LINES[:500], tmp_path, shard_size=100)
    monkeypatch.undo()
    assert (tmp_path / "embeddings-00002.npy").exists()
    (tmp_path / "embeddings-00009.npy.tmp").write_bytes(b"half a file")
    assert len(EmbeddingReader(tmp_path)) == 200

    reader = encode_to_disk(model, LINES[:500], tmp_path, shard_size=100)
    assert not list(tmp_path.glob("*.tmp"))
    assert [shard["index"] for shard in reader.manifest["shards"]] == [0, 1, 2, 3, 4]
    assert list(reader.texts) == LINES[:500]
    np.testing.assert_allclose(reader[:], expected[:500], atol=1e-5, rtol=0)


def test_resume_checks_input_model_and_settings(model: SentenceTransformer, tmp_path: Path) -> None:
    encode_to_disk(model, LINES[:120], tmp_path, shard_size=50)
    with pytest.raises(ConfigurationError, match="differ"):
        encode_to_disk(model, ["other", *LINES[1:120]], tmp_path, shard_size=50)
    with pytest.raises(ConfigurationError, match="normalize_embeddings: stored"):
        encode_to_disk(model, LINES[:120], tmp_path, shard_size=50, normalize_embeddings=True)
    with pytest.raises(ConfigurationError, match="store_texts"):
        encode_to_disk(model, LINES[:120], tmp_path, shard_size=50, store_texts=False)
    with pytest.raises(ConfigurationError, match="longer input"):
        encode_to_disk(model, LINES[:10], tmp_path, shard_size=50)
    restarted = encode_to_disk(model, LINES[:30], tmp_path, resume=False, normalize_embeddings=True)
    assert len(restarted) == 30
    assert restarted.model["normalized"] is True
    np.testing.assert_allclose(np.linalg.norm(restarted[:], axis=1), 1.0, atol=1e-5)
    grown = encode_to_disk(model, LINES[:80], tmp_path, shard_size=50, normalize_embeddings=True)
    assert list(grown.texts) == LINES[:80]  # a finished run resumes with the rows added to the input


def test_reader_api(model: SentenceTransformer, expected: np.ndarray, tmp_path: Path) -> None:
    reader = encode_to_disk(model, iter(LINES[:230]), tmp_path, shard_size=100, batch_size=16)
    assert isinstance(reader, EmbeddingReader)
    assert len(reader.shard_rows) == 3
    assert reader.shape == (230, 32)
    assert reader.dtype == np.float32
    np.testing.assert_allclose(reader[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(reader[-1], expected[229], atol=1e-5)
    np.testing.assert_allclose(reader[95:105], expected[95:105], atol=1e-5)  # across a shard boundary
    np.testing.assert_allclose(reader[[229, 0, 150]], expected[[229, 0, 150]], atol=1e-5)
    mask = np.zeros(230, dtype=bool)
    mask[[3, 199]] = True
    np.testing.assert_allclose(reader[mask], expected[[3, 199]], atol=1e-5)
    assert sum(1 for _ in reader) == 230
    assert [len(batch) for batch in reader.iter_batches(64)] == [64, 36, 64, 36, 30]
    assert reader.texts[101] == LINES[101]
    assert reader.texts[-1] == LINES[229]
    assert reader.texts[5] == ""
    assert reader.texts[98:102] == LINES[98:102]
    assert reader.model["fingerprint"] == model_fingerprint(model)
    assert reader.model["dimension"] == 32
    assert reader.model["precision"] == "float32"
    assert isinstance(reader.shard_embeddings(0), np.memmap)
    assert len(open_embeddings(tmp_path)) == 230
    with pytest.raises(IndexError):
        reader[230]
    with pytest.raises(InputTypeError):
        reader["a"]


def test_streaming_options_and_bad_input(model: SentenceTransformer, tmp_path: Path) -> None:
    binary = encode_to_disk(model, LINES[:40], tmp_path / "b", shard_size=15, precision="ubinary", store_texts=False)
    assert binary.shape == (40, 4)
    assert binary.dtype == np.uint8
    assert binary.texts is None
    truncated = encode_to_disk(model, LINES[:10], tmp_path / "t", truncate_dim=8, prompt="query: ")
    np.testing.assert_allclose(truncated[:], model.encode(LINES[:10], truncate_dim=8, prompt="query: "), atol=1e-5)
    empty = encode_to_disk(model, [], tmp_path / "e")
    assert empty.shape == (0, 32)
    assert empty.complete
    with pytest.raises(InputError, match="int8"):
        encode_to_disk(model, LINES[:3], tmp_path / "x", precision="int8")
    with pytest.raises(InputError, match="shard_size"):
        encode_to_disk(model, LINES[:3], tmp_path / "x", shard_size=0)
    with pytest.raises(InputTypeError):
        encode_to_disk(model, "one string", tmp_path / "x")
    with pytest.raises(InputTypeError, match="index 12"):
        encode_to_disk(model, [*LINES[:12], 7], tmp_path / "y", shard_size=5)
    with pytest.raises(InputError, match="unexpected keyword"):
        encode_to_disk(model, LINES[:3], tmp_path / "z", nonsense=True)
