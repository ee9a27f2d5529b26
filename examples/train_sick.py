"""Fine-tune all-MiniLM-L6-v2 on SICK relatedness with CoSENTLoss, on CPU, and compare dev Spearman.

    python examples/train_sick.py [../shared/data/sick/SICK_train.txt] [--epochs 1] [--max-steps N]

SICK train (4,500 pairs) is split with a fixed seed: 500 pairs held out as dev, the rest for
training. Gold relatedness scores (1-5) are scaled to 0..1. The dev Spearman correlation of
cosine similarity is printed before and after training, with the wall time. The trained model,
the training log (CSV) and its curves (PNG) go to ``--output`` (default: a temporary folder).
The script exits cleanly when the data file is absent.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sick" / "SICK_train.txt"


def read_sick(path: Path) -> list[tuple[str, str, float]]:
    """(sentence_A, sentence_B, relatedness scaled to 0..1) for each pair of the SICK file."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["sentence_A"], row["sentence_B"], (float(row["relatedness_score"]) - 1) / 4) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--dev-size", type=int, default=500)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", type=Path, default=None)
    options = parser.parse_args()
    if not options.data.is_file():
        print(f"SICK data not found at {options.data}; nothing to do.")
        return

    from datasets import Dataset

    from sentkit import SentenceTransformer
    from sentkit.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentkit.train.evaluation import EmbeddingSimilarityEvaluator
    from sentkit.train.losses import CoSENTLoss

    pairs = read_sick(options.data)
    random.Random(12345).shuffle(pairs)
    dev, train = pairs[: options.dev_size], pairs[options.dev_size :]
    print(f"SICK: {len(train)} training pairs, {len(dev)} dev pairs (seed 12345).")
    dev_evaluator = EmbeddingSimilarityEvaluator(*zip(*dev, strict=True), name="sick-dev", main_similarity="cosine")
    first, second, scores = zip(*train, strict=True)
    train_dataset = Dataset.from_dict({"sentence1": first, "sentence2": second, "score": scores})

    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")
    before = dev_evaluator(model)["sick-dev_spearman_cosine"]
    print(f"dev Spearman (cosine) before training: {100 * before:.2f}")

    output = options.output or Path(tempfile.mkdtemp(prefix="sentkit-sick-"))
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        per_device_train_batch_size=options.batch_size,
        learning_rate=2e-5,
        warmup_steps=0.1,
        eval_strategy="epoch",
        save_strategy="no",
        logging_steps=10,
        use_cpu=True,
        seed=12345,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train_dataset, loss=CoSENTLoss(model), evaluator=dev_evaluator
    )
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    after = dev_evaluator(model)["sick-dev_spearman_cosine"]
    model.save(str(output / "final"))
    print(f"dev Spearman (cosine) after training:  {100 * after:.2f}  ({100 * (after - before):+.2f})")
    print(f"training: {trainer.state.global_step} steps in {elapsed:.0f} s ({elapsed / 60:.1f} min) on CPU")
    print(f"model, training_log.csv and training_curves.png in {output}")


if __name__ == "__main__":
    sys.exit(main())
