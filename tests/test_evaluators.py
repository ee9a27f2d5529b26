"""sentkit evaluators against sentence-transformers' on the same tiny models and the same small data.

Each sentkit evaluator must return the reference's metric dict: the same keys in the same order,
the same primary metric, values within 1e-6. Data sets are drawn from examples/corpus.txt.
"""

from __future__ import annotations

import csv
import math
import random
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sentkit import CrossEncoder, SentenceTransformer, SparseEncoder
from sentkit.errors import InputError
from sentkit.train import evaluation as ours
from tests.tiny_models import build_masked_lm, build_sequence_classifier, corpus_lines

pytestmark = [
    # The reference's sparse similarity code trips one-time torch warnings about sparse tensors.
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning"),
    pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled:UserWarning"),
]

TOLERANCE = 1e-6
LINES = corpus_lines()


# ------------------------------------------------------------------------------------ helpers
def assert_same_metrics(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert list(actual) == list(expected)
    for key, value in expected.items():
        assert isinstance(actual[key], float), key
        if math.isnan(value):
            assert math.isnan(actual[key]), key
        else:
            assert actual[key] == pytest.approx(value, abs=TOLERANCE, rel=TOLERANCE), key


def run_both(
    ours_evaluator: Any, reference_evaluator: Any, our_model: Any, reference_model: Any, csv_folder: Path | None = None
) -> dict:
    """Run both evaluators and compare their metrics; with ``csv_folder``, also the CSV files they write."""
    folders = (None, None) if csv_folder is None else (str(csv_folder / "ours"), str(csv_folder / "ref"))
    with warnings.catch_warnings():  # sklearn warns about ill-defined scores on random models
        warnings.simplefilter("ignore")
        expected = reference_evaluator(reference_model, output_path=folders[1])
    actual = ours_evaluator(our_model, output_path=folders[0])
    assert_same_metrics(actual, expected)
    assert ours_evaluator.primary_metric == reference_evaluator.primary_metric
    assert ours_evaluator.primary_metric in actual
    if csv_folder is not None and hasattr(reference_evaluator, "csv_file"):
        assert ours_evaluator.csv_file == reference_evaluator.csv_file
        name = reference_evaluator.csv_file
        assert_same_csv(csv_folder / "ours" / name, csv_folder / "ref" / name)
    return actual


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def assert_same_csv(actual: Path, expected: Path) -> None:
    ours_rows, reference_rows = read_csv(actual), read_csv(expected)
    assert ours_rows[0] == reference_rows[0]  # the header
    assert len(ours_rows) == len(reference_rows)
    for mine, theirs in zip(ours_rows[1:], reference_rows[1:], strict=True):
        assert np.allclose(np.array(mine, dtype=float), np.array(theirs, dtype=float), atol=TOLERANCE, equal_nan=True)


# --------------------------------------------------------------------------------------- data
def sts_data(seed: int = 0, size: int = 40) -> tuple[list[str], list[str], list[float]]:
    rng = random.Random(seed)
    first, second = rng.sample(LINES, size), rng.sample(LINES, size)
    return first, second, [round(rng.uniform(0, 5), 2) for _ in range(size)]


def binary_data(seed: int = 1, size: int = 40) -> tuple[list[str], list[str], list[int]]:
    rng = random.Random(seed)
    pool = rng.sample(LINES, 30)  # repeated texts: each is encoded once
    return (
        [rng.choice(pool) for _ in range(size)],
        [rng.choice(pool) for _ in range(size)],
        [rng.randint(0, 1) for _ in range(size)],
    )


def ir_data(seed: int = 2) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    rng = random.Random(seed)
    texts = rng.sample(LINES, 72)
    queries = {f"q{i}": text for i, text in enumerate(texts[:12])}
    corpus = {f"d{i:02d}": text for i, text in enumerate(texts[12:])}
    relevant = {qid: set(rng.sample(sorted(corpus), rng.randint(1, 4))) for qid in list(queries)[:10]}
    return queries, corpus, relevant  # two queries without relevant documents are skipped


def triplet_data(seed: int = 3, size: int = 30) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    return rng.sample(LINES, size), rng.sample(LINES, size), rng.sample(LINES, size)


def rerank_samples(seed: int = 4) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    samples = []
    for count in range(6):
        texts = rng.sample(LINES, 8)
        samples.append({"query": texts[0], "positive": texts[1 : 1 + count % 3 + 1], "negative": texts[4:]})
    samples.append({"query": "no negatives", "positive": ["a"], "negative": []})  # dropped by both
    return samples


def retrieved_samples(seed: int = 5) -> list[dict[str, Any]]:
    """First-stage results: positives found at various ranks, missed, or not found at all."""
    rng = random.Random(seed)
    samples = []
    for index in range(6):
        texts = rng.sample(LINES, 10)
        positives, others = texts[:2], texts[2:]
        documents = others[:5]
        if index % 3 == 0:
            documents = [positives[0], *documents]
        elif index % 3 == 1:
            documents = [*documents[:2], positives[1], *documents[2:], positives[0]]
        samples.append({"query": texts[-1], "positive": positives, "documents": documents})
    return samples


# ------------------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def bi(hf_checkpoints: dict[str, Path]) -> tuple[SentenceTransformer, Any]:
    import sentence_transformers as st

    folder = str(hf_checkpoints["bert"])
    return SentenceTransformer(folder, device="cpu"), st.SentenceTransformer(folder, device="cpu")


@pytest.fixture(scope="module")
def cross(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[CrossEncoder, Any]]:
    import sentence_transformers as st

    root = tmp_path_factory.mktemp("eval_cross")
    models = {}
    for labels in (1, 3):
        folder = build_sequence_classifier(root / f"ce{labels}", num_labels=labels, seed=labels)
        models[labels] = (CrossEncoder(folder, device="cpu"), st.CrossEncoder(str(folder), device="cpu"))
    return models


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> tuple[SparseEncoder, Any]:
    import sentence_transformers as st
    from sentence_transformers.sparse_encoder.modules import SpladePooling, Transformer

    root = tmp_path_factory.mktemp("eval_sparse")
    mlm = build_masked_lm(root / "mlm")
    modules = [Transformer(str(mlm), transformer_task="fill-mask"), SpladePooling("max")]
    st.SparseEncoder(modules=modules, device="cpu").save(str(root / "splade"))
    return SparseEncoder(root / "splade", device="cpu"), st.SparseEncoder(str(root / "splade"), device="cpu")


# ------------------------------------------------------------------------------ bi-encoder cases
def _cases(st_util: Any) -> dict[str, Callable[[Any], Any]]:
    """Per case, a function that builds the evaluator from the evaluation module of one library."""
    first, second, gold = sts_data()
    b1, b2, labels = binary_data()
    queries, corpus, relevant = ir_data()
    anchors, positives, negatives = triplet_data()
    sentences = {index: text for index, text in enumerate(LINES[:40])}
    duplicates = [(0, 1), (1, 2), (5, 9), (10, 30), (38, 39), (7, 400)]
    return {
        "sts_default": lambda m: m.EmbeddingSimilarityEvaluator(first, second, gold),
        "sts_all": lambda m: m.EmbeddingSimilarityEvaluator(
            first, second, gold, name="dev", similarity_fn_names=["cosine", "euclidean", "manhattan", "dot"]
        ),
        "sts_main": lambda m: m.EmbeddingSimilarityEvaluator(first, second, gold, main_similarity="dot", batch_size=5),
        "sts_int8": lambda m: m.EmbeddingSimilarityEvaluator(first, second, gold, precision="int8", name="q"),
        "sts_ubinary": lambda m: m.EmbeddingSimilarityEvaluator(first, second, gold, precision="ubinary"),
        "sts_truncated": lambda m: m.EmbeddingSimilarityEvaluator(first, second, gold, truncate_dim=16),
        "binary_default": lambda m: m.BinaryClassificationEvaluator(b1, b2, labels),
        "binary_all": lambda m: m.BinaryClassificationEvaluator(
            b1, b2, labels, name="pairs", similarity_fn_names=["cosine", "dot", "euclidean", "manhattan"]
        ),
        "ir_default": lambda m: m.InformationRetrievalEvaluator(queries, corpus, relevant, name="ir"),
        "ir_chunked": lambda m: m.InformationRetrievalEvaluator(
            queries,
            corpus,
            relevant,
            corpus_chunk_size=7,
            mrr_at_k=[1, 5],
            ndcg_at_k=[3, 20],
            accuracy_at_k=[2],
            precision_recall_at_k=[4, 70],
            map_at_k=[5, 100],
            query_prompt="query: ",
        ),
        "ir_functions": lambda m: m.InformationRetrievalEvaluator(
            queries,
            corpus,
            relevant,
            score_functions={"cosine": st_util.cos_sim, "dot": st_util.dot_score},
            main_score_function="dot",
        ),
        "triplet_default": lambda m: m.TripletEvaluator(anchors, positives, negatives),
        "triplet_all": lambda m: m.TripletEvaluator(
            anchors,
            positives,
            negatives,
            name="tri",
            margin={"cosine": 0.01, "dot": 0.5},
            similarity_fn_names=["cosine", "dot", "manhattan", "euclidean"],
        ),
        "reranking": lambda m: m.RerankingEvaluator(rerank_samples(), at_k=3, name="rr"),
        "reranking_single": lambda m: m.RerankingEvaluator(
            rerank_samples(), use_batched_encoding=False, similarity_fct=st_util.dot_score
        ),
        "paraphrase": lambda m: m.ParaphraseMiningEvaluator(sentences, duplicates, top_k=5, name="pm"),
        "paraphrase_closure": lambda m: m.ParaphraseMiningEvaluator(
            sentences, duplicates, add_transitive_closure=True, max_pairs=60
        ),
        "translation": lambda m: m.TranslationEvaluator(LINES[:20], [line.lower() for line in LINES[:20]]),
    }


CASES = list(_cases(None))


@pytest.mark.parametrize("case", CASES)
def test_bi_encoder_evaluators_match_reference(bi, case: str, tmp_path: Path) -> None:
    from sentence_transformers import util as st_util
    from sentence_transformers.sentence_transformer import evaluation as reference

    from sentkit import util

    our_model, reference_model = bi
    if case in ("sts_int8", "sts_ubinary"):
        # Quantized metrics: a 1e-7 difference between the two models' embeddings can move a value
        # across a bucket edge, so both evaluators score the same (reference) model's embeddings here.
        our_model = reference_model
    build_ours, build_reference = _cases(util)[case], _cases(st_util)[case]
    run_both(build_ours(ours), build_reference(reference), our_model, reference_model, tmp_path)


def test_mse_and_sequential_match_reference(bi, tmp_path: Path) -> None:
    from sentence_transformers.sentence_transformer import evaluation as reference

    our_model, reference_model = bi
    sources, targets = LINES[:15], [line.upper() for line in LINES[:15]]
    mse_ours = ours.MSEEvaluator(sources, targets, teacher_model=our_model, name="distill")
    mse_ref = reference.MSEEvaluator(sources, targets, teacher_model=reference_model, name="distill")
    run_both(mse_ours, mse_ref, our_model, reference_model, tmp_path)
    first, second, gold = sts_data()
    sequence_ours = ours.SequentialEvaluator([ours.EmbeddingSimilarityEvaluator(first, second, gold), mse_ours])
    sequence_ref = reference.SequentialEvaluator([reference.EmbeddingSimilarityEvaluator(first, second, gold), mse_ref])
    result = run_both(sequence_ours, sequence_ref, our_model, reference_model)
    assert result["sequential_score"] == result["distill_negative_mse"]


def test_csv_rows_are_appended_and_optional(bi, tmp_path: Path) -> None:
    from sentence_transformers import util as st_util
    from sentence_transformers.sentence_transformer import evaluation as reference

    from sentkit import util

    our_model, reference_model = bi
    for case in ("sts_all", "ir_chunked"):
        evaluator_ours, evaluator_ref = _cases(util)[case](ours), _cases(st_util)[case](reference)
        for epoch, steps in ((0, 10), (1, -1)):
            evaluator_ours(our_model, output_path=str(tmp_path / "ours"), epoch=epoch, steps=steps)
            evaluator_ref(reference_model, output_path=str(tmp_path / "ref"), epoch=epoch, steps=steps)
        rows = read_csv(tmp_path / "ours" / evaluator_ours.csv_file)
        assert [row[:2] for row in rows[1:]] == [["0", "10"], ["1", "-1"]]
        assert_same_csv(tmp_path / "ours" / evaluator_ours.csv_file, tmp_path / "ref" / evaluator_ref.csv_file)
    evaluator = ours.EmbeddingSimilarityEvaluator(*sts_data(), write_csv=False)
    evaluator(our_model, output_path=str(tmp_path / "none"))
    assert not (tmp_path / "none").exists()


# --------------------------------------------------------------- exact ties, with a fake model
class FakeModel:
    """A model with the public encode API whose embeddings are given per text (to force exact ties)."""

    similarity_fn_name = "cosine"

    class _Card:
        def set_evaluation_metrics(self, *args: Any, **kwargs: Any) -> None:
            pass

    def __init__(self, vectors: dict[str, Any]) -> None:
        self.vectors = vectors
        self.model_card_data = self._Card()

    def encode(self, sentences: Any, convert_to_tensor: bool = False, **kwargs: Any) -> Any:
        embeddings = np.stack([np.asarray(self.vectors[text], dtype=np.float32) for text in sentences])
        return torch.from_numpy(embeddings) if convert_to_tensor else embeddings

    encode_query = encode_document = encode

    def similarity(self, a: Any, b: Any) -> torch.Tensor:
        from sentkit.util import cos_sim

        return cos_sim(a, b)


def test_ties_are_broken_like_the_reference() -> None:
    from sentence_transformers.sentence_transformer import evaluation as reference

    # Four directions only: most scores tie exactly; ids decide the order across chunks.
    directions = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]]
    texts = [f"text {i}" for i in range(40)]
    model = FakeModel({text: directions[i % 4] for i, text in enumerate(texts)})
    queries = {f"q{i}": texts[i] for i in range(4)}
    corpus = {f"c{39 - i:02d}": texts[i] for i in range(4, 40)}  # ids in reverse order of texts
    # Each query ties with 9 documents; the 5 kept must be those with the lowest ids.
    relevant = {"q0": {"c07", "c31"}, "q1": {"c30", "c06"}, "q2": {"c10", "c33", "c05"}, "q3": {"c35", "c04"}}
    for chunk in (7, 50000):
        options = {
            "corpus_chunk_size": chunk,
            "mrr_at_k": [3],
            "ndcg_at_k": [5],
            "accuracy_at_k": [1, 3],
            "precision_recall_at_k": [2, 5],
            "map_at_k": [4],
        }
        run_both(
            ours.InformationRetrievalEvaluator(queries, corpus, relevant, **options),
            reference.InformationRetrievalEvaluator(queries, corpus, relevant, **options),
            model,
            model,
        )
    labels = [i % 3 == 0 for i in range(20)]
    for names in (["cosine"], ["dot", "manhattan", "euclidean"]):
        run_both(
            ours.BinaryClassificationEvaluator(texts[:20], texts[20:], labels, similarity_fn_names=names),
            reference.BinaryClassificationEvaluator(texts[:20], texts[20:], labels, similarity_fn_names=names),
            model,
            model,
        )


# ------------------------------------------------------------------------------ cross-encoders
CROSS_CASES = {
    "correlation": (1, "CrossEncoderCorrelationEvaluator", "scores", {"name": "sts"}),
    "binary": (1, "CrossEncoderClassificationEvaluator", "binary", {"name": "bin"}),
    "multiclass": (3, "CrossEncoderClassificationEvaluator", "classes", {}),
    "rerank_negatives": (1, "CrossEncoderRerankingEvaluator", "negatives", {"at_k": 3}),
    "rerank_documents": (1, "CrossEncoderRerankingEvaluator", "documents", {"name": "rr"}),
    "rerank_documents_only": (1, "CrossEncoderRerankingEvaluator", "documents", {"always_rerank_positives": False}),
}


@pytest.mark.parametrize("case", list(CROSS_CASES))
def test_cross_encoder_evaluators_match_reference(cross, case: str, tmp_path: Path) -> None:
    from sentence_transformers.cross_encoder import evaluation as reference

    num_labels, class_name, data, options = CROSS_CASES[case]
    first, second, gold = sts_data(size=30)
    pairs = [[a, b] for a, b in zip(first, second, strict=True)]
    args = {
        "scores": (pairs, gold),
        "binary": (pairs, [int(score > 2.5) for score in gold]),
        "classes": (pairs, [int(score) % 3 for score in gold]),
        "negatives": (rerank_samples()[:-1],),
        "documents": (retrieved_samples(),),
    }[data]
    our_model, reference_model = cross[num_labels]
    evaluator_ours = getattr(ours, class_name)(*args, **options, show_progress_bar=False)
    evaluator_ref = getattr(reference, class_name)(*args, **options, show_progress_bar=False)
    result = run_both(evaluator_ours, evaluator_ref, our_model, reference_model, tmp_path)
    assert any("base_" in key for key in result) == (data == "documents")


# -------------------------------------------------------------------------------------- sparse
@pytest.mark.parametrize("options", [{}, {"corpus_chunk_size": 13, "max_active_dims": 8, "name": "sp"}], ids=str)
def test_sparse_information_retrieval_matches_reference(sparse, options, tmp_path: Path) -> None:
    from sentence_transformers.sparse_encoder import evaluation as reference

    our_model, reference_model = sparse
    queries, corpus, relevant = ir_data()
    evaluator_ours = ours.SparseInformationRetrievalEvaluator(queries, corpus, relevant, **options)
    evaluator_ref = reference.SparseInformationRetrievalEvaluator(queries, corpus, relevant, **options)
    result = run_both(evaluator_ours, evaluator_ref, our_model, reference_model, tmp_path)
    prefix = f"{options['name']}_" if "name" in options else ""
    assert 0 < result[f"{prefix}query_active_dims"] <= options.get("max_active_dims", 400)
    assert result[f"{prefix}avg_flops"] > 0


# ------------------------------------------------------------------------- statistics and errors
def test_statistics_match_scipy_and_sklearn() -> None:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef, ndcg_score

    from sentkit.train.evaluation import metrics

    rng = np.random.default_rng(0)
    for _ in range(20):
        size = int(rng.integers(2, 30))
        scores = rng.integers(0, 6, size).astype(np.float32) / 2  # many ties
        labels = rng.integers(0, 2, size)
        labels[0] = 1
        gold = rng.normal(size=size)
        assert metrics.pearson(gold, scores) == pytest.approx(pearsonr(gold, scores)[0], abs=1e-12)
        assert metrics.spearman(gold, scores) == pytest.approx(spearmanr(gold, scores)[0], abs=1e-12)
        assert metrics.average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores))
        predicted = scores > 1
        assert metrics.matthews_corrcoef(labels, predicted) == pytest.approx(matthews_corrcoef(labels, predicted))
        classes, guesses = rng.integers(0, 4, size), rng.integers(0, 4, size)
        for average, value in metrics.f1_scores(classes, guesses).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert value == pytest.approx(f1_score(classes, guesses, average=average))
        for k in (1, 3, None):
            assert metrics.ndcg_at_k(labels, scores, k) == pytest.approx(ndcg_score([labels], [scores], k=k))


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(InputError, match="same length"):
        ours.EmbeddingSimilarityEvaluator(["a", "b"], ["c"], [1.0, 2.0])
    with pytest.raises(InputError, match="0 or 1"):
        ours.BinaryClassificationEvaluator(["a"], ["b"], [2])
    with pytest.raises(InputError, match="similarity"):
        ours.TripletEvaluator(["a"], ["b"], ["c"], similarity_fn_names=["jaccard"])
    with pytest.raises(InputError, match="margin"):
        ours.TripletEvaluator(["a"], ["b"], ["c"], margin={"jaccard": 1.0})
    with pytest.raises(InputError, match="relevant"):
        ours.InformationRetrievalEvaluator({"q": "x"}, {"d": "y"}, {"q": set()})
    with pytest.raises(InputError, match="exactly one"):
        ours.CrossEncoderRerankingEvaluator([{"query": "q", "positive": ["p"]}])(object())


# ------------------------------------------------------------------------------- the real model
class Recorder:
    """Passes ``encode`` through to a model and keeps each text's embedding."""

    def __init__(self, model: Any) -> None:
        self.model, self.vectors = model, {}
        self.similarity_fn_name = model.similarity_fn_name

    def encode(self, sentences: list[str], **kwargs: Any) -> Any:
        embeddings = self.model.encode(sentences, **kwargs)
        self.vectors.update(zip(sentences, embeddings, strict=True))
        return embeddings


# sentence-transformers 6.2's EmbeddingSimilarityEvaluator on its own all-MiniLM-L6-v2, STS-B test.
REFERENCE_STSB_SPEARMAN = 0.8203


@pytest.mark.slow
def test_stsb_spearman_of_all_minilm_matches_reference(stsb_path: Path) -> None:
    """One encoding pass (sentkit's; its parity with the reference's embeddings is test_real_model's job);
    the reference evaluator scores the very same embeddings."""
    from sentence_transformers.sentence_transformer import evaluation as reference

    first, second, gold = [], [], []
    with stsb_path.open(encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            gold.append(float(row[4]))
            first.append(row[5])
            second.append(row[6])
    options = {"name": "sts-test", "batch_size": 64}
    evaluator_ours = ours.EmbeddingSimilarityEvaluator(first, second, gold, **options)
    recorder = Recorder(SentenceTransformer("all-MiniLM-L6-v2", device="cpu"))
    result = evaluator_ours(recorder)
    assert evaluator_ours.primary_metric == "sts-test_spearman_cosine"
    assert round(result["sts-test_spearman_cosine"], 4) == REFERENCE_STSB_SPEARMAN
    expected = reference.EmbeddingSimilarityEvaluator(first, second, gold, **options)(FakeModel(recorder.vectors))
    assert_same_metrics(result, expected)
