"""The main job: semantic search with the default model over the corpus shipped in examples/.

Run it with `make demo` (sets everything up) or `python examples/semantic_search.py`.
"""

from __future__ import annotations

import time
from pathlib import Path

from sentkit import SentenceTransformer, util

CORPUS = Path(__file__).with_name("corpus.txt")
QUERIES = [
    "Why do my savings lose value when prices keep going up?",
    "Do antibiotics help if I have a cold?",
    "Where do hurricanes get their power from?",
    "Should I wait before cutting a grilled steak?",
    "How did the invention of printing change reading?",
]


def main() -> None:
    corpus = [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    model = SentenceTransformer("all-MiniLM-L6-v2")
    corpus_embeddings = model.encode(corpus, convert_to_tensor=True, normalize_embeddings=True)
    query_embeddings = model.encode(QUERIES, convert_to_tensor=True, normalize_embeddings=True)
    hits = util.semantic_search(query_embeddings, corpus_embeddings, top_k=3)
    elapsed = time.perf_counter() - started
    print(f"Searched {len(corpus)} sentences for {len(QUERIES)} queries in {elapsed:.1f} s (load included).\n")
    for query, query_hits in zip(QUERIES, hits, strict=False):
        print(f"Query: {query}")
        for hit in query_hits:
            print(f"  {hit['score']:.3f}  {corpus[int(hit['corpus_id'])]}")
        print()


if __name__ == "__main__":
    main()
