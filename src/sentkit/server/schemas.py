"""Request bodies of the endpoints (pydantic). Text fields are ``Any`` here and checked by hand in
:mod:`sentkit.server.handling`, so that every refusal names the offending item and the limit."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(default=None, description="Served model name; default: the first of its kind.")


class EmbeddingsRequest(_Request):
    """``POST /v1/embeddings``, OpenAI's schema."""

    input: Any = Field(description="A text or a list of texts.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, description="Keep the first N dimensions (Matryoshka).")
    user: str | None = None


class EmbedRequest(_Request):
    """``POST /embed``, TEI's schema (plus ``dimensions``)."""

    inputs: Any = Field(description="A text or a list of texts.")
    normalize: bool = True
    truncate: bool = False
    truncation_direction: Literal["Right", "Left", "right", "left"] = "Right"
    prompt_name: str | None = None
    dimensions: int | None = None


class EmbedSparseRequest(_Request):
    """``POST /embed_sparse``, TEI's schema."""

    inputs: Any = Field(description="A text or a list of texts.")
    truncate: bool = False
    truncation_direction: Literal["Right", "Left", "right", "left"] = "Right"
    prompt_name: str | None = None


class RerankRequest(_Request):
    """``POST /rerank``, TEI's schema."""

    query: Any = Field(description="The query text.")
    texts: Any = Field(description="The texts to score against the query.")
    top_n: int | None = None
    return_text: bool = False
    raw_scores: bool = False
    truncate: bool = False
    truncation_direction: Literal["Right", "Left", "right", "left"] = "Right"


class SimilarityInputs(BaseModel):
    source_sentence: Any
    sentences: Any


class SimilarityRequest(_Request):
    """``POST /similarity``, TEI's schema: scores of ``source_sentence`` against each of ``sentences``."""

    inputs: SimilarityInputs
    truncate: bool = False
    truncation_direction: Literal["Right", "Left", "right", "left"] = "Right"
    prompt_name: str | None = None


class TokenizeRequest(_Request):
    """``POST /tokenize``, TEI's schema."""

    inputs: Any = Field(description="A text or a list of texts.")
    add_special_tokens: bool = True
    prompt_name: str | None = None


class SearchRequest(_Request):
    """``POST /search``: query texts against a served vector index (sentkit's own endpoint)."""

    inputs: Any = Field(description="A query text or a list of them.")
    index: str | None = Field(default=None, description="Served index name; default: the first.")
    top_k: int = 10
    rescore: bool = True
    truncate: bool = True
    prompt_name: str | None = Field(default=None, description="Default: the model's 'query' prompt, if it has one.")
