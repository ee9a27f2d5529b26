"""Bitext mining: margin scores against a brute-force numpy reference, chunking, bad input, the example."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sentkit.apps.bitext_mining import MARGINS, MODES, BitextPair, mine_bitext, mine_bitext_embeddings
from sentkit.errors import InputError
from tests.tiny_models import build

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bitext_mining.py"


def brute_force(x: np.ndarray, y: np.ndarray, k: int, margin: str, mode: str) -> list[tuple[float, int, int]]:
    """LASER's ``mine_bitexts`` (sentence-transformers' recipe) on the full similarity matrix, in float64."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    sim = x @ y.T  # (N, M)
    n, m = sim.shape
    x2y_ind = np.argsort(-sim, axis=1)[:, : min(k, m)]
    y2x_ind = np.argsort(-sim.T, axis=1)[:, : min(k, n)]
    x2y_mean = np.take_along_axis(sim, x2y_ind, axis=1).mean(axis=1)
    y2x_mean = np.take_along_axis(sim.T, y2x_ind, axis=1).mean(axis=1)
    score = {"ratio": lambda a, b: a / b, "distance": lambda a, b: a - b, "absolute": lambda a, b: a}[margin]
    fwd = np.array([[score(sim[i, j], (x2y_mean[i] + y2x_mean[j]) / 2) for j in x2y_ind[i]] for i in range(n)])
    bwd = np.array([[score(sim[i, j], (y2x_mean[j] + x2y_mean[i]) / 2) for i in y2x_ind[j]] for j in range(m)])
    fwd_best = x2y_ind[np.arange(n), fwd.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(m), bwd.argmax(axis=1)]
    if mode == "forward":
        pairs = [(fwd[i].max(), i, fwd_best[i]) for i in range(n)]
    elif mode == "backward":
        pairs = [(bwd[j].max(), bwd_best[j], j) for j in range(m)]
    elif mode == "intersection":
        pairs = [(fwd[i].max(), i, fwd_best[i]) for i in range(n) if bwd_best[fwd_best[i]] == i]
    else:
        indices = np.stack([np.concatenate([np.arange(n), bwd_best]), np.concatenate([fwd_best, np.arange(m)])], 1)
        scores = np.concatenate([fwd.max(axis=1), bwd.max(axis=1)])
        seen_src: set[int] = set()
        seen_trg: set[int] = set()
        pairs = []
        for i in np.argsort(-scores, kind="stable"):
            src, trg = (int(v) for v in indices[i])
            if src not in seen_src and trg not in seen_trg:
                seen_src.add(src)
                seen_trg.add(trg)
                pairs.append((scores[i], src, trg))
    pairs.sort(key=lambda pair: -pair[0])
    return [(float(s), int(i), int(j)) for s, i, j in pairs]


def corpora(seed: int = 0, n: int = 41, m: int = 33, dim: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Random sources and targets, 60% of the targets noisy copies of sources; rows not normalised."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)) * rng.uniform(0.5, 3, size=(n, 1))
    y = rng.normal(size=(m, dim))
    copies = min(n, m) * 3 // 5
    y[:copies] = x[rng.permutation(n)[:copies]] + 0.6 * rng.normal(size=(copies, dim))
    return x.astype(np.float32), y.astype(np.float32)


def assert_same(pairs: list[BitextPair], expected: list[tuple[float, int, int]], atol: float = 1e-5) -> None:
    assert [(p.source_id, p.target_id) for p in pairs] == [(i, j) for _, i, j in expected]
    np.testing.assert_allclose([p.score for p in pairs], [s for s, _, _ in expected], atol=atol, rtol=1e-5)


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("mode", MODES)
def test_scores_and_pairs_equal_brute_force(margin: str, mode: str) -> None:
    x, y = corpora()
    for k in (1, 4):
        expected = brute_force(x.astype(np.float64), y.astype(np.float64), k, margin, mode)
        pairs = mine_bitext_embeddings(x, y, k=k, margin=margin, mode=mode)
        assert_same(pairs, expected)
        assert all(isinstance(p, BitextPair) and isinstance(p.source_id, int) for p in pairs)
        assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    if mode == "max":  # each sentence used once
        assert len({p.source_id for p in pairs}) == len({p.target_id for p in pairs}) == len(pairs)


def test_min_score_keeps_the_pairs_at_or_above_it() -> None:
    x, y = corpora(seed=1)
    everything = mine_bitext_embeddings(x, y)
    cut = everything[len(everything) // 3].score
    kept = mine_bitext_embeddings(x, y, min_score=cut)
    assert kept == [pair for pair in everything if pair.score >= cut]
    assert len(kept) == len(everything) // 3 + 1
    assert mine_bitext_embeddings(x, y, min_score=100.0) == []


def test_true_pairs_are_found() -> None:
    x, y = corpora(seed=2)
    rng = np.random.default_rng(2)
    order = rng.permutation(len(x))
    y = x[order] + 0.3 * rng.normal(size=x.shape).astype(np.float32)  # target j translates source order[j]
    pairs = mine_bitext_embeddings(x, y, k=4, mode="intersection", min_score=1.0)
    found = {(p.source_id, p.target_id) for p in pairs}
    gold = {(int(source), target) for target, source in enumerate(order)}
    assert len(found & gold) >= 0.9 * len(gold)
    assert len(found - gold) <= 2


@pytest.mark.parametrize("mode", MODES)
def test_result_does_not_depend_on_chunk_sizes(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = corpora(seed=3, n=50, m=47)
    expected = mine_bitext_embeddings(x, y, k=3, mode=mode)
    blocks: list[tuple[int, ...]] = []
    topk = torch.topk

    def recording_topk(scores: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        blocks.append(tuple(scores.shape))
        return topk(scores, *args, **kwargs)

    monkeypatch.setattr(torch, "topk", recording_topk)
    for query_chunk_size, corpus_chunk_size in ((1, 1), (7, 5), (50, 2), (1000, 10**6)):
        blocks.clear()
        pairs = mine_bitext_embeddings(
            x, y, k=3, mode=mode, query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size
        )
        assert_same(pairs, [tuple(p) for p in expected], atol=1e-6)
        # memory: no block of scores exceeds query_chunk_size x max(corpus_chunk_size, 2k)
        assert max(rows for rows, _ in blocks) <= query_chunk_size
        assert max(columns for _, columns in blocks) <= max(corpus_chunk_size, 2 * 3)


def test_k_is_capped_at_the_other_side_and_inputs_of_any_kind() -> None:
    x, y = corpora(seed=4, n=9, m=5)
    # (distance margin: with k = the whole side the ratio's denominator nears 0, an ill-conditioned score)
    pairs = mine_bitext_embeddings(x, y, k=50, margin="distance")
    assert pairs == mine_bitext_embeddings(x, y, k=9, margin="distance")
    assert_same(pairs, brute_force(x.astype(np.float64), y.astype(np.float64), 50, "distance", "max"))
    as_tensors = mine_bitext_embeddings(torch.from_numpy(x), torch.from_numpy(y).double(), k=50, margin="distance")
    as_lists = mine_bitext_embeddings(x.tolist(), y.tolist(), k=50, margin="distance")
    assert_same(as_tensors, [tuple(p) for p in pairs], atol=1e-6)
    assert_same(as_lists, [tuple(p) for p in pairs], atol=1e-6)
    single = mine_bitext_embeddings(x[:1], y[:1], mode="max")
    assert [(p.source_id, p.target_id) for p in single] == [(0, 0)]
    assert single[0].score == pytest.approx(1.0)  # cos / ((cos + cos) / 2)


class FakeModel:
    """Encodes each text as the embedding given for it."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table
        self.calls: list[dict[str, Any]] = []

    def encode(self, texts: list[str], **options: Any) -> torch.Tensor:
        self.calls.append(options)
        return torch.from_numpy(np.stack([self.table[text] for text in texts]))


def test_model_and_sentences_give_the_pairs_of_their_embeddings() -> None:
    x, y = corpora(seed=5)
    source = [f"source {i}" for i in range(len(x))]
    target = [f"target {j}" for j in range(len(y))]
    model = FakeModel({**dict(zip(source, x, strict=True)), **dict(zip(target, y, strict=True))})
    pairs = mine_bitext(model, source, target, k=3, mode="intersection", batch_size=5, prompt_name="query")
    assert pairs == mine_bitext_embeddings(x, y, k=3, mode="intersection")
    assert model.calls[0] == {
        "convert_to_tensor": True,
        "batch_size": 5,
        "show_progress_bar": False,
        "prompt_name": "query",
    }


def test_bad_input_raises_input_error() -> None:
    x, y = corpora(seed=6)
    model = FakeModel({})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"mode": "both"}, "mode must be one of"),
        ({"margin": "cosine"}, "margin must be one of"),
        ({"k": 0}, "k must be"),
        ({"k": -2}, "k must be"),
        ({"k": 2.5}, "k must be"),
        ({"k": True}, "k must be"),
        ({"query_chunk_size": 0}, "query_chunk_size must be"),
        ({"corpus_chunk_size": 0}, "corpus_chunk_size must be"),
    ]
    for options, message in cases:
        with pytest.raises(InputError, match=message):
            mine_bitext_embeddings(x, y, **options)
        with pytest.raises(InputError, match=message):
            mine_bitext(model, ["a"], ["b"], **options)
    with pytest.raises(InputError, match="12 dimensions but target_embeddings 5"):
        mine_bitext_embeddings(x, y[:, :5])
    with pytest.raises(InputError, match="source_embeddings is empty"):
        mine_bitext_embeddings(np.zeros((0, 12)), y)
    with pytest.raises(InputError, match="target_embeddings is empty"):
        mine_bitext_embeddings(x, [])
    with pytest.raises(InputError, match="2-D"):
        mine_bitext_embeddings(x[0], y)
    bad = y.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match=r"NaN or inf in rows \[3\]"):
        mine_bitext_embeddings(x, bad)
    with pytest.raises(InputError, match="target_sentences is empty"):
        mine_bitext(model, ["a"], [])
    with pytest.raises(InputError, match="single string"):
        mine_bitext(model, "a sentence", ["b"])
    assert model.calls == []  # nothing was encoded


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("bitext_mining_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_runs_on_files_with_a_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = _example()
    model = build("bert", tmp_path / "bert")
    source, target, gold = example.make_corpus(pairs=30, extra=5)
    assert len(gold) == 30
    (tmp_path / "src.txt").write_text("\n".join([*source, source[0], "short"]) + "\n", encoding="utf-8")
    (tmp_path / "trg.txt").write_text("\n".join(target) + "\n", encoding="utf-8")
    output = tmp_path / "pairs.tsv.gz"
    args = ["--source", str(tmp_path / "src.txt"), "--target", str(tmp_path / "trg.txt"), "--model", str(model)]
    results = example.main([*args, "--min-score", "0", "--mode", "intersection", "--output", str(output)])
    assert "precision" not in results  # no gold pairs for files
    assert f"{len(source)} source and {len(target)} target sentences" in capsys.readouterr().out  # dedup, length
    with gzip.open(output, "rt", encoding="utf8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    assert len(rows) == results["pairs"] > 0
    assert all(len(row) == 3 and row[1] in source and row[2] in target for row in rows)
    scores = [float(row[0]) for row in rows]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.slow
def test_example_finds_the_translations_with_the_real_model() -> None:
    results = _example().main(["--show", "0"])
    assert results["recall"] >= 0.95
    assert results["precision"] >= 0.9
