"""Ray Data actor pools (sentkit.distributed.encode_dataset) against plain encode, on this machine.

Usage:
    python benchmarks/bench_distributed.py [--data ../shared/data] [--sentences 2000] [--rounds 1]

Texts: the unique STS-B test sentences when ``--data`` holds stsb/sts-test.csv, else
examples/corpus.txt repeated to ``--sentences`` lines. Model: all-MiniLM-L6-v2 on the CPU.

Measured, in sentences/s:

- plain ``model.encode`` in this process, with torch on all cores and on one thread;
- ``encode_dataset`` on a local Ray cluster (``ray.init(num_cpus=<cores>)``) with 1 actor
  (1 CPU) and with 2 actors (half a CPU each, so that Ray Data's read and write tasks keep a CPU);
  Ray gives each actor one torch thread (OMP_NUM_THREADS = its whole CPUs, at least 1). The rows go
  from an in-memory Dataset through the pool to Parquet files in a temporary folder, which are read
  back and checked: every id once, max |difference| against plain encode.

A Ray figure is end to end (actors start, load the model, encode, write); "steady" subtracts the
end-to-end time of a 64-row run with the same pool (start, load, one batch), an estimate of the
rate once the actors are up. Overhead = plain encode at the same number of torch threads / Ray.
Prints the load average before and after: other work on the machine changes every figure.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent.parent / "examples" / "corpus.txt"
MODEL = "all-MiniLM-L6-v2"


def load_sentences(data: Path | None, count: int) -> tuple[list[str], str]:
    if data is not None and (data / "stsb" / "sts-test.csv").is_file():
        with (data / "stsb" / "sts-test.csv").open(encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        return list(dict.fromkeys(text for row in rows for text in (row[5], row[6]))), "STS-B test (unique)"
    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [lines[i % len(lines)] for i in range(count)], f"examples/corpus.txt repeated to {count}"


def best_seconds(run: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def ray_run(ray: Any, texts: list[str], actors: int, batch_size: int, rows_per_batch: int) -> tuple[float, Any]:
    """Seconds for one end-to-end encode_dataset run of ``texts``, and the table it wrote."""
    import pandas as pd
    import pyarrow.parquet as pq

    from sentkit.distributed import encode_dataset

    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    block = min(rows_per_batch, -(-len(texts) // actors))  # at least one block per actor
    chunks = [frame[start : start + block] for start in range(0, len(frame), block)]
    dataset = ray.data.from_pandas(chunks)
    cpus = 1.0 if actors == 1 else 0.5
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        encode_dataset(
            dataset,
            MODEL,
            output=Path(folder) / "out",
            num_actors=actors,
            num_cpus_per_actor=cpus,
            rows_per_batch=block,
            batch_size=batch_size,
            load_kwargs={"device": "cpu"},
        )
        seconds = time.perf_counter() - started
        table = pq.read_table(Path(folder) / "out")
    return seconds, table


def check(table: Any, reference: Any) -> float:
    """Max |difference| of the written rows against ``reference`` (N, D); asserts every id once."""
    import numpy as np

    ids = np.asarray(table.column("id").to_pylist())
    if len(ids) != len(reference) or len(np.unique(ids)) != len(ids):
        raise RuntimeError(f"{len(ids)} rows ({len(np.unique(ids))} unique ids) written for {len(reference)} inputs")
    embeddings = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)  # (N, D)
    return float(np.abs(embeddings - reference[ids]).max())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="folder holding stsb/sts-test.csv")
    parser.add_argument("--sentences", type=int, default=2000, help="lines when no --data is given")
    parser.add_argument("--rounds", type=int, default=1, help="plain encode: best of this many rounds")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rows-per-batch", type=int, default=256)
    args = parser.parse_args()
    try:
        import ray
        import torch

        from sentkit import SentenceTransformer
    except ImportError as exc:
        print(f"skipped: {exc} (pip install 'sentkit[distributed]')")
        return 0
    texts, source = load_sentences(args.data, args.sentences)
    cores = os.cpu_count() or 1
    print(f"texts: {len(texts)} ({source}); model {MODEL}; {cores} cores; load average {os.getloadavg()}")
    model = SentenceTransformer(MODEL, device="cpu")
    model.encode(texts[:64], batch_size=args.batch_size)  # warm-up
    threads = torch.get_num_threads()
    reference = None

    def plain() -> None:
        nonlocal reference
        reference = model.encode(texts, batch_size=args.batch_size)

    rates = {f"plain encode, {threads} threads": len(texts) / best_seconds(plain, args.rounds)}
    torch.set_num_threads(1)
    rates["plain encode, 1 thread"] = len(texts) / best_seconds(plain, args.rounds)
    torch.set_num_threads(threads)

    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        for actors in (1, 2):
            startup, _ = ray_run(ray, texts[:64], actors, args.batch_size, args.rows_per_batch)
            seconds, table = ray_run(ray, texts, actors, args.batch_size, args.rows_per_batch)
            difference = check(table, reference)
            rates[f"Ray, {actors} actor(s), end to end"] = len(texts) / seconds
            rates[f"Ray, {actors} actor(s), steady"] = len(texts) / max(seconds - startup, 1e-9)
            print(
                f"Ray {actors} actor(s): {seconds:.1f} s end to end, {startup:.1f} s start-up run, "
                f"max |diff| vs encode {difference:.2e}"
            )
    finally:
        ray.shutdown()
    print(f"\n{'configuration':<36} sentences/s")
    for name, rate in rates.items():
        print(f"{name:<36} {rate:10.1f}")
    plain_one = rates["plain encode, 1 thread"]
    print(
        f"\noverhead, 1 actor (1 thread) vs plain encode at 1 thread: "
        f"{plain_one / rates['Ray, 1 actor(s), end to end']:.2f}x end to end, "
        f"{plain_one / rates['Ray, 1 actor(s), steady']:.2f}x steady"
    )
    plain_all = rates[f"plain encode, {threads} threads"]
    print(
        f"2 actors vs plain encode at {threads} threads: "
        f"{rates['Ray, 2 actor(s), end to end'] / plain_all:.2f}x end to end, "
        f"{rates['Ray, 2 actor(s), steady'] / plain_all:.2f}x steady"
    )
    print(
        f"2 actors vs 1 actor: {rates['Ray, 2 actor(s), end to end'] / rates['Ray, 1 actor(s), end to end']:.2f}x "
        f"end to end; load average after: {os.getloadavg()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
