"""The ``sentkit`` command: cheap help, outputs equal to the library's, one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sentkit.cli import main
from tests.reference import TEXTS

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-6
HEAVY = ("torch", "transformers", "numpy", "tqdm", "huggingface_hub", "safetensors", "fastapi", "uvicorn", "sklearn")


def run_cli(*args: str, stdin: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m sentkit ARGS`` in a subprocess (bounded in time), offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "sentkit", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def model_dir(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT checkpoint saved as a sentence-transformers folder by sentkit."""
    from sentkit import SentenceTransformer

    folder = tmp_path_factory.mktemp("cli") / "tiny-model"
    SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu").save(str(folder))
    return folder


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    from sentkit import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture
def texts_file(tmp_path: Path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(text.replace("\n", " ") for text in TEXTS) + "\n", encoding="utf-8")
    return path


def test_help_imports_no_heavy_module() -> None:
    script = (
        "import json, sys\n"
        "from sentkit.cli import main\n"
        "for argv in (['--help'], ['encode', '--help'], ['serve', '--help']):\n"
        "    assert main(argv) == 0\n"
        f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert "encode" in done.stdout
    assert "serve" in done.stdout
    help_run = run_cli("--help", timeout=60)
    assert help_run.returncode == 0
    assert "keywords" in help_run.stdout


def test_user_mistakes_are_one_line_on_stderr(tmp_path: Path) -> None:
    missing = run_cli("encode", str(tmp_path / "missing.txt"), timeout=60)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"sentkit encode: error: No such file or directory: {tmp_path / 'missing.txt'}"
    ]
    bad_option = run_cli("encode", "--batch-size", "0", timeout=60)
    assert bad_option.returncode == 2
    assert len(bad_option.stderr.strip().splitlines()) == 1
    assert "positive integer" in bad_option.stderr
    assert "Traceback" not in missing.stderr + bad_option.stderr


def test_encode_end_to_end_in_a_process(model_dir: Path, model: Any, texts_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.npy"
    done = run_cli(
        "encode", str(texts_file), "-o", str(output), "-m", str(model_dir), "--device", "cpu", "--no-progress"
    )
    assert done.returncode == 0, done.stderr
    assert f"Wrote {len(TEXTS)} embeddings" in done.stderr
    assert np.abs(np.load(output) - model.encode(_lines(texts_file))).max() <= TOL


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def read_embeddings(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))["embeddings"]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [row["index"] for row in rows] == list(range(len(rows)))
    return np.array([row["embedding"] for row in rows], dtype=np.float32)


def _encode(model_dir: Path, *args: str) -> int:
    return main(["encode", *args, "-m", str(model_dir), "--device", "cpu", "--no-progress"])


@pytest.mark.parametrize("suffix", ["npy", "safetensors", "jsonl"])
def test_encode_streams_each_format_in_chunks(
    model_dir: Path, model: Any, texts_file: Path, tmp_path: Path, suffix: str
) -> None:
    output = tmp_path / f"out.{suffix}"
    assert _encode(model_dir, str(texts_file), "-o", str(output), "--chunk-size", "3", "--normalize") == 0
    expected = model.encode(_lines(texts_file), normalize_embeddings=True)
    assert np.abs(read_embeddings(output) - expected).max() <= TOL
    assert not list(tmp_path.glob("*.partial"))


def test_encode_precisions_match_encode(model_dir: Path, model: Any, texts_file: Path, tmp_path: Path) -> None:
    texts = _lines(texts_file)
    for precision in ("int8", "uint8", "binary", "ubinary"):
        output = tmp_path / f"{precision}.npy"
        assert _encode(model_dir, str(texts_file), "-o", str(output), "--precision", precision) == 0
        expected = model.encode(texts, precision=precision)
        got = np.load(output)
        assert got.dtype == expected.dtype, precision
        assert np.array_equal(got, expected), precision
    cut = tmp_path / "cut.safetensors"
    assert _encode(model_dir, str(texts_file), "-o", str(cut), "--truncate-dim", "8", "--prompt-name", "query") == 0
    from safetensors.numpy import load_file

    expected_cut = model.encode(texts, truncate_dim=8, prompt_name="query")
    assert np.abs(load_file(str(cut))["embeddings"] - expected_cut).max() <= TOL


def test_encode_reads_jsonl_csv_and_stdin(
    model_dir: Path, model: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["first text", "second, with a comma", "third"]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(json.dumps({"id": i, "body": text}) for i, text in enumerate(texts)) + "\n\n")
    csv_file = tmp_path / "in.csv"
    csv_file.write_text("id,body\n" + "".join(f'{i},"{text}"\n' for i, text in enumerate(texts)))
    expected = model.encode(texts)
    for source in (jsonl, csv_file):
        output = tmp_path / f"{source.suffix[1:]}.npy"
        assert _encode(model_dir, str(source), "--field", "body", "-o", str(output)) == 0
        assert np.abs(np.load(output) - expected).max() <= TOL
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(texts).encode())))
    capsys.readouterr()
    assert _encode(model_dir) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["index"] for row in rows] == [0, 1, 2]
    assert np.abs(np.array([row["embedding"] for row in rows]) - expected).max() <= TOL


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ('{"text": "ok"}\n{broken\n', ["--input-format", "jsonl"], "line 2 is not valid JSON"),
        ('{"body": "ok"}\n', ["--input-format", "jsonl"], "has no 'text' key"),
        ("a,b\n1,2\n", ["--input-format", "csv"], "has no column 'text'"),
        ("fine\n", ["-o", "out.txt"], "Cannot tell the output format"),
        ("fine\n", ["--output-format", "npy"], "needs an output path"),
        ("fine\n", ["-m", "no-such-model-anywhere"], "not found"),
    ],
)
def test_encode_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, args: list[str], message: str
) -> None:
    source = tmp_path / "input.txt"
    source.write_text(content, encoding="utf-8")
    argv = ["encode", str(source), "--no-progress", *[str(tmp_path / a) if a.startswith("out.") else a for a in args]]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("sentkit encode: error: ")
    assert message in err[0]
    assert not list(tmp_path.glob("out*"))


def test_search_from_corpus_and_from_saved_embeddings(
    model_dir: Path, model: Any, texts_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentkit.util import semantic_search

    corpus = _lines(texts_file)
    queries = ["sunny weather", "a stadium"]
    expected = semantic_search(model.encode_query(queries), model.encode_document(corpus), top_k=3)
    saved = tmp_path / "corpus.npy"
    np.save(saved, model.encode_document(corpus))
    common = [*queries, "-k", "3", "--json", "-m", str(model_dir), "--device", "cpu"]
    for source in (["--corpus", str(texts_file)], ["--embeddings", str(saved), "--corpus", str(texts_file)]):
        capsys.readouterr()
        assert main(["search", *common, *source]) == 0
        results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["query"] for r in results] == queries
        for got, want in zip(results, expected, strict=True):
            assert [hit["corpus_id"] for hit in got["hits"]] == [hit["corpus_id"] for hit in want]
            assert max(abs(a["score"] - b["score"]) for a, b in zip(got["hits"], want, strict=True)) <= TOL
            assert [hit["text"] for hit in got["hits"]] == [corpus[int(hit["corpus_id"])] for hit in want]
    assert main(["search", "q", "-m", str(model_dir)]) == 1
    assert "--corpus FILE" in capsys.readouterr().err


def test_similarity_prints_the_models_matrix(model_dir: Path, model: Any, capsys: pytest.CaptureFixture[str]) -> None:
    texts = TEXTS[:3]
    assert main(["similarity", *texts, "--json", "-m", str(model_dir), "--device", "cpu"]) == 0
    scores = np.array(json.loads(capsys.readouterr().out)["scores"])
    expected = model.similarity(model.encode(texts), model.encode(texts)).numpy()
    assert np.abs(scores - expected).max() <= TOL
    assert main(["similarity", texts[0], "--against", *texts[1:], "-m", str(model_dir), "--device", "cpu"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "cosine similarity"
    assert f"{expected[0, 1]:9.4f}" in table[2]


def test_rerank_equals_cross_encoder_rank(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_server_support import optional_model

    reranker = optional_model("rerank", tmp_path / "ce")
    documents = TEXTS[:4]
    argv = ["rerank", "sunny", *documents, "-k", "3", "--json", "-m", str(tmp_path / "ce"), "--device", "cpu"]
    assert main(argv) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = reranker.rank("sunny", documents, top_k=3)
    assert [hit["corpus_id"] for hit in got] == [hit["corpus_id"] for hit in expected]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(got, expected, strict=True)) <= TOL
    assert main(["rerank", "sunny", "doc"]) == 2  # a reranker has no default model: -m is required
    assert "-m/--model" in capsys.readouterr().err


def test_keywords_equal_keybert(model_dir: Path, model: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    from sentkit import KeyBERT

    docs = [TEXTS[3], "Supervised learning maps an input to an output from example input-output pairs."]
    argv = ["keywords", "--text", docs[0], "--text", docs[1], "--ngram-range", "1", "2", "--strategy", "mmr"]
    assert main([*argv, "--json", "-n", "3", "-m", str(model_dir), "--device", "cpu"]) == 0
    got = [json.loads(line)["keywords"] for line in capsys.readouterr().out.splitlines()]
    expected = KeyBERT(model).extract_keywords(docs, keyphrase_ngram_range=(1, 2), use_mmr=True, top_n=3)
    assert got == [[[word, score] for word, score in keywords] for keywords in expected]


def test_models_list_and_show(model_dir: Path, model: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    for line in capsys.readouterr().out.splitlines():
        assert set(json.loads(line)) == {"name", "kind", "source", "path"}
    assert main(["models", "show", str(model_dir), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["kind"] == "dense"
    assert facts["class"] == "SentenceTransformer"
    assert facts["dimension"] == model.get_sentence_embedding_dimension()
    assert facts["max_seq_length"] == model.max_seq_length
    assert [module["class"] for module in facts["modules"]] == [type(module).__name__ for module in model]
    assert main(["models", "show"]) == 1
    assert "sentkit models show NAME" in capsys.readouterr().err


def test_serve_loads_the_named_models_with_the_settings(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = pytest.importorskip("sentkit.server")
    started: dict[str, Any] = {}
    monkeypatch.setattr(server, "serve", lambda app, host, port, **kwargs: started.update(app=app, port=port))
    argv = ["serve", "-m", f"tiny={model_dir}", "--device", "cpu", "--api-key", "k", "--no-batching", "--port", "9"]
    assert main(argv) == 0
    state = started["app"].state.sentkit
    assert list(state.models) == ["tiny"]
    assert state.models["tiny"].kind == "dense"
    assert state.settings.api_key == "k"
    assert not state.settings.micro_batching
    assert started["port"] == 9
    assert main(["serve", "-m", f"a={model_dir}", "-m", f"a={model_dir}", "--device", "cpu"]) == 1
    assert "Two models are named 'a'" in capsys.readouterr().err


def test_encode_to_a_resumable_store_and_search_it(
    model_dir: Path, model: Any, texts_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sentkit.inference.streaming")
    from sentkit.io.embeddings_reader import open_embeddings

    store, lines = tmp_path / "store", _lines(texts_file)
    assert _encode(model_dir, str(texts_file), "-o", str(store), "--chunk-size", "3") == 0
    assert _encode(model_dir, str(texts_file), "-o", str(store), "--chunk-size", "3") == 0  # resumes: nothing to add
    reader = open_embeddings(store)
    assert len(reader) == len(lines)
    assert list(reader.texts or []) == lines
    assert np.abs(np.asarray(reader) - model.encode(lines)).max() <= TOL
    capsys.readouterr()
    argv = ["search", "sunny", "--embeddings", str(store), "-k", "2", "--json", "-m", str(model_dir)]
    assert main([*argv, "--device", "cpu"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [hit["text"] for hit in hits] == [lines[hit["corpus_id"]] for hit in hits]


def test_plot_writes_a_png_from_texts_or_saved_embeddings(
    model_dir: Path, model: Any, texts_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("sentkit.viz")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join("ab"[index % 2] for index in range(len(TEXTS))), encoding="utf-8")
    saved = tmp_path / "saved.npy"
    np.save(saved, model.encode(_lines(texts_file)))
    for source in ([str(texts_file), "--labels", str(labels)], ["--embeddings", str(saved)]):
        output = tmp_path / "plot.png"
        assert main(["plot", *source, "-o", str(output), "-m", str(model_dir), "--device", "cpu"]) == 0
        assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        output.unlink()
    assert main(["plot", str(texts_file), "--embeddings", str(saved), "-o", str(tmp_path / "x.png")]) == 1
    assert "not both or neither" in capsys.readouterr().err


def test_serve_takes_auto_with_rerankers(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = pytest.importorskip("sentkit.server")
    from tests.test_server_support import optional_model

    optional_model("rerank", tmp_path / "ce")
    started: dict[str, Any] = {}
    monkeypatch.setattr(server, "serve", lambda app, host, port, **kwargs: started.update(app=app))
    argv = ["serve", "-m", f"tiny={model_dir}", "--reranker", f"ce={tmp_path / 'ce'}", "--backend", "auto"]
    assert main([*argv, "--device", "cpu"]) == 0
    models = started["app"].state.sentkit.models
    assert (models["tiny"].kind, models["ce"].kind) == ("dense", "rerank")
