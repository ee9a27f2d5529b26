"""Multilingual knowledge distillation with sentkit: teach a student to embed translations like a teacher.

    python examples/multilingual_distillation.py [--teacher PATH] [--student PATH] [--data parallel.tsv]

The recipe of Reimers & Gurevych (2020), "Making Monolingual Sentence Embeddings Multilingual
using Knowledge Distillation", as in sentence-transformers' ``make_multilingual.py``: a teacher
embeds the source (English) sentence of each line of a tab-separated file; the student learns,
with :class:`~sentkit.train.losses.MSELoss`, to give the source sentence *and* its translations
that same embedding. The data come from
:class:`~sentkit.train.parallel_sentences.ParallelSentencesDataset` and train with the classic
``model.fit``. The MSE (x 100) between the teacher's source embeddings and the student's
embeddings of the translations is printed before and after training, on the training lines and
on held-out ones, next to that of a student that would only have learnt the teacher's mean vector.

With no arguments the script runs offline in seconds: the teacher and the student are tiny random
BERT models built here (their word-piece vocabularies trained on ``examples/corpus.txt``), and the
parallel data are that corpus's English sentences with word-for-word "translations" into a
pseudo-language. For real use give ``--teacher paraphrase-distilroberta-base-v2``,
``--student xlm-roberta-base`` (a plain checkpoint gets mean pooling) and a real parallel corpus.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import DataLoader

from sentkit import SentenceTransformer
from sentkit.train.evaluation import MSEEvaluator
from sentkit.train.losses import MSELoss
from sentkit.train.parallel_sentences import ParallelSentencesDataset

CORPUS = Path(__file__).with_name("corpus.txt")

# Word-for-word into a pseudo-German; the words left untranslated keep the sentence recognisable.
GLOSSARY = {
    "the": "die", "a": "ein", "an": "ein", "of": "von", "and": "und", "to": "zu", "in": "im", "is": "ist",
    "are": "sind", "for": "für", "with": "mit", "on": "auf", "that": "dass", "by": "durch", "from": "aus",
    "more": "mehr", "than": "als", "each": "jeder", "their": "ihre", "its": "sein", "they": "sie",
    "it": "es", "day": "Tag", "water": "Wasser", "can": "kann", "at": "bei", "many": "viele",
    "after": "nach", "before": "vor", "when": "wenn", "people": "Leute", "years": "Jahre", "new": "neu",
    "first": "erste", "world": "Welt", "city": "Stadt", "time": "Zeit", "every": "jeden", "his": "sein",
}  # fmt: skip


def pseudo_translate(sentence: str) -> str:
    """``sentence`` with every glossary word replaced (case-insensitive), punctuation kept."""
    words = []
    for word in sentence.split():
        core = word.rstrip(".,!?;:")
        replacement = GLOSSARY.get(core.lower())
        words.append(word if replacement is None else replacement + word[len(core) :])
    return " ".join(words)


def write_parallel_corpus(path: Path) -> Path:
    """Write ``English<TAB>translation`` lines for every sentence of ``examples/corpus.txt``."""
    lines = [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    path.write_text("".join(f"{line}\t{pseudo_translate(line)}\n" for line in lines), encoding="utf-8")
    return path


def build_tiny_model(folder: Path, texts: Sequence[str], seed: int, hidden: int = 64) -> Path:
    """Save a random 2-layer BERT with a word-piece vocabulary trained on ``texts`` to ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=2 * hidden, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=128,
    )  # fmt: skip
    fast.save_pretrained(folder)
    return folder


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(source, first translation) of each line of a tab-separated file with at least two columns."""
    with path.open(encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return [(row[0], row[1]) for row in rows if len(row) >= 2]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", help="teacher model (default: a tiny random BERT built here)")
    parser.add_argument("--student", help="student model (default: a tiny random BERT built here)")
    parser.add_argument("--data", type=Path, help="source<TAB>translation[<TAB>...] lines (default: made up)")
    parser.add_argument("--dev-size", type=int, default=40, help="lines held out for evaluation")
    parser.add_argument("--max-sentences", type=int, default=None, help="training lines read at most")
    parser.add_argument("--max-sentence-length", type=int, default=250, help="skip lines with longer sentences")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3, help="learning rate (2e-5 for real models)")
    parser.add_argument("--output", help="save the trained student here")
    parser.add_argument("--seed", type=int, default=12345)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train the student; returns the teacher-student MSE (x 100) before and after, train and dev lines."""
    args = parse_args(argv)
    random.seed(args.seed)  # ParallelSentencesDataset shuffles with Python's random, as the reference
    with tempfile.TemporaryDirectory(prefix="sentkit-distill-") as scratch:
        work = Path(scratch)
        data = args.data or write_parallel_corpus(work / "parallel.tsv")
        pairs = read_pairs(data)
        dev, train = pairs[: args.dev_size], pairs[args.dev_size :]
        (work / "train.tsv").write_text("".join(f"{src}\t{trg}\n" for src, trg in train), encoding="utf-8")
        english = [src for src, _ in pairs]
        teacher_path = args.teacher or str(build_tiny_model(work / "teacher", english, seed=1))
        both = english + [trg for _, trg in pairs]
        student_path = args.student or str(build_tiny_model(work / "student", both, seed=2))
        teacher = SentenceTransformer(teacher_path, device="cpu")
        student = SentenceTransformer(student_path, device="cpu")

        evaluators = {
            name: MSEEvaluator(*zip(*part, strict=True), teacher_model=teacher, name=name, write_csv=False)
            for name, part in (("train", train), ("dev", dev))
            if part
        }
        results = {
            f"{name}_mse_before": -evaluator(student)[f"{name}_negative_mse"] for name, evaluator in evaluators.items()
        }
        for name, evaluator in evaluators.items():  # a student that answers the teacher's mean vector
            targets = evaluator.source_embeddings  # (N, D)
            results[f"{name}_mse_of_mean"] = float(((targets - targets.mean(axis=0)) ** 2).mean() * 100)

        dataset = ParallelSentencesDataset(student_model=student, teacher_model=teacher, batch_size=args.batch_size)
        dataset.load_data(
            str(work / "train.tsv"), max_sentences=args.max_sentences, max_sentence_length=args.max_sentence_length
        )
        loader = DataLoader(dataset, shuffle=True, batch_size=args.batch_size)
        student.fit(
            train_objectives=[(loader, MSELoss(model=student))],
            epochs=args.epochs,
            warmup_steps=max(1, len(loader) // 10),
            optimizer_params={"lr": args.lr},
            show_progress_bar=False,
        )
        for name, evaluator in evaluators.items():
            results[f"{name}_mse_after"] = -evaluator(student)[f"{name}_negative_mse"]
        if args.output:
            student.save(args.output)
            print(f"student saved to {args.output}")
    for name in evaluators:
        before, after = results[f"{name}_mse_before"], results[f"{name}_mse_after"]
        print(
            f"{name}: MSE x 100 between teacher (source) and student (translation): {before:.4f} -> {after:.4f} "
            f"(answering the teacher's mean vector: {results[f'{name}_mse_of_mean']:.4f})"
        )
    return results


if __name__ == "__main__":
    main()
