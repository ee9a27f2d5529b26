"""Embedding backends: each adapter against keybert's own backend on the same small, real object.

spaCy, gensim, model2vec and transformers pipelines are the real libraries, with objects built in
memory. flair and TensorFlow Hub do not install here (flair pins transformers < 5; TensorFlow is
gigabytes), so they are tested with stand-ins that have their exact interface (see ``fake_flair``
and ``fake_tf_hub``), against keybert's FlairBackend and USEBackend on the same stand-ins.
"""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sentkit import KeyBERT
from sentkit.backend import (
    BaseEmbedder,
    CallableBackend,
    Embedder,
    FlairBackend,
    GensimBackend,
    HFTransformerBackend,
    Model2VecBackend,
    SentenceTransformerBackend,
    SpacyBackend,
    USEBackend,
    select_backend,
)
from sentkit.errors import InputError, InputTypeError, NumericalError

keybert = pytest.importorskip("keybert")

DOCS = [
    "Solar panels convert sunlight into electricity for the warm house.",
    "The cat sleeps in the warm sun all afternoon.",
    "Electricity from the sun and the wind powers the city.",
    "",
]
WORDS = ["solar", "panels", "convert", "sunlight", "electricity", "warm", "house", "cat", "sleeps"]
WORDS += ["sun", "afternoon", "wind", "powers", "city"]
DIM = 12


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(len(WORDS), DIM)).astype(np.float32)  # (V, d)


def assert_same_keywords(ours: Any, theirs: Any) -> None:
    assert ours == theirs


def compare_with_keybert(model: Any, reference_backend: Any, ours_backend: type, tolerance: float = 1e-6) -> None:
    """Our adapter embeds as keybert's does, is picked by select_backend, and KeyBERT gives keybert's keywords."""
    backend = select_backend(model)
    assert isinstance(backend, ours_backend)
    texts = [*DOCS, "solar panels", "unknownword"]
    ours = backend.embed(texts)
    reference = np.asarray(reference_backend.embed(texts))
    assert ours.shape == reference.shape == (len(texts), reference.shape[1])
    assert float(np.abs(ours - reference).max()) <= tolerance
    for kwargs in ({}, {"keyphrase_ngram_range": (1, 2), "use_mmr": True}, {"use_maxsum": True, "top_n": 3}):
        mine = KeyBERT(model=model).extract_keywords(DOCS, **kwargs)
        theirs = keybert.KeyBERT(model=model).extract_keywords(DOCS, **kwargs)
        assert [[word for word, _ in doc] for doc in mine] == [[word for word, _ in doc] for doc in theirs]
        assert np.allclose([s for doc in mine for _, s in doc], [s for doc in theirs for _, s in doc], atol=1e-4)


# ----------------------------------------------------------------------------------- real libraries
def test_spacy_language_with_vectors(vectors: np.ndarray) -> None:
    spacy = pytest.importorskip("spacy")
    from keybert.backend._spacy import SpacyBackend as Reference

    nlp = spacy.blank("en")
    for word, vector in zip(WORDS, vectors, strict=True):
        nlp.vocab.set_vector(word, vector)
    compare_with_keybert(nlp, Reference(nlp), SpacyBackend)
    assert SpacyBackend(nlp).embed([""]).shape == (1, DIM)


def test_spacy_transformer_pipeline(vectors: np.ndarray) -> None:
    """A real spaCy pipeline whose "transformer" component fills ``doc._.trf_data.tensors`` as
    spacy-transformers (< 1.3) does: ``tensors[-1]`` holds one pooled (d,) row per span."""
    spacy = pytest.importorskip("spacy")
    from keybert.backend._spacy import SpacyBackend as Reference
    from spacy.language import Language
    from spacy.tokens import Doc

    table = dict(zip(WORDS, vectors, strict=True))
    if not Doc.has_extension("trf_data"):
        Doc.set_extension("trf_data", default=None)
    if not Language.has_factory("sentkit_test_transformer"):

        @Language.component("sentkit_test_transformer")
        def pooled_output(doc: Any) -> Any:
            rows = [table.get(token.lower_, np.zeros(DIM, np.float32)) for token in doc]
            pooled = np.tanh(np.sum(rows, axis=0))[None, :] if rows else np.zeros((0, DIM), np.float32)
            doc._.trf_data = types.SimpleNamespace(tensors=[np.zeros((len(doc), 1, DIM)), pooled])
            return doc

    nlp = spacy.blank("en")
    nlp.add_pipe("sentkit_test_transformer", name="transformer")
    compare_with_keybert(nlp, Reference(nlp), SpacyBackend)
    empty = SpacyBackend(nlp).embed([""])  # no span: replaced by a stand-in text, as in KeyBERT
    np.testing.assert_allclose(empty, SpacyBackend(nlp).embed(["An empty document"]))


def test_gensim_keyed_vectors(vectors: np.ndarray) -> None:
    keyedvectors = pytest.importorskip("gensim.models.keyedvectors")
    from keybert.backend._gensim import GensimBackend as Reference

    model = keyedvectors.KeyedVectors(vector_size=DIM)
    model.add_vectors(WORDS, vectors)
    compare_with_keybert(model, Reference(model), GensimBackend)
    np.testing.assert_allclose(GensimBackend(model).embed(["solar nothing"])[0], vectors[0] / 2, atol=1e-7)


def test_model2vec_static_model(vectors: np.ndarray) -> None:
    model2vec = pytest.importorskip("model2vec")
    from keybert.backend._model2vec import Model2VecBackend as Reference
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocabulary = {"[UNK]": 0, "[PAD]": 1, **{word: index + 2 for index, word in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    table = np.vstack([np.zeros((2, DIM), np.float32), vectors])  # (V + 2, d)
    model = model2vec.StaticModel(table, tokenizer, normalize=True)
    compare_with_keybert(model, Reference(model), Model2VecBackend)


def test_model2vec_distillation(monkeypatch: pytest.MonkeyPatch) -> None:
    """``distill=True`` distills on the first embed call, with the words of those texts, most frequent
    first; ``model2vec.distill`` (its ``distill`` extra is not installed here) is replaced by a recorder."""
    from sentkit.errors import MissingDependencyError

    if "model2vec.distill" not in sys.modules:
        with pytest.raises(MissingDependencyError, match=r"model2vec\[distill\]"):
            Model2VecBackend("sentence-transformers/all-MiniLM-L6-v2", distill=True)
    calls: list[dict[str, Any]] = []

    class Distilled:
        def encode(self, documents: list[str], show_progress_bar: bool = False) -> np.ndarray:
            return np.ones((len(documents), 3))

    def distill(model_name: str, **kwargs: Any) -> Distilled:
        calls.append({"model_name": model_name, **kwargs})
        return Distilled()

    monkeypatch.setitem(sys.modules, "model2vec.distill", _module("model2vec.distill", distill=distill))
    backend = Model2VecBackend("my/model", distill=True, distill_kwargs={"pca_dims": 3})
    assert backend.embed(["rain sun rain", "sun rain wind"]).shape == (2, 3)
    assert backend.embed(["later texts"]).shape == (1, 3)
    assert calls == [{"model_name": "my/model", "pca_dims": 3, "vocabulary": ["rain", "sun", "wind"]}]
    with pytest.raises(InputTypeError, match="name"):
        Model2VecBackend(object(), distill=True)


def test_transformers_feature_extraction_pipeline(tmp_path: Path) -> None:
    from keybert.backend._hftransformers import HFTransformerBackend as Reference
    from transformers import pipeline

    from tests.tiny_models import build_bert

    build_bert(tmp_path / "bert")
    extractor = pipeline("feature-extraction", model=str(tmp_path / "bert"), device="cpu")
    backend = select_backend(extractor)
    assert isinstance(backend, HFTransformerBackend)
    texts = [*DOCS, "solar panels"]
    embeddings = backend.embed(texts)
    np.testing.assert_allclose(embeddings, Reference(extractor).embed(texts), atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-6)


def test_sentence_transformer_and_seed_custom_embedder(tmp_path: Path) -> None:
    """The seed's custom backend example, with sentkit in the imports (and a tiny local model)."""
    from sentkit import SentenceTransformer
    from tests.tiny_models import build_bert

    build_bert(tmp_path / "bert")
    model = SentenceTransformer(str(tmp_path / "bert"), device="cpu")

    class CustomEmbedder(BaseEmbedder):
        def __init__(self, embedding_model: Any) -> None:
            super().__init__()
            self.embedding_model = embedding_model

        def embed(self, documents: Any, verbose: bool = False) -> np.ndarray:
            return self.embedding_model.encode(documents, show_progress_bar=verbose)

    custom = CustomEmbedder(embedding_model=model)
    assert select_backend(custom) is custom
    by_backend = KeyBERT(model=custom).extract_keywords(DOCS[:3])
    wrapped = select_backend(model)
    assert isinstance(wrapped, SentenceTransformerBackend)
    assert wrapped.embedding_model is model
    assert KeyBERT(model=model).extract_keywords(DOCS[:3]) == by_backend
    np.testing.assert_array_equal(
        SentenceTransformerBackend(model, batch_size=2).embed(DOCS), model.encode(DOCS, batch_size=2)
    )


# ----------------------------------------------------------------------------------- stand-ins
def _module(name: str, **members: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in members.items():
        if isinstance(value, type):
            value.__module__ = name
        setattr(module, key, value)
    return module


@pytest.fixture
def fake_flair(monkeypatch: pytest.MonkeyPatch, vectors: np.ndarray) -> Iterator[types.SimpleNamespace]:
    """flair's interface as keybert and sentkit use it: ``flair.data.Sentence`` (tokens, ``embedding``
    tensor, ``set_embedding``), ``flair.embeddings`` with ``TokenEmbeddings``/``DocumentEmbeddings`` whose
    ``embed`` takes one sentence or a list, ``WordEmbeddings``, ``DocumentPoolEmbeddings([token_embeddings])``
    (mean pooling) and ``TransformerDocumentEmbeddings`` (``fine_tune`` attribute, ``RuntimeError`` on
    what it cannot embed)."""
    table = {word: torch.from_numpy(vector) for word, vector in zip(WORDS, vectors, strict=True)}

    class Token:
        def __init__(self, text: str) -> None:
            self.text = text
            self.embedding = torch.zeros(0)

    class Sentence:
        def __init__(self, text: str) -> None:
            self.tokens = [Token(word.strip(".,").lower()) for word in text.split()]
            self._embeddings: dict[str, torch.Tensor] = {}

        def set_embedding(self, name: str, vector: torch.Tensor) -> None:
            self._embeddings[name] = vector

        @property
        def embedding(self) -> torch.Tensor:
            return torch.cat(list(self._embeddings.values())) if self._embeddings else torch.zeros(0)

    class Embeddings:
        def embed(self, data_points: Any) -> list[Any]:
            points = [data_points] if isinstance(data_points, Sentence) else list(data_points)
            self._add_embeddings_internal(points)
            return points

        def _add_embeddings_internal(self, sentences: list[Any]) -> None:
            raise NotImplementedError

    class TokenEmbeddings(Embeddings):
        pass

    class DocumentEmbeddings(Embeddings):
        pass

    class WordEmbeddings(TokenEmbeddings):
        def _add_embeddings_internal(self, sentences: list[Any]) -> None:
            for sentence in sentences:
                for token in sentence.tokens:
                    token.embedding = table.get(token.text, torch.zeros(DIM))

    class DocumentPoolEmbeddings(DocumentEmbeddings):
        def __init__(self, embeddings: list[Any]) -> None:
            self.embeddings = embeddings

        def _add_embeddings_internal(self, sentences: list[Any]) -> None:
            for embedding in self.embeddings:
                embedding.embed(sentences)
            for sentence in sentences:
                if not sentence.tokens:
                    raise RuntimeError("cannot pool an empty sentence")
                sentence.set_embedding("pool", torch.stack([token.embedding for token in sentence.tokens]).mean(0))

    class TransformerDocumentEmbeddings(DocumentEmbeddings):
        def __init__(self, model: str = "roberta-base", fine_tune: bool = True) -> None:
            self.fine_tune = fine_tune
            self.pool = DocumentPoolEmbeddings([WordEmbeddings()])

        def _add_embeddings_internal(self, sentences: list[Any]) -> None:
            if any(len(sentence.tokens) > 8 for sentence in sentences):
                raise RuntimeError("CUDA out of memory")  # as flair does on what it cannot embed
            self.pool.embed(sentences)
            for sentence in sentences:
                sentence.set_embedding("pool", torch.tanh(sentence._embeddings["pool"]))

    data = _module("flair.data", Sentence=Sentence)
    embeddings = _module(
        "flair.embeddings",
        TokenEmbeddings=TokenEmbeddings,
        DocumentEmbeddings=DocumentEmbeddings,
        WordEmbeddings=WordEmbeddings,
        DocumentPoolEmbeddings=DocumentPoolEmbeddings,
        TransformerDocumentEmbeddings=TransformerDocumentEmbeddings,
    )
    flair = _module("flair", data=data, embeddings=embeddings)
    for name, module in (("flair", flair), ("flair.data", data), ("flair.embeddings", embeddings)):
        monkeypatch.setitem(sys.modules, name, module)
    yield types.SimpleNamespace(data=data, embeddings=embeddings)
    sys.modules.pop("keybert.backend._flair", None)  # it imported the stand-in


def test_flair_document_and_token_embeddings(fake_flair: types.SimpleNamespace) -> None:
    from keybert.backend._flair import FlairBackend as Reference

    flair_embeddings = fake_flair.embeddings
    pooled = flair_embeddings.DocumentPoolEmbeddings([flair_embeddings.WordEmbeddings()])
    compare_with_keybert(pooled, Reference(pooled), FlairBackend)

    transformer = flair_embeddings.TransformerDocumentEmbeddings("roberta-base")
    backend = select_backend(transformer)
    assert isinstance(backend, FlairBackend)
    assert transformer.fine_tune is False
    long_text = "solar panels convert sunlight into electricity for the warm house today"  # > 8 tokens: fails
    texts = [*DOCS, long_text]
    np.testing.assert_allclose(backend.embed(texts), Reference(transformer).embed(texts), atol=1e-7)

    word_backend = FlairBackend(flair_embeddings.WordEmbeddings())  # token embeddings get pooled
    np.testing.assert_allclose(word_backend.embed(DOCS), select_backend(pooled).embed(DOCS), atol=1e-7)


@pytest.fixture
def fake_tf_hub(monkeypatch: pytest.MonkeyPatch, vectors: np.ndarray) -> Any:
    """What ``tensorflow_hub.load(USE)`` returns: a callable saved-model object that maps a list of
    strings to a (n, 512)-like ``tf.Tensor`` (an EagerTensor, with ``numpy()`` and ``cpu()``)."""

    class Tensor:
        def __init__(self, values: np.ndarray) -> None:
            self._values = values

        def numpy(self) -> np.ndarray:
            return self._values.copy()

        def cpu(self) -> Tensor:
            return self

    class EagerTensor(Tensor):
        pass

    table = dict(zip(WORDS, vectors, strict=True))

    class _UserObject:  # the type tensorflow_hub.load returns for a TF2 SavedModel
        def __call__(self, inputs: list[str]) -> EagerTensor:
            rows = [
                np.sum([table.get(word.strip(".,").lower(), np.zeros(DIM, np.float32)) for word in text.split()], 0)
                if text.split()
                else np.zeros(DIM, np.float32)
                for text in inputs
            ]
            return EagerTensor(np.tanh(np.asarray(rows, dtype=np.float32)))

    _module("tensorflow.python.saved_model.load", _UserObject=_UserObject)  # its module name, as in TensorFlow
    monkeypatch.setitem(sys.modules, "tensorflow", _module("tensorflow", Tensor=Tensor))
    EagerTensor.__module__ = "tensorflow.python.framework.ops"
    return _UserObject()


def test_tf_hub_universal_sentence_encoder(fake_tf_hub: Any) -> None:
    from keybert.backend._use import USEBackend as Reference

    compare_with_keybert(fake_tf_hub, Reference(fake_tf_hub), CallableBackend)
    assert USEBackend is CallableBackend


# ----------------------------------------------------------------------------------- callables, protocol, errors
def test_any_callable_and_embed_objects(vectors: np.ndarray) -> None:
    table = dict(zip(WORDS, vectors, strict=True))

    def bag_of_words(texts: list[str]) -> list[list[float]]:
        return [
            sum((table.get(w.strip(".,").lower(), np.zeros(DIM)) for w in t.split()), np.ones(DIM)).tolist()
            for t in texts
        ]

    backend = select_backend(bag_of_words)
    assert isinstance(backend, CallableBackend)
    assert backend.embed(DOCS).shape == (len(DOCS), DIM)
    assert len(KeyBERT(model=bag_of_words).extract_keywords(DOCS[0])) == 5

    layer = torch.nn.Linear(DIM, 4)  # a torch callable whose output needs grad: converted safely
    torch_backend = CallableBackend(lambda texts: layer(torch.from_numpy(np.asarray(bag_of_words(texts), np.float32))))
    assert torch_backend.embed(DOCS).shape == (len(DOCS), 4)

    class WithEmbed:  # the Embedder protocol, without subclassing BaseEmbedder
        def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
            return np.asarray(bag_of_words(documents))

    model = WithEmbed()
    assert isinstance(model, Embedder)
    assert select_backend(model) is model
    assert KeyBERT(model=model).extract_keywords(DOCS[0]) == KeyBERT(model=bag_of_words).extract_keywords(DOCS[0])


def test_bad_models_and_bad_outputs() -> None:
    with pytest.raises(InputTypeError, match="KeyBERT cannot embed"):
        select_backend(3.5)
    for backend_class in (SpacyBackend, GensimBackend, FlairBackend, HFTransformerBackend, Model2VecBackend):
        with pytest.raises(InputTypeError):
            backend_class(object())
    with pytest.raises(InputTypeError, match="SentenceTransformer"):
        SentenceTransformerBackend(object())
    with pytest.raises(InputTypeError, match="callable"):
        CallableBackend(object())
    with pytest.raises(NotImplementedError):
        BaseEmbedder().embed(["text"])
    with pytest.raises(InputError, match="one row per"):
        CallableBackend(lambda texts: np.zeros((len(texts) + 1, 3))).embed(["a", "b"])
    with pytest.raises(NumericalError, match="NaN"):
        CallableBackend(lambda texts: np.full((len(texts), 3), np.nan)).embed(["a"])
    with pytest.raises(InputError, match="one row per"):
        KeyBERT(model=lambda texts: np.zeros(3)).extract_keywords(DOCS[0])


def test_imports_stay_light() -> None:
    """Importing sentkit, sentkit.backend and selecting a backend imports no heavy library."""
    code = (
        "import sys, sentkit, sentkit.backend\n"
        "sentkit.KeyBERT\n"
        "sentkit.backend.select_backend(lambda texts: [[1.0]] * len(texts))\n"
        "heavy = ['sklearn', 'spacy', 'gensim', 'torch', 'flair', 'tensorflow', 'model2vec', 'transformers']\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"
