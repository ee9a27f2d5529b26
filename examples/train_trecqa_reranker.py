"""Train a reranker (CrossEncoder) on TREC QA and compare MRR@10 with the bi-encoder alone, on CPU.

    python examples/train_trecqa_reranker.py [../shared/data/trecqa] [--epochs 3] [--max-steps N]
        [--learning-rate 5e-5] [--loss bce|lambda] [--no-select-on-dev]

The CrossEncoder starts from all-MiniLM-L6-v2's folder: the BERT body is reused and a new
one-label classification head is created. With ``--loss bce`` (default) it is trained with
BinaryCrossEntropyLoss on the (question, answer sentence, label) rows of ``train.csv``; only 7% of
them are answers, so the positives are weighted by the negative/positive ratio (``pos_weight``, as
the reference's reranker recipes do; ``--pos-weight 1`` turns it off). ``--loss lambda`` trains
listwise (LambdaLoss over each question's candidates; much slower on CPU). After each epoch the
reranker ranks the questions of ``dev.csv``, and the epoch with the best dev MRR@10 is kept
(``--no-select-on-dev``: the last one). On ``test.csv`` each question ranks its candidate
sentences three ways: by the bi-encoder's cosine (all-MiniLM-L6-v2 alone), by the untrained
reranker, and by the trained one. MRR@10 counts questions with at least one correct answer. The
script exits cleanly when the data folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trecqa"


def read_trecqa(path: Path) -> list[tuple[str, str, int]]:
    """(question, answer sentence, 1 if it answers the question else 0) for each row."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["qtext"], row["atext"], int(row["label"])) for row in csv.DictReader(handle)]


def mrr_at_10(rows: Sequence[tuple[str, str, int]], scores: Sequence[float]) -> tuple[float, int]:
    """Mean reciprocal rank of the first correct answer within the top 10, over questions with one."""
    by_question: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for (question, _, label), score in zip(rows, scores, strict=True):
        by_question[question].append((float(score), label))
    reciprocal = []
    for candidates in by_question.values():
        if not any(label for _, label in candidates):
            continue
        ranked = sorted(candidates, key=lambda item: -item[0])[:10]
        reciprocal.append(next((1 / rank for rank, (_, label) in enumerate(ranked, 1) if label), 0.0))
    return sum(reciprocal) / len(reciprocal), len(reciprocal)


def bi_encoder_scores(rows: Sequence[tuple[str, str, int]]) -> list[float]:
    from sentkit import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")
    questions = model.encode([q for q, _, _ in rows], convert_to_tensor=True, normalize_embeddings=True)
    answers = model.encode([a for _, a, _ in rows], convert_to_tensor=True, normalize_embeddings=True)
    return (questions * answers).sum(dim=1).tolist()  # cosine per row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--pos-weight", type=float, default=None, help="default: negatives / positives")
    parser.add_argument("--loss", choices=["bce", "lambda"], default="bce")
    parser.add_argument(
        "--select-on-dev", action=argparse.BooleanOptionalAction, default=True, help="keep the best epoch on dev"
    )
    parser.add_argument("--output", type=Path, default=None)
    options = parser.parse_args()
    if not (options.data / "train.csv").is_file() or not (options.data / "test.csv").is_file():
        print(f"TREC QA data not found in {options.data}; nothing to do.")
        return

    import torch
    from datasets import Dataset

    from sentkit import CrossEncoder
    from sentkit.io.resolve import resolve_model_folder
    from sentkit.train import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentkit.train.cross_encoder_losses import BinaryCrossEntropyLoss, LambdaLoss
    from sentkit.train.evaluation import CrossEncoderRerankingEvaluator

    train, test = read_trecqa(options.data / "train.csv"), read_trecqa(options.data / "test.csv")
    dev = read_trecqa(options.data / "dev.csv")
    print(f"TREC QA: {len(train)} training pairs, {len(test)} test pairs.")
    bi_mrr, questions = mrr_at_10(test, bi_encoder_scores(test))
    print(f"MRR@10 on test ({questions} questions with an answer), bi-encoder cosine: {100 * bi_mrr:.2f}")

    model = CrossEncoder(str(resolve_model_folder("sentence-transformers/all-MiniLM-L6-v2")), device="cpu")
    pairs = [(question, answer) for question, answer, _ in test]
    untrained, _ = mrr_at_10(test, model.predict(pairs, batch_size=64))
    print(f"MRR@10, reranker before training (random head): {100 * untrained:.2f}")

    output = options.output or Path(tempfile.mkdtemp(prefix="sentkit-trecqa-"))
    questions, answers, labels = zip(*train, strict=True)
    if options.loss == "bce":
        train_dataset = Dataset.from_dict(
            {"question": questions, "answer": answers, "label": [float(label) for label in labels]}
        )
    else:
        grouped: dict[str, tuple[list[str], list[float]]] = defaultdict(lambda: ([], []))
        for question, answer, label in train:
            grouped[question][0].append(answer)
            grouped[question][1].append(float(label))
        train_dataset = Dataset.from_dict(
            {
                "question": list(grouped),
                "answers": [docs for docs, _ in grouped.values()],
                "label": [marks for _, marks in grouped.values()],
            }
        )
    evaluator = None
    if options.select_on_dev:
        samples: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"positive": [], "negative": []})
        for question, answer, label in dev:
            samples[question]["positive" if label else "negative"].append(answer)
        evaluator = CrossEncoderRerankingEvaluator(
            [{"query": question, **sample} for question, sample in samples.items() if sample["positive"]],
            name="trecqa-dev",
            write_csv=False,
        )
    args = CrossEncoderTrainingArguments(
        output_dir=str(output),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        per_device_train_batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        warmup_steps=0.1,
        save_strategy="epoch" if evaluator else "no",
        eval_strategy="epoch" if evaluator else "no",
        load_best_model_at_end=evaluator is not None,
        metric_for_best_model="eval_trecqa-dev_mrr@10" if evaluator else None,
        save_total_limit=2,
        logging_steps=10,
        use_cpu=True,
        seed=12345,
    )
    loss: torch.nn.Module
    if options.loss == "bce":
        positives = sum(labels)
        pos_weight = options.pos_weight or (len(labels) - positives) / positives
        print(f"BinaryCrossEntropyLoss, pos_weight={pos_weight:.2f} ({positives} positives of {len(labels)})")
        loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(pos_weight))
    else:
        print(f"LambdaLoss (NDCGLoss2++) on {len(train_dataset)} questions, {options.batch_size} per step")
        loss = LambdaLoss(model, mini_batch_size=32)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss, evaluator=evaluator)
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    model.save(str(output / "final"))
    trained, _ = mrr_at_10(test, model.predict(pairs, batch_size=64))
    print(f"MRR@10, reranker after training: {100 * trained:.2f}  (bi-encoder alone: {100 * bi_mrr:.2f})")
    print(f"training: {trainer.state.global_step} steps in {elapsed:.0f} s ({elapsed / 60:.1f} min) on CPU")
    print(f"model, training_log.csv and training_curves.png in {output}")


if __name__ == "__main__":
    sys.exit(main())
