"""Translated sentence (bitext) mining with sentkit: find the parallel pairs between two text files.

    python examples/bitext_mining.py --source en.txt --target de.txt --model LaBSE --output pairs.tsv

Each file holds one sentence per line (``.gz`` files are read too). Lines outside
``--min-length``..``--max-length`` characters are dropped and duplicates removed, as in
sentence-transformers' ``parallel-sentence-mining`` example; the pairs are then mined with the
margin score of Artetxe & Schwenk (2019) (:func:`sentkit.apps.bitext_mining.mine_bitext`) and
written as ``score<TAB>source<TAB>target`` lines, best first.

Without ``--source``/``--target`` the script runs offline on a corpus it makes itself: English
sentences from ``examples/corpus.txt``, their "translations" into a pseudo-language (a fixed word
glossary), shuffled, plus sentences on each side that have no partner. Since the true pairs are
known, it also prints precision and recall. The default model is all-MiniLM-L6-v2 (English); for
real languages use a multilingual model (LaBSE, paraphrase-multilingual-MiniLM-L12-v2).
"""

from __future__ import annotations

import argparse
import gzip
import random
from collections.abc import Sequence
from pathlib import Path

from sentkit import SentenceTransformer
from sentkit.apps.bitext_mining import MARGINS, MODES, BitextPair, mine_bitext

CORPUS = Path(__file__).with_name("corpus.txt")

# A word-for-word glossary into a pseudo-Spanish: the content words that remain carry the meaning.
GLOSSARY = {
    "the": "el", "a": "un", "an": "un", "of": "de", "and": "y", "to": "a", "in": "en", "is": "es",
    "are": "son", "for": "para", "with": "con", "on": "sobre", "that": "que", "by": "por",
    "from": "desde", "more": "más", "than": "que", "each": "cada", "their": "su", "its": "su",
    "they": "ellos", "it": "lo", "day": "día", "water": "agua", "can": "puede", "at": "en",
    "most": "mayoría", "many": "muchos", "after": "después", "before": "antes", "when": "cuando",
    "people": "gente", "years": "años", "new": "nuevo", "first": "primero", "world": "mundo",
}  # fmt: skip


def pseudo_translate(sentence: str) -> str:
    """``sentence`` with every glossary word replaced (case-insensitive), the rest kept."""
    words = []
    for word in sentence.split():
        core = word.rstrip(".,!?;:")
        replacement = GLOSSARY.get(core.lower())
        words.append(word if replacement is None else replacement + word[len(core) :])
    return " ".join(words)


def make_corpus(pairs: int = 60, extra: int = 15, seed: int = 0) -> tuple[list[str], list[str], set[tuple[int, int]]]:
    """Source and target sentences and the gold ``(source index, target index)`` pairs.

    The first ``pairs`` corpus lines are on both sides (the target side translated and shuffled);
    the next ``extra`` lines only in the source, the ``extra`` after them only (translated) in the target.
    """
    lines = [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    if pairs + 2 * extra > len(lines):
        raise ValueError(f"pairs + 2 * extra must be at most {len(lines)}, the corpus size.")
    source = lines[: pairs + extra]
    translated = [(i, pseudo_translate(line)) for i, line in enumerate(lines[:pairs])]
    translated += [(-1, pseudo_translate(line)) for line in lines[pairs + extra : pairs + 2 * extra]]
    random.Random(seed).shuffle(translated)
    target = [text for _, text in translated]
    gold = {(source_id, target_id) for target_id, (source_id, _) in enumerate(translated) if source_id >= 0}
    return source, target, gold


def read_sentences(path: str, min_length: int, max_length: int) -> list[str]:
    """The distinct stripped lines of ``path`` whose length lies in ``[min_length, max_length]``, in file order."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf8") as handle:
        kept = (line.strip() for line in handle)
        return list(dict.fromkeys(line for line in kept if min_length <= len(line) <= max_length))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", help="source-language sentences, one per line (default: a made-up corpus)")
    parser.add_argument("--target", help="target-language sentences, one per line")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="a (multilingual) sentence embedding model")
    parser.add_argument("--k", type=int, default=4, help="neighbours per sentence in each direction")
    parser.add_argument("--margin", choices=MARGINS, default="ratio")
    parser.add_argument("--mode", choices=MODES, default="max")
    parser.add_argument("--min-score", type=float, default=1.0, help="lowest score kept (ratio margin: ~1.0-1.2)")
    parser.add_argument("--min-length", type=int, default=10, help="shortest sentence kept, in characters")
    parser.add_argument("--max-length", type=int, default=200, help="longest sentence kept, in characters")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", help="write score<TAB>source<TAB>target lines here (.gz compresses)")
    parser.add_argument("--show", type=int, default=10, help="pairs to print")
    args = parser.parse_args(argv)
    if (args.source is None) != (args.target is None):
        parser.error("give both --source and --target, or neither (for the made-up corpus)")
    return args


def write_pairs(path: str, pairs: list[BitextPair], source: list[str], target: list[str]) -> None:
    """Write ``score<TAB>source<TAB>target`` lines (tabs inside sentences become spaces)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", encoding="utf8") as handle:
        for score, i, j in pairs:
            handle.write(f"{score:.4f}\t{source[i].replace(chr(9), ' ')}\t{target[j].replace(chr(9), ' ')}\n")


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the mining; returns the counts (and precision/recall on the made-up corpus)."""
    args = parse_args(argv)
    gold: set[tuple[int, int]] | None = None
    if args.source is None:
        source, target, gold = make_corpus()
    else:
        source = read_sentences(args.source, args.min_length, args.max_length)
        target = read_sentences(args.target, args.min_length, args.max_length)
    print(f"{len(source)} source and {len(target)} target sentences")
    model = SentenceTransformer(args.model)
    pairs = mine_bitext(
        model, source, target, k=args.k, margin=args.margin, mode=args.mode, min_score=args.min_score,
        batch_size=args.batch_size,
    )  # fmt: skip
    for score, i, j in pairs[: args.show]:
        print(f"{score:.4f}  {source[i]}  |||  {target[j]}")
    if args.output:
        write_pairs(args.output, pairs, source, target)
        print(f"{len(pairs)} pairs written to {args.output}")
    results = {"pairs": float(len(pairs))}
    if gold is not None:
        found = {(i, j) for _, i, j in pairs}
        results["precision"] = len(found & gold) / max(len(found), 1)
        results["recall"] = len(found & gold) / len(gold)
        print(f"precision {results['precision']:.3f}, recall {results['recall']:.3f} over {len(gold)} true pairs")
    return results


if __name__ == "__main__":
    main()
