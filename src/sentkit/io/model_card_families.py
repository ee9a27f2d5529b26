"""The card data of each model family: SentenceTransformer, CrossEncoder, SparseEncoder, MultiVectorEncoder.

Each subclass of :class:`~sentkit.io.model_card_data.BaseModelCardData` sets the family's defaults
(task, tags, pipeline tag, as in sentence-transformers), runs the model on a few usage examples to
show its outputs in the card, writes the usage snippet, and lists the details the card's
"Model Description" shows (dimensions, similarity function, labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sentkit.io.model_card_data import BaseModelCardData

SIMILARITY_NAMES = {
    "cosine": "Cosine Similarity",
    "dot": "Dot Product",
    "euclidean": "Euclidean Distance",
    "manhattan": "Manhattan Distance",
}
SIMILARITY_EXAMPLES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
RETRIEVAL_EXAMPLES = [
    "Which planet is known as the Red Planet?",
    "Venus is often called Earth's twin because of its similar size and proximity.",
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
    "Saturn, famous for its rings, is sometimes mistaken for the Red Planet.",
]
RERANK_QUERY = "How many calories in an egg"
RERANK_EXAMPLES = [
    [RERANK_QUERY, "There are on average between 55 and 80 calories in an egg depending on its size."],
    [RERANK_QUERY, "Egg whites are very low in calories, have no fat, no cholesterol, and are loaded with protein."],
    [RERANK_QUERY, "Most of the calories in an egg come from the yellow yolk in the center."],
]


def _similarity_name(name: str | None, default: str) -> str:
    if not name:
        return default
    return SIMILARITY_NAMES.get(name, name.replace("_", " ").title())


def _commented(printed: str) -> str:
    return "\n".join(f"# {line}" for line in printed.splitlines())


def _tensor_text(values: torch.Tensor) -> str:
    with torch._tensor_str.printoptions(precision=4, sci_mode=False):
        return _commented(str(values.cpu()))


def _code(lines: list[str]) -> str:
    return "```python\n" + "\n".join(lines) + "\n```"


@dataclass
class SentenceTransformerModelCardData(BaseModelCardData):
    """Card data of a :class:`~sentkit.SentenceTransformer`; the arguments are those of
    :class:`~sentkit.io.model_card_data.BaseModelCardData`.

    Example::

        model = SentenceTransformer(
            "microsoft/mpnet-base",
            model_card_data=SentenceTransformerModelCardData(
                model_id="tomaarsen/sbert-mpnet-base-allnli", license="apache-2.0", language="en"
            ),
        )
    """

    family = "sentence_transformer"
    snippet_class = "SentenceTransformer"
    snippet_model_id = "sentence_transformers_model_id"

    task_name: str | None = (
        "semantic textual similarity, semantic search, paraphrase mining, classification, clustering, and more"
    )
    tags: list[str] = field(
        default_factory=lambda: ["sentence-transformers", "sentence-similarity", "feature-extraction", "dense"]
    )

    def run_usage_snippet(self) -> None:
        """Pick the usage examples and, with ``generate_widget_examples``, the similarities the model gives them."""
        if self.usage_examples is None:
            self.usage_examples = list(RETRIEVAL_EXAMPLES if self.ir_model else SIMILARITY_EXAMPLES)
        if not self.generate_widget_examples or self.model is None:
            return
        model = self.model
        if self.ir_model:
            queries = model.encode_query(self.usage_examples[:1], convert_to_tensor=True, show_progress_bar=False)
            documents = model.encode_document(self.usage_examples[1:], convert_to_tensor=True, show_progress_bar=False)
            scores = model.similarity(queries, documents)
        else:
            self.usage_examples = self.usage_examples[:3]
            embeddings = model.encode(self.usage_examples, convert_to_tensor=True, show_progress_bar=False)
            scores = model.similarity(embeddings, embeddings)
        self.similarities = _tensor_text(scores)

    def model_details(self) -> dict[str, Any]:
        model = self.model
        return {
            "output_dimensionality": model.get_sentence_embedding_dimension(),
            "similarity_fn_name": _similarity_name(model.similarity_fn_name, "Cosine Similarity"),
        }

    def generate_usage_snippet(self) -> str:
        if self.ir_model:
            return self._retrieval_snippet()
        return embedding_snippet(self, self.usage_examples or SIMILARITY_EXAMPLES)

    def _retrieval_snippet(self) -> str:
        examples = self.usage_examples or RETRIEVAL_EXAMPLES
        dimension = output_dimension(self)
        documents = len(examples) - 1
        lines = [f"from sentence_transformers import {self.snippet_class}", ""]
        lines += [
            "# Download from the 🤗 Hub",
            f'model = {self.snippet_class}("{self.model_id or self.snippet_model_id}")',
        ]
        lines += ["# Run inference", "queries = [", f"    {examples[0]!r},", "]", "documents = ["]
        lines += [f"    {text!r}," for text in examples[1:]]
        lines += ["]", "query_embeddings = model.encode_query(queries)"]
        lines += ["document_embeddings = model.encode_document(documents)"]
        lines += [
            "print(query_embeddings.shape, document_embeddings.shape)",
            f"# [1, {dimension}] [{documents}, {dimension}]",
        ]
        lines += ["", "# Get the similarity scores for the embeddings"]
        lines += ["similarities = model.similarity(query_embeddings, document_embeddings)"]
        lines += (
            ["print(similarities)", self.similarities]
            if self.similarities
            else ["print(similarities.shape)", f"# [1, {documents}]"]
        )
        return _code(lines)


@dataclass
class SparseEncoderModelCardData(BaseModelCardData):
    """Card data of a :class:`~sentkit.SparseEncoder`; the arguments are those of
    :class:`~sentkit.io.model_card_data.BaseModelCardData`. The model type (``"SPLADE Sparse Encoder"``,
    ``"Inference-free SPLADE Sparse Encoder"``, ...) follows from its modules."""

    family = "sparse_encoder"
    snippet_class = "SparseEncoder"
    snippet_model_id = "sparse_encoder_model_id"

    task_name: str | None = None
    tags: list[str] = field(default_factory=lambda: ["sentence-transformers", "sparse-encoder", "sparse"])
    pipeline_tag: str | None = field(default=None, init=False)
    model_type: str = field(default="Sparse Encoder", init=False, repr=False)

    def register_model(self, model: Any) -> None:
        super().register_model(model)
        if self.task_name is None:
            self.task_name = "semantic search and sparse retrieval"
        if self.pipeline_tag is None:
            self.pipeline_tag = "feature-extraction"
        names = {type(module).__name__ for module in model.modules()}
        kinds = [
            label
            for module_name, label in (
                ("Router", "Asymmetric"),
                ("SparseStaticEmbedding", "Inference-free"),
                ("SpladePooling", "SPLADE"),
                ("SparseAutoEncoder", "CSR"),
            )
            if module_name in names
        ]
        self.add_tags([kind.lower() for kind in kinds])
        self.model_type = " ".join([*kinds, "Sparse Encoder"])

    def run_usage_snippet(self) -> None:
        if self.usage_examples is None:
            self.usage_examples = list(SIMILARITY_EXAMPLES)
        if not self.generate_widget_examples or self.model is None:
            return
        self.usage_examples = self.usage_examples[:3]
        embeddings = self.model.encode(self.usage_examples, convert_to_tensor=True, show_progress_bar=False)
        self.similarities = _tensor_text(self.model.similarity(embeddings, embeddings))

    def model_details(self) -> dict[str, Any]:
        model = self.model
        return {
            "output_dimensionality": model.get_embedding_dimension(),
            "similarity_fn_name": _similarity_name(model.similarity_fn_name, "Dot Product"),
            "max_active_dims": getattr(model, "max_active_dims", None),
        }

    def generate_usage_snippet(self) -> str:
        return embedding_snippet(self, self.usage_examples or SIMILARITY_EXAMPLES)

    def get_default_model_name(self) -> str:
        return self.model_type


@dataclass
class CrossEncoderModelCardData(BaseModelCardData):
    """Card data of a :class:`~sentkit.CrossEncoder`; the arguments are those of
    :class:`~sentkit.io.model_card_data.BaseModelCardData`. Task and pipeline tag follow from the
    number of labels (one: reranking, ``text-ranking``; more: pair classification)."""

    family = "cross_encoder"

    task_name: str | None = None
    tags: list[str] = field(default_factory=lambda: ["sentence-transformers", "cross-encoder", "reranker"])
    ir_model: bool | None = field(default=True, init=False, repr=False)
    pipeline_tag: str | None = field(default=None, init=False)

    def register_model(self, model: Any) -> None:
        super().register_model(model)
        ranking = model.num_labels == 1
        if self.task_name is None:
            self.task_name = "text reranking and semantic search" if ranking else "text pair classification"
        if self.pipeline_tag is None:
            self.pipeline_tag = "text-ranking" if ranking else "text-classification"

    def run_usage_snippet(self) -> None:
        if self.usage_examples is None:
            self.usage_examples = [list(pair) for pair in RERANK_EXAMPLES]
        if not self.generate_widget_examples or self.model is None:
            return
        pairs = [tuple(pair) for pair in self.usage_examples]
        scores = self.model.predict(pairs, convert_to_numpy=True, show_progress_bar=False)
        with np.printoptions(precision=4):
            self.similarities = _commented(str(scores))

    def model_details(self) -> dict[str, Any]:
        return {"model_num_labels": self.model.num_labels}

    def generate_usage_snippet(self) -> str:
        examples = self.usage_examples or RERANK_EXAMPLES
        labels = self.model.num_labels if self.model is not None else 1
        lines = ["from sentence_transformers import CrossEncoder", "", "# Download from the 🤗 Hub"]
        lines += [
            f'model = CrossEncoder("{self.model_id or "cross_encoder_model_id"}")',
            "# Get scores for pairs of inputs",
        ]
        lines += ["pairs = ["] + [f"    {list(pair)!r}," for pair in examples] + ["]", "scores = model.predict(pairs)"]
        if self.similarities:
            lines += ["print(scores)", self.similarities]
        else:
            shape = f"({len(examples)}, {labels})" if labels > 1 else f"({len(examples)},)"
            lines += ["print(scores.shape)", f"# {shape}"]
        if labels == 1:
            lines += ["", "# Or rank different texts based on similarity to a single text", "ranks = model.rank("]
            lines += [f"    {examples[0][0]!r},", "    ["] + [f"        {pair[1]!r}," for pair in examples]
            lines += ["    ]", ")", "# [{'corpus_id': ..., 'score': ...}, {'corpus_id': ..., 'score': ...}, ...]"]
        return _code(lines)


@dataclass
class MultiVectorEncoderModelCardData(BaseModelCardData):
    """Card data of a :class:`~sentkit.MultiVectorEncoder`; the arguments are those of
    :class:`~sentkit.io.model_card_data.BaseModelCardData`."""

    family = "multi_vector_encoder"
    snippet_class = "MultiVectorEncoder"
    snippet_model_id = "multi_vector_encoder_model_id"

    task_name: str | None = None
    tags: list[str] = field(
        default_factory=lambda: ["sentence-transformers", "multi-vector", "colbert", "late-interaction"]
    )
    pipeline_tag: str | None = field(default=None, init=False)
    model_type: str = field(default="Multi-Vector Encoder", init=False, repr=False)
    usage_shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = field(default=None, init=False, repr=False)

    def register_model(self, model: Any) -> None:
        super().register_model(model)
        if self.task_name is None:
            self.task_name = "semantic search with late interaction"
        if self.pipeline_tag is None:
            self.pipeline_tag = "feature-extraction"
        if self.ir_model is None:
            self.ir_model = True

    def run_usage_snippet(self) -> None:
        if self.usage_examples is None:
            self.usage_examples = list(RETRIEVAL_EXAMPLES)
        if not self.generate_widget_examples or self.model is None:
            return
        self.usage_examples = self.usage_examples[:4]
        queries, documents = _queries_and_documents(self.usage_examples)
        query_embeddings = self.model.encode_query(queries, show_progress_bar=False)
        document_embeddings = self.model.encode_document(documents, show_progress_bar=False)
        self.usage_shapes = (tuple(query_embeddings[0].shape), tuple(document_embeddings[0].shape))
        self.similarities = _tensor_text(torch.as_tensor(self.model.similarity(query_embeddings, document_embeddings)))

    def model_details(self) -> dict[str, Any]:
        model = self.model
        names = {"maxsim": "MaxSim", "meanmaxsim": "MeanMaxSim", "xtr": "XTR"}
        name = model.similarity_fn_name
        return {
            "output_dimensionality": model.get_embedding_dimension(),
            "similarity_fn_name": names.get(name, name.replace("_", " ").title()),
        }

    def generate_usage_snippet(self) -> str:
        queries, documents = _queries_and_documents(self.usage_examples or RETRIEVAL_EXAMPLES)
        dimension = output_dimension(self)
        query_shape, document_shape = self.usage_shapes or (
            f"(num_query_tokens, {dimension})",
            f"(num_document_tokens, {dimension})",
        )
        lines = [f"from sentence_transformers import {self.snippet_class}", "", "# Download from the 🤗 Hub"]
        lines += [f'model = {self.snippet_class}("{self.model_id or self.snippet_model_id}")']
        lines += [
            "# Run inference: each input becomes a sequence of per-token vectors (variable length).",
            "queries = [",
        ]
        lines += [f"    {text!r}," for text in queries] + ["]", "documents = ["]
        lines += [f"    {text!r}," for text in documents] + ["]"]
        lines += [
            "query_embeddings = model.encode_query(queries)",
            "document_embeddings = model.encode_document(documents)",
        ]
        lines += ["print(query_embeddings[0].shape, document_embeddings[0].shape)", f"# {query_shape} {document_shape}"]
        lines += ["", "# Get the MaxSim similarity scores"]
        lines += ["similarities = model.similarity(query_embeddings, document_embeddings)"]
        if self.similarities:
            lines += ["print(similarities)", self.similarities]
        else:
            lines += ["print(similarities.shape)", f"# [{len(queries)}, {len(documents)}]"]
        return _code(lines)

    def get_default_model_name(self) -> str:
        return self.model_type


def _queries_and_documents(examples: list[str]) -> tuple[list[str], list[str]]:
    """The first example as the query and the rest as documents (one example: both)."""
    return (examples[:1], examples[1:]) if len(examples) >= 2 else (examples, examples)


def output_dimension(card: BaseModelCardData) -> int | str:
    try:
        return int(card.model.get_embedding_dimension())
    except Exception:  # a model without a known dimension: the snippet says "?"
        return "?"


def embedding_snippet(card: Any, examples: list[str]) -> str:
    """The encode-and-compare usage snippet of embedding models."""
    dimension = output_dimension(card)
    lines = [f"from sentence_transformers import {card.snippet_class}", "", "# Download from the 🤗 Hub"]
    lines += [f'model = {card.snippet_class}("{card.model_id or card.snippet_model_id}")', "# Run inference"]
    lines += ["sentences = ["] + [f"    {text!r}," for text in examples]
    lines += [
        "]",
        "embeddings = model.encode(sentences)",
        "print(embeddings.shape)",
        f"# [{len(examples)}, {dimension}]",
    ]
    lines += [
        "",
        "# Get the similarity scores for the embeddings",
        "similarities = model.similarity(embeddings, embeddings)",
    ]
    if card.similarities:
        lines += ["print(similarities)", card.similarities]
    else:
        lines += ["print(similarities.shape)", f"# [{len(examples)}, {len(examples)}]"]
    return _code(lines)
