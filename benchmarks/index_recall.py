"""Recall@k of sentkit's approximate vector indexes against exact search, on real embeddings.

Usage:
    python benchmarks/index_recall.py --data ../shared/data [--queries 300] [--top-k 10] [--limit N]
                                      [--engines usearch faiss exact]

Embeds the unique sentences of the STS Benchmark test split (``stsb/sts-test.csv``, 2,551
sentences) with all-MiniLM-L6-v2 (sentkit, CPU), keeps the last ``--queries`` as queries and the
rest as the corpus, and finds each query's top-k with an exact float32 cosine index (the ground
truth, checked against ``util.semantic_search``). Then, for each engine (usearch, faiss, and the
exact scan over quantized rows) and precision, it reports recall@k against that ground truth
(the share of the true top-k found), for three ways of scoring:

    no rescore     rescore=False: the engine's top-k, scored from the codes
    rescore codes  rescore=True, keep_float=False: 4 x top-k candidates rescored from the codes
    rescore float  rescore=True, keep_float=True: 4 x top-k candidates rescored with the float embeddings

with the build time (graph), search time per query and the saved file size.

Exits 0 with a message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

STSB_TEST = Path("stsb") / "sts-test.csv"
MODES = {"no rescore": (False, False), "rescore codes": (True, False), "rescore float": (True, True)}


def read_sentences(path: Path) -> list[str]:
    """The unique sentences of an STS-B file, in order of first appearance."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if len(row) >= 7]
    return list(dict.fromkeys(sentence for row in rows for sentence in (row[5], row[6])))


def recall(found: list[list[dict]], truth: list[list[dict]], k: int) -> float:
    """Mean share of each query's true top-k ids among the found top-k."""
    shares = [
        len({hit["corpus_id"] for hit in hits[:k]} & {hit["corpus_id"] for hit in exact[:k]}) / k
        for hits, exact in zip(found, truth, strict=True)
    ]
    return float(np.mean(shares))


def measure(corpus: np.ndarray, queries: np.ndarray, truth: list[list[dict]], args: argparse.Namespace) -> list[tuple]:
    """One row per (engine, precision, mode): recall, build s, search ms/query, file bytes."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="index-recall-") as folder:
        for engine in args.engines:
            for precision in ("float32", "int8", "uint8", "binary", "ubinary"):
                for mode, (rescore, keep_float) in MODES.items():
                    if precision == "float32" and (mode != "no rescore" or engine == "exact"):
                        continue  # nothing to rescore; exact float32 is the ground truth
                    settings = {"engine": engine, "precision": precision, "keep_float": keep_float}
                    figures = measure_one(corpus, queries, truth, settings, rescore, args.top_k, Path(folder))
                    rows.append((engine, precision, mode, *figures))
                    print("  " + " | ".join(_cell(value) for value in rows[-1]), file=sys.stderr)
    return rows


def measure_one(
    corpus: np.ndarray,
    queries: np.ndarray,
    truth: list[list[dict]],
    settings: dict[str, Any],
    rescore: bool,
    top_k: int,
    folder: Path,
) -> tuple[float, float, float, int]:
    """Recall@k, graph build seconds, search ms per query and saved file bytes of one index."""
    from sentkit.index import VectorIndex

    index = VectorIndex(corpus.shape[1], **settings)
    index.add(corpus)
    started = time.perf_counter()
    index.search(queries[:1], top_k=top_k)  # builds the graph
    build = time.perf_counter() - started
    started = time.perf_counter()
    found = index.search(queries, top_k=top_k, rescore=rescore)
    per_query_ms = (time.perf_counter() - started) * 1000 / len(queries)
    path = folder / "index.skidx"
    index.save(path)
    return recall(found, truth, top_k), build, per_query_ms, path.stat().st_size


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the evaluation data folder (../shared/data)")
    parser.add_argument("--queries", type=int, default=300, help="sentences held out as queries (default: 300)")
    parser.add_argument("--top-k", type=int, default=10, help="k of recall@k (default: 10)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N sentences")
    parser.add_argument(
        "--engines", nargs="+", default=["usearch", "faiss", "exact"], help="engines to measure (default: all three)"
    )
    args = parser.parse_args()
    path = args.data / STSB_TEST
    if not path.is_file():
        print(f"STS-B test split not found at {path}; nothing to measure.")
        return 0

    from sentkit import SentenceTransformer, util
    from sentkit.index import VectorIndex

    sentences = read_sentences(path)[: args.limit]
    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")
    started = time.perf_counter()
    embeddings = model.encode(sentences, batch_size=64, convert_to_numpy=True)  # (S, 384)
    print(f"embedded {len(sentences)} sentences in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    corpus, queries = embeddings[: -args.queries], embeddings[-args.queries :]

    exact = VectorIndex(corpus.shape[1])
    exact.add(corpus)
    truth = exact.search(queries, top_k=args.top_k)
    reference = util.semantic_search(queries, corpus, top_k=args.top_k)
    agreement = recall(truth, reference, args.top_k)  # ties aside, 1.0
    print(f"corpus {len(corpus)}, queries {len(queries)}; exact index vs util.semantic_search: {agreement:.4f}")

    rows = measure(corpus, queries, truth, args)
    print(f"\n| engine | precision | scoring | recall@{args.top_k} | build s | search ms/query | file bytes |")
    print("|---|---|---|---|---|---|---|")
    for engine, precision, mode, value, build, per_query, size in rows:
        print(f"| {engine} | {precision} | {mode} | {value:.4f} | {build:.2f} | {per_query:.3f} | {size:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
