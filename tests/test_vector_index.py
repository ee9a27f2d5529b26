"""sentkit.index.VectorIndex: exact search against the reference ``semantic_search``, quantized storage
and rescoring, ids and metadata, the usearch and faiss engines, atomic saves (a real process killed
mid-save), truncated and corrupt files, ``sentkit search --index``, the server's ``/search``, and
recall@10 of the approximate engines on real all-MiniLM-L6-v2 embeddings."""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sentkit.errors import IndexFormatError, InputError, MissingDependencyError, ModelFormatError
from sentkit.index import ENGINES, VectorIndex

ROOT = Path(__file__).resolve().parent.parent
DIM = 24
RANDOM = np.random.default_rng(7)
CORPUS = RANDOM.normal(size=(400, DIM)).astype(np.float32)
QUERIES = RANDOM.normal(size=(30, DIM)).astype(np.float32)
LIBRARIES = {"usearch": "usearch.index", "faiss": "faiss"}
REAL_SENTENCES = 1200  # STS-B sentences the slow recall test embeds (~35 CPU-s): 1,000 corpus, 200 queries


def clustered(count: int, seed: int, dim: int = DIM) -> np.ndarray:
    """Points around 40 centres: neighbourhoods like those of real embeddings (random data has none)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    return (centres[rng.integers(0, 40, count)] + 0.6 * rng.normal(size=(count, dim))).astype(np.float32)


def need(engine: str) -> None:
    if engine in LIBRARIES:
        pytest.importorskip(LIBRARIES[engine])


def ids_of(results: list[list[Any]]) -> list[list[Any]]:
    return [[hit["corpus_id"] for hit in hits] for hits in results]


def recall(found: list[list[Any]], truth: list[list[Any]]) -> float:
    """Mean share of each query's true hits that were found."""
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids_of(found), ids_of(truth), strict=True)]))


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------------- search
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_exact_search_equals_the_reference_semantic_search(metric: str) -> None:
    import torch
    from sentence_transformers import util as reference

    function = {"cosine": reference.cos_sim, "dot": reference.dot_score, "euclidean": reference.euclidean_sim}[metric]
    index = VectorIndex(DIM, metric=metric)
    index.add(CORPUS)
    got = index.search(QUERIES, top_k=7)
    want = reference.semantic_search(
        torch.from_numpy(QUERIES), torch.from_numpy(CORPUS), top_k=7, score_function=function
    )
    assert ids_of(got) == ids_of(want)
    for hits, expected in zip(got, want, strict=True):
        assert np.allclose([h["score"] for h in hits], [h["score"] for h in expected], atol=1e-4)


def reconstruction(rows: np.ndarray, precision: str, ranges: np.ndarray | None) -> np.ndarray:
    """The documented reconstruction of quantized rows: bucket centres, or mean |x| times the signs."""
    from sentence_transformers.quantization import quantize_embeddings

    if precision.endswith("binary"):
        signs = np.where(rows > 0, 1.0, -1.0)
        return (signs * np.abs(rows).mean(axis=1, keepdims=True)).astype(np.float32)
    assert ranges is not None
    buckets = quantize_embeddings(rows, precision, ranges=ranges).astype(np.float64) + (precision == "int8") * 128
    return (ranges[0] + (buckets + 0.5) * (ranges[1] - ranges[0]) / 255).astype(np.float32)


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_quantized_scores_are_exact_when_rescored_with_floats_and_estimated_otherwise(precision: str) -> None:
    from sentkit.util import dot_score, semantic_search

    corpus, queries = clustered(500, 1), clustered(20, 2)
    plain = VectorIndex(DIM, precision=precision)
    plain.add(corpus)
    if precision.endswith("int8"):  # ranges from the first add: min and max of the normalised rows
        assert np.allclose(plain.ranges, [unit(corpus).min(axis=0), unit(corpus).max(axis=0)])
    estimated = semantic_search(
        unit(queries), reconstruction(unit(corpus), precision, plain.ranges), top_k=5, score_function=dot_score
    )
    got = plain.search(queries, top_k=5)
    assert ids_of(got) == ids_of(estimated)
    for hits, expected in zip(got, estimated, strict=True):
        assert np.allclose([h["score"] for h in hits], [h["score"] for h in expected], atol=1e-5)

    kept = VectorIndex(DIM, precision=precision, keep_float=True)
    kept.add(corpus)
    rescored = kept.search(queries, top_k=5)
    for hits, query in zip(rescored, unit(queries), strict=True):
        exact = [float(unit(corpus)[hit["corpus_id"]] @ query) for hit in hits]
        assert np.allclose([h["score"] for h in hits], exact, atol=1e-5)
    truth = VectorIndex(DIM)
    truth.add(corpus)
    assert recall(rescored, truth.search(queries, top_k=5)) >= recall(got, truth.search(queries, top_k=5))


@pytest.mark.parametrize("engine", ["usearch", "faiss"])
@pytest.mark.parametrize("precision", ["float32", "int8", "ubinary"])
def test_approximate_engines_find_the_exact_neighbours(engine: str, precision: str) -> None:
    need(engine)
    corpus, queries = clustered(1200, 3), clustered(60, 4)
    exact = VectorIndex(DIM)
    exact.add(corpus)
    truth = exact.search(queries, top_k=10)
    index = VectorIndex(DIM, engine=engine, precision=precision, keep_float=True)
    index.add(corpus[:600])
    index.search(queries[:1])  # the graph is built here, then grows with the next add
    index.add(corpus[600:])
    found = index.search(queries, top_k=10)
    plain = index.search(queries, top_k=10, rescore=False)
    if precision != "ubinary":  # sign bits of 24 dimensions say little; real embeddings: the slow test
        assert recall(found, truth) >= 0.9
    assert recall(found, truth) >= recall(plain, truth)
    for hits, query in zip(found, unit(queries), strict=True):  # rescored with the floats: exact cosines
        assert np.allclose([h["score"] for h in hits], [float(unit(corpus)[h["corpus_id"]] @ query) for h in hits])


# ----------------------------------------------------------------------------------- ids, metadata, input
def test_ids_metadata_and_the_shape_of_results() -> None:
    import torch

    index = VectorIndex(DIM)
    assert index.search(QUERIES[:2]) == [[], []]
    assert index.add(np.zeros((0, DIM), dtype=np.float32)) == []
    assert index.add(CORPUS[:3]) == [0, 1, 2]
    assert index.add(CORPUS[3:5], ids=["a", "b"], metadata=[{"text": "x", "tags": [1]}, None]) == ["a", "b"]
    assert index.add(CORPUS[5:6], ids=[np.int64(10)]) == [10]
    assert index.add(torch.from_numpy(CORPUS[6:8])) == [11, 12]  # numbered after the largest int id
    assert len(index) == 8
    assert "a" in index
    assert 10 in index
    assert 3 not in index
    assert index.ids == [0, 1, 2, "a", "b", 10, 11, 12]
    (hits,) = index.search(CORPUS[3], top_k=100)  # one query (D,); top_k past the size
    assert len(hits) == 8
    assert hits[0] == {"corpus_id": "a", "score": pytest.approx(1.0, abs=1e-5), "metadata": {"text": "x", "tags": [1]}}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert all(isinstance(h["score"], float) for h in hits)


def test_bad_input_raises_input_error_and_changes_nothing() -> None:
    index = VectorIndex(DIM)
    index.add(CORPUS[:4], ids=["a", "b", "c", "d"])
    mistakes = [
        (lambda: index.add(CORPUS[:2], ids=["x", "x"]), "repeat"),
        (lambda: index.add(CORPUS[:1], ids=["a"]), "already in the index"),
        (lambda: index.add(CORPUS[:1], ids=[True]), "ints or strings"),
        (lambda: index.add(CORPUS[:2], ids=["x"]), "list of 2"),
        (lambda: index.add(CORPUS[:, :5]), "24-dimensional"),
        (lambda: index.add(np.full((2, DIM), np.nan, dtype=np.float32)), "NaN"),
        (lambda: index.add(np.ones((2, DIM), dtype=np.int8)), "float embeddings"),
        (lambda: index.add(CORPUS[:1], metadata=[{"when": object()}]), "JSON"),
        (lambda: index.add(CORPUS[:1], metadata=[{1: "x"}]), "str keys"),
        (lambda: index.search(QUERIES, top_k=0), "top_k"),
        (lambda: index.remove(["a", "missing"]), "not in the index"),
        (lambda: VectorIndex(DIM, metric="manhattan"), "metric"),
        (lambda: VectorIndex(DIM, precision="int4"), "precision"),
        (lambda: VectorIndex(0), "dimension"),
        (lambda: VectorIndex(DIM, precision="int8").add(CORPUS[:1]), "at least 2"),
        (lambda: VectorIndex(DIM, precision="int8", ranges=np.zeros((3, DIM))), "ranges"),
    ]
    for call, message in mistakes:
        with pytest.raises(InputError, match=message):
            call()
    assert index.ids == ["a", "b", "c", "d"]
    assert ids_of(index.search(CORPUS[:4], top_k=1)) == [["a"], ["b"], ["c"], ["d"]]


@pytest.mark.parametrize("engine", ENGINES)
def test_removed_rows_are_never_found_again(engine: str) -> None:
    need(engine)
    corpus, queries = clustered(600, 5), clustered(30, 6)
    ids = [f"d{i}" for i in range(len(corpus))]
    index = VectorIndex(DIM, engine=engine)
    index.add(corpus, ids=ids)
    index.search(queries[:1])  # a built graph, which removal must invalidate
    gone = set(ids[::3]) | {"d1"}
    index.remove(ids[::3])
    index.remove("d1")
    assert len(index) == len(corpus) - len(gone)
    found = index.search(queries, top_k=20)
    assert not gone & {hit for hits in ids_of(found) for hit in hits}
    kept = [i for i, name in enumerate(ids) if name not in gone]
    fresh = VectorIndex(DIM)
    fresh.add(corpus[kept], ids=[ids[i] for i in kept])
    assert recall(found, fresh.search(queries, top_k=20)) >= (1.0 if engine == "exact" else 0.9)
    index.add(corpus[:1], ids=["d0"])  # a removed id may come back
    assert ids_of(index.search(corpus[0], top_k=1)) == [["d0"]]


# ----------------------------------------------------------------------------------- files
@pytest.mark.parametrize(
    ("engine", "precision", "keep_float", "metric"),
    [
        ("exact", "float32", False, "cosine"),
        ("exact", "uint8", True, "euclidean"),
        ("usearch", "int8", True, "cosine"),
        ("usearch", "binary", False, "dot"),
        ("faiss", "float32", False, "dot"),
        ("faiss", "uint8", False, "euclidean"),
        ("faiss", "ubinary", True, "cosine"),
    ],
)
def test_save_and_load_give_the_same_index(
    engine: str, precision: str, keep_float: bool, metric: str, tmp_path: Path
) -> None:
    need(engine)
    corpus, queries = clustered(500, 7), clustered(20, 8)
    index = VectorIndex(DIM, metric, engine, precision, keep_float=keep_float, info={"model": "tiny"})
    index.add(corpus, ids=[f"d{i}" for i in range(len(corpus))], metadata=[{"n": i} for i in range(len(corpus))])
    before = index.search(queries, top_k=5)
    path = tmp_path / "docs.skidx"
    index.save(path)
    loaded = VectorIndex.load(path)
    assert repr(loaded) == repr(index)
    assert loaded.ids == index.ids
    assert loaded.info == {"model": "tiny"}
    assert (loaded.ranges is None) == (index.ranges is None)
    assert loaded.search(queries, top_k=5) == before  # the same rows and the saved graph
    loaded.add(corpus[:3] * -1, ids=["new-0", "new-1", "new-2"])
    assert ids_of(loaded.search(corpus[1] * -1, top_k=1)) == [["new-1"]]
    scanned = VectorIndex.load(path, engine="exact")  # another engine: built from the stored rows
    assert scanned.engine == "exact"
    assert scanned.ids == index.ids
    VectorIndex(DIM, metric, engine, precision, keep_float=keep_float).save(path)  # an empty index
    empty = VectorIndex.load(path)
    assert len(empty) == 0
    assert empty.search(queries[:2]) == [[], []]
    empty.add(corpus, ids=index.ids)
    assert recall(empty.search(queries, top_k=5), before) >= 0.9


def test_an_unreadable_saved_graph_is_rebuilt_and_a_contradictory_file_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    need("usearch")
    from sentkit.index.storage import read_index_file, write_index_file

    index = VectorIndex(DIM, engine="usearch")
    index.add(CORPUS)
    path = tmp_path / "docs.skidx"
    index.save(path)
    header, sections = read_index_file(path)
    header.pop("sections")
    write_index_file(path, header, {**sections, "engine": b"not a usearch graph"})  # a valid file, a bad graph
    with caplog.at_level(logging.WARNING, logger="sentkit.index"):
        loaded = VectorIndex.load(path)
    assert "rebuilding" in caplog.text
    exact = VectorIndex(DIM)
    exact.add(CORPUS)
    assert recall(loaded.search(QUERIES, top_k=5), exact.search(QUERIES, top_k=5)) >= 0.9
    write_index_file(path, {**header, "count": 5}, sections)
    with pytest.raises(IndexFormatError, match="usable vector index"):
        VectorIndex.load(path)


def test_truncated_or_corrupt_files_raise_a_clear_error(tmp_path: Path) -> None:
    index = VectorIndex(DIM, precision="int8", keep_float=True)
    index.add(CORPUS, ids=[f"d{i}" for i in range(len(CORPUS))], metadata=[{"n": i} for i in range(len(CORPUS))])
    path, bad = tmp_path / "docs.skidx", tmp_path / "bad.skidx"
    index.save(path)
    data = path.read_bytes()

    def refused(content: bytes) -> str:
        bad.write_bytes(content)
        with pytest.raises(IndexFormatError) as caught:
            VectorIndex.load(bad)
        assert str(bad) in str(caught.value)
        return str(caught.value)

    for size in (0, 5, 63, 64, 100, len(data) // 2, len(data) - 1):
        assert "truncated" in refused(data[:size])
    assert "unexpected bytes" in refused(data + b"\0")
    for position in (40, 80, len(data) // 2, len(data) - 1):  # checksum, header, payload, last byte
        flipped = bytearray(data)
        flipped[position] ^= 0x04
        assert "corrupt" in refused(bytes(flipped))
    assert "not a sentkit vector index" in refused(b"PK\x03\x04" + data[4:])
    newer = bytearray(data)
    struct.pack_into("<I", newer, 8, 2)
    assert "version 2" in refused(bytes(newer))
    np.save(tmp_path / "rows.npy", CORPUS)
    with pytest.raises(ModelFormatError, match="not a sentkit vector index"):
        VectorIndex.load(tmp_path / "rows.npy")
    assert issubclass(IndexFormatError, ValueError)
    assert VectorIndex.load(path).ids == index.ids  # the original still loads


KILLED_SAVE = """
import sys
import numpy as np
from sentkit.index import VectorIndex
index = VectorIndex(256, metric="dot")
index.add(np.ones((160_000, 256), dtype=np.float32))  # about 160 MB to write
index.save(sys.argv[1])
"""


def test_a_save_killed_midway_leaves_the_previous_index_intact(tmp_path: Path) -> None:
    path = tmp_path / "docs.skidx"
    original = VectorIndex(DIM, metric="dot")
    original.add(CORPUS[:50], ids=[f"d{i}" for i in range(50)], metadata=[{"n": i} for i in range(50)])
    original.save(path)
    saved = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-c", KILLED_SAVE, str(path)]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as child:
        try:
            partial = _wait_for_partial_file(tmp_path, child)
            os.kill(child.pid, signal.SIGKILL)  # mid-write: the temporary file holds only part of the index
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == -signal.SIGKILL
    assert partial.exists()  # never renamed over the index
    assert path.read_bytes() == saved
    loaded = VectorIndex.load(path)
    assert loaded.ids == original.ids
    assert loaded.search(QUERIES, top_k=5) == original.search(QUERIES, top_k=5)
    if partial.stat().st_size < 160_000 * 256 * 4:
        with pytest.raises(IndexFormatError, match="truncated"):
            VectorIndex.load(partial)
    partial.unlink()


def _wait_for_partial_file(folder: Path, child: subprocess.Popen[bytes]) -> Path:
    """The save's temporary file, as soon as it holds some bytes."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for candidate in folder.glob(".docs.skidx.*.tmp"):
            if candidate.stat().st_size > 0:
                return candidate
        if child.poll() is not None:
            errors = child.stderr.read().decode() if child.stderr else ""
            pytest.fail(f"the saving process ended before it was killed: {errors[-2000:]}")
        time.sleep(0.001)
    pytest.fail("the saving process never started writing")


def test_a_failed_save_leaves_nothing_behind_and_keeps_the_mode(tmp_path: Path) -> None:
    index = VectorIndex(DIM)
    index.add(CORPUS)
    folder = tmp_path / "taken"
    folder.mkdir()
    with pytest.raises(IsADirectoryError):
        index.save(folder)  # a folder cannot be replaced by a file
    with pytest.raises(FileNotFoundError):
        index.save(tmp_path / "missing" / "docs.skidx")
    assert sorted(tmp_path.iterdir()) == [folder]
    assert not list(folder.iterdir())
    path = tmp_path / "docs.skidx"
    path.write_bytes(b"old")
    path.chmod(0o600)
    index.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.skidx", "taken"]


def test_a_missing_engine_library_names_the_extra_and_the_exact_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("usearch")
    index = VectorIndex(DIM, engine="usearch")
    index.add(CORPUS)
    path = tmp_path / "docs.skidx"
    index.save(path)
    monkeypatch.setitem(sys.modules, "usearch.index", None)  # import usearch.index now fails
    with pytest.raises(MissingDependencyError, match=r"sentkit\[index\]"):
        VectorIndex(DIM, engine="usearch")
    with pytest.raises(MissingDependencyError, match="engine='exact'"):
        VectorIndex.load(path)
    exact = VectorIndex(DIM)
    exact.add(CORPUS)
    assert VectorIndex.load(path, engine="exact").search(QUERIES) == exact.search(QUERIES)


# ----------------------------------------------------------------------------------- command and server
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import build

    return build("bert", tmp_path_factory.mktemp("index-model") / "bert")


def _corpus_lines(count: int) -> list[str]:
    from tests.tiny_models import corpus_lines

    return corpus_lines()[:count]


def test_search_command_saves_an_index_and_searches_it(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentkit.cli import main

    corpus = _corpus_lines(40)
    corpus_file, index_path = tmp_path / "corpus.txt", tmp_path / "corpus.skidx"
    corpus_file.write_text("\n".join(corpus) + "\n", encoding="utf-8")
    model = ["-m", str(tiny_model_dir), "--device", "cpu"]
    assert main(["search", "--corpus", str(corpus_file), "--save-index", str(index_path), *model]) == 0
    assert f"Saved a vector index of 40 entries to {index_path}" in capsys.readouterr().err
    queries = ["the weather is nice", "a match in the stadium"]
    assert main(["search", *queries, "--corpus", str(corpus_file), "-k", "3", "--json", *model]) == 0
    from_corpus = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["search", *queries, "--index", str(index_path), "-k", "3", "--json", "--device", "cpu"]) == 0
    from_index = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # the index's own model
    for got, want in zip(from_index, from_corpus, strict=True):
        assert [(h["corpus_id"], h["text"]) for h in got["hits"]] == [(h["corpus_id"], h["text"]) for h in want["hits"]]
        assert np.allclose([h["score"] for h in got["hits"]], [h["score"] for h in want["hits"]], atol=1e-5)
    assert main(["search", "q", "--index", str(index_path), "--corpus", str(corpus_file)]) == 1
    assert "leave out --corpus" in capsys.readouterr().err
    index_path.write_bytes(index_path.read_bytes()[:-10])
    assert main(["search", "q", "--index", str(index_path), *model]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "truncated" in err[0]


def test_server_search_endpoint_uses_a_saved_index(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from sentkit import SentenceTransformer
    from sentkit.cli.serve_cmd import load_indexes
    from sentkit.server import create_app

    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    corpus = _corpus_lines(40)
    index = VectorIndex(model.get_sentence_embedding_dimension(), precision="int8", keep_float=True)
    index.add(model.encode(corpus), metadata=[{"text": text} for text in corpus])
    index.save(tmp_path / "docs.skidx")
    queries = ["the weather is nice", "a match in the stadium"]
    expected = index.search(model.encode(queries), top_k=3)
    other = VectorIndex(5)
    other.add(np.eye(5, dtype=np.float32))
    indexes = {**load_indexes([f"docs={tmp_path / 'docs.skidx'}"]), "other": other}
    with TestClient(create_app({"tiny": model}, indexes=indexes)) as client:
        reply = client.post("/search", json={"inputs": queries, "top_k": 3})
        assert reply.status_code == 200, reply.text
        got = reply.json()
        assert ids_of(got) == ids_of(expected)
        assert [[h["metadata"] for h in hits] for hits in got] == [[h["metadata"] for h in hits] for hits in expected]
        for hits, want in zip(got, expected, strict=True):
            assert np.allclose([h["score"] for h in hits], [h["score"] for h in want], atol=1e-5)
        assert client.post("/search", json={"inputs": "x", "index": "nope"}).status_code == 404
        assert client.post("/search", json={"inputs": "x", "top_k": 0}).status_code == 422
        mismatch = client.post("/search", json={"inputs": "x", "index": "other"})
        assert mismatch.status_code == 400
        assert "5-dimensional" in mismatch.json()["error"]["message"]
        assert [entry["name"] for entry in client.get("/info").json()["indexes"]] == ["docs", "other"]
    with TestClient(create_app({"tiny": model})) as client:
        assert client.post("/search", json={"inputs": "x"}).status_code == 501


# ----------------------------------------------------------------------------------- real embeddings
@pytest.mark.slow
def test_recall_at_10_on_real_embeddings(stsb_path: Path) -> None:
    from sentkit import SentenceTransformer

    with stsb_path.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if len(row) >= 7]
    sentences = list(dict.fromkeys(text for row in rows for text in (row[5], row[6])))[:REAL_SENTENCES]
    embeddings = SentenceTransformer("all-MiniLM-L6-v2", device="cpu").encode(sentences, batch_size=64)
    corpus, queries = embeddings[:-200], embeddings[-200:]
    exact = VectorIndex(corpus.shape[1])
    exact.add(corpus)
    truth = exact.search(queries, top_k=10)
    # (precision, keep_float, least recall@10): float rows; int8 rescored with floats; sign bits rescored
    settings = [("float32", False, 0.95), ("int8", True, 0.95), ("int8", False, 0.9), ("ubinary", True, 0.8)]
    figures = {}
    for engine in [name for name in ("usearch", "faiss") if _importable(LIBRARIES[name])]:
        for precision, keep_float, least in settings:
            index = VectorIndex(corpus.shape[1], engine=engine, precision=precision, keep_float=keep_float)
            index.add(corpus)
            figures[f"{engine} {precision}{' +float' if keep_float else ''}"] = value = recall(
                index.search(queries, top_k=10), truth
            )
            assert value >= least, (engine, precision, keep_float, value)
    if not figures:
        pytest.skip("neither usearch nor faiss is installed")
    print("recall@10:", json.dumps(figures))


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
