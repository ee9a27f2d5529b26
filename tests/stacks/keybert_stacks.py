"""KeyBERT on the real flair and TF-Hub stacks: sentkit's keywords against the keybert package's.

Runs inside the separate environment that ``tests/stacks/build_env.sh`` makes (flair pins
``transformers<5``, so it cannot share sentkit's main environment): ``python keybert_stacks.py WORK``.
Builds tiny models in WORK (a BERT folder with random weights for flair's
``TransformerDocumentEmbeddings``; a TF SavedModel with the Universal Sentence Encoder's
signature, strings in, vectors out, loaded back with ``tensorflow_hub.load``), gives the same
object to ``keybert.KeyBERT`` and ``sentkit.KeyBERT``, and prints one JSON line per stack:
``{"stack", "status": "passed" | "failed" | "missing", "detail"}``. Nothing is downloaded.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = [
    "Supervised learning is the machine learning task of learning a function that maps an input to an output "
    "based on example input-output pairs. It infers a function from labeled training data.",
    "The weather is lovely today and the sunny afternoon is perfect for a long walk in the park.",
    "Vaccines train the immune system to recognize and fight specific germs, and they save millions of lives.",
]
SETTINGS: list[dict[str, Any]] = [
    {"keyphrase_ngram_range": (1, 1), "stop_words": "english", "top_n": 5},
    {"keyphrase_ngram_range": (1, 2), "stop_words": "english", "top_n": 4, "use_mmr": True, "diversity": 0.5},
    {"keyphrase_ngram_range": (1, 2), "stop_words": None, "top_n": 3, "use_maxsum": True, "nr_candidates": 10},
]
WORDS = sorted({word.strip(".,").lower() for doc in DOCS for word in doc.split()})


def compare(model: Any) -> None:
    """Raise AssertionError unless both KeyBERTs give the same keywords (scores within 1e-4)."""
    import keybert

    import sentkit

    for settings in SETTINGS:
        theirs = keybert.KeyBERT(model=model).extract_keywords(DOCS, **settings)
        ours = sentkit.KeyBERT(model=model).extract_keywords(DOCS, **settings)
        for doc_index, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
            assert [word for word, _ in mine] == [word for word, _ in reference], (settings, doc_index, mine, reference)
            for (_, score), (_, expected) in zip(mine, reference, strict=True):
                assert abs(score - expected) <= 1e-4, (settings, doc_index, mine, reference)


def flair_model(work: Path) -> Any:
    import torch
    from flair.embeddings import TransformerDocumentEmbeddings
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = work / "tiny-bert"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(  # a wide initializer and mean pooling keep random documents apart (no ties)
        vocab_size=5 + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        initializer_range=0.5,
    )
    BertModel(config).save_pretrained(folder)
    return TransformerDocumentEmbeddings(str(folder), fine_tune=False, cls_pooling="mean")


def tf_hub_model(work: Path) -> Any:
    import tensorflow as tf
    import tensorflow_hub as hub

    class TinySentenceEncoder(tf.Module):
        """Strings in, 16-dimensional vectors out: hashed words looked up and averaged, as USE's signature."""

        def __init__(self) -> None:
            super().__init__()
            self.table = tf.Variable(tf.random.stateless_normal([4096, 16], seed=[1, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts: Any) -> Any:
            words = tf.strings.split(tf.strings.lower(texts))  # (N, None)
            vectors = tf.gather(self.table, tf.strings.to_hash_bucket_fast(words, 4096))  # (N, None, 16)
            counts = tf.cast(tf.maximum(words.row_lengths(), 1), tf.float32)[:, None]  # (N, 1)
            return tf.reduce_sum(vectors, axis=1) / counts  # (N, 16)

    path = work / "tiny-use"
    tf.saved_model.save(TinySentenceEncoder(), str(path))
    return hub.load(str(path))


STACKS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "flair": ("flair", flair_model),
    "tf-hub": ("tensorflow_hub", tf_hub_model),
}


def main() -> int:
    import importlib.util

    work = Path(sys.argv[1])
    for name, (library, build) in STACKS.items():
        if importlib.util.find_spec(library) is None:
            report = {"stack": name, "status": "missing", "detail": f"{library} is not installed"}
        else:
            try:
                compare(build(work))
                report = {"stack": name, "status": "passed", "detail": ""}
            except Exception:  # every failure is reported, not raised: the other stack still runs
                report = {"stack": name, "status": "failed", "detail": traceback.format_exc()[-3000:]}
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
