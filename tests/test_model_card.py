"""Model cards (README.md) and push_to_hub: metadata equal to sentence-transformers' card for the same
model and card data, the body, what training records, checksums, and uploads through a fake hub."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import yaml  # type: ignore[import-untyped]

from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.encoders.sentence_transformer import SentenceTransformer
from sentkit.encoders.sparse_encoder import SparseEncoder
from sentkit.io import hub_upload
from sentkit.io.integrity import MANIFEST_FILE, verify_model_folder
from sentkit.io.model_card import (
    CrossEncoderModelCardData,
    MultiVectorEncoderModelCardData,
    SentenceTransformerModelCardData,
    SparseEncoderModelCardData,
    attach_model_card,
)
from tests.tiny_models import build, build_masked_lm, build_sequence_classifier, corpus_lines

st = pytest.importorskip("sentence_transformers")
reference_card = pytest.importorskip("sentence_transformers.base.model_card")

METADATA_KEYS = ("language", "license", "library_name", "base_model", "datasets", "tags", "pipeline_tag")
BASE_ID = "org/tiny-bert"  # what the folder name org_tiny-bert reads as, once the hub knows it
DATASET_ID = "sentence-transformers/stsb"
LINES = corpus_lines()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("card_models")
    return {
        "bert": build("bert", root / "org_tiny-bert"),
        "classifier": build_sequence_classifier(root / "classifier"),
        "mlm": build_masked_lm(root / "mlm"),
    }


class FakeHub:
    """The hub as far as model cards and uploads go: two known ids, and a record of every call."""

    def __init__(self, has_readme: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.uploaded: dict[str, bytes] = {}
        self.has_readme = has_readme

    def model_info(self, repo_id: str, revision: str | None = None) -> Any:
        if repo_id != BASE_ID:
            raise LookupError(repo_id)
        return SimpleNamespace(id=repo_id, sha="a" * 40)

    def dataset_info(self, repo_id: str) -> Any:
        if repo_id != DATASET_ID:
            raise LookupError(repo_id)
        return SimpleNamespace(id=repo_id, card_data={"language": ["en"]}, cardData={"language": ["en"]})

    def create_repo(self, repo_id: str, **options: Any) -> Any:
        self.calls.append(("create_repo", {"repo_id": repo_id, **options}))
        return SimpleNamespace(repo_id=repo_id if "/" in repo_id else f"me/{repo_id}")

    def create_branch(self, repo_id: str, **options: Any) -> None:
        self.calls.append(("create_branch", {"repo_id": repo_id, **options}))

    def file_exists(self, repo_id: str, filename: str, revision: str | None = None) -> bool:
        self.calls.append(("file_exists", {"repo_id": repo_id, "filename": filename, "revision": revision}))
        return self.has_readme

    def upload_folder(self, **options: Any) -> Any:
        self.calls.append(("upload_folder", options))
        folder = Path(options["folder_path"])
        self.uploaded = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        return SimpleNamespace(commit_url="https://hub/commit/1", pr_url="https://hub/pr/1")


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """Both libraries see the fake hub: sentkit through its client seam, the reference through its look-ups."""
    hub = FakeHub()
    monkeypatch.setattr(hub_upload, "hub_offline", lambda: False)
    monkeypatch.setattr(hub_upload, "make_client", lambda token=None: hub)
    monkeypatch.setattr(reference_card, "get_model_info", hub.model_info)
    monkeypatch.setattr(reference_card, "get_dataset_info", hub.dataset_info)
    return hub


def front_matter(folder: Path) -> dict[str, Any]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return dict(yaml.safe_load(text.split("---\n")[1]))


def card_arguments(with_datasets: bool) -> dict[str, Any]:
    arguments: dict[str, Any] = {"license": "apache-2.0", "model_id": "me/my-model"}
    if with_datasets:
        arguments["train_datasets"] = [{"name": "STSB", "id": DATASET_ID}, {"name": "local pairs"}]
    else:
        arguments["language"] = ["en", "nl"]
    return arguments


@pytest.mark.parametrize("with_datasets", [False, True])
def test_sentence_transformer_metadata_matches_reference(
    folders: dict[str, Path], tmp_path: Path, fake_hub: FakeHub, with_datasets: bool
) -> None:
    card = SentenceTransformerModelCardData(**card_arguments(with_datasets))
    SentenceTransformer(folders["bert"], device="cpu", model_card_data=card).save(tmp_path / "ours")
    theirs = st.SentenceTransformer(
        str(folders["bert"]),
        device="cpu",
        model_card_data=st.SentenceTransformerModelCardData(**card_arguments(with_datasets)),
    )
    if with_datasets:
        # The reference cannot render a card that names data sets before training (its template wants
        # their columns), so its metadata is taken from the card data it would write the front matter from.
        reference = dict(yaml.safe_load(theirs.model_card_data.to_yaml()))
    else:
        theirs.save(str(tmp_path / "theirs"))
        reference = front_matter(tmp_path / "theirs")
    mine = front_matter(tmp_path / "ours")
    for key in METADATA_KEYS:
        assert mine.get(key) == reference.get(key), key
    loaded = SentenceTransformer(
        folders["bert"], device="cpu", model_card_data=SentenceTransformerModelCardData(**card_arguments(with_datasets))
    )
    assert dict(yaml.safe_load(loaded.model_card_data.to_yaml())) == mine  # the reference's CardData methods
    assert loaded.model_card_data.to_dict()["base_model"] == BASE_ID
    # The fake hub was consulted: the base model (and the data set id, and its language) are in both cards.
    assert mine["base_model"] == BASE_ID
    if with_datasets:
        assert mine["datasets"] == [DATASET_ID]
        assert mine["language"] == ["en"]
        body = (tmp_path / "ours" / "README.md").read_text(encoding="utf-8")
        assert f"on the [STSB](https://huggingface.co/datasets/{DATASET_ID}) and local pairs datasets" in body


@pytest.mark.parametrize(
    ("family", "ours_class", "card_class"),
    [("classifier", CrossEncoder, CrossEncoderModelCardData), ("mlm", SparseEncoder, SparseEncoderModelCardData)],
)
def test_cross_and_sparse_metadata_match_reference(
    folders: dict[str, Path], tmp_path: Path, fake_hub: FakeHub, family: str, ours_class: Any, card_class: Any
) -> None:
    reference_class = getattr(st, ours_class.__name__)
    reference_card_class = getattr(st, card_class.__name__)
    ours = ours_class(str(folders[family]), device="cpu", model_card_data=card_class(license="mit", language="de"))
    ours.save(tmp_path / "ours")
    theirs = reference_class(
        str(folders[family]), device="cpu", model_card_data=reference_card_class(license="mit", language="de")
    )
    theirs.save(str(tmp_path / "theirs"))
    mine, reference = front_matter(tmp_path / "ours"), front_matter(tmp_path / "theirs")
    for key in METADATA_KEYS:
        assert mine.get(key) == reference.get(key), key
    body = (tmp_path / "ours" / "README.md").read_text(encoding="utf-8")
    if ours_class is CrossEncoder:
        assert mine["pipeline_tag"] == "text-ranking"
        assert "- **Number of Output Labels:** 1 label" in body
        assert "ranks = model.rank(" in body
    else:
        assert "splade" in mine["tags"]
        assert "- **Model Type:** SPLADE Sparse Encoder" in body
        assert f"- **Output Dimensionality:** {ours.get_embedding_dimension()} dimensions" in body


def test_multi_vector_metadata_matches_reference(folders: dict[str, Path], tmp_path: Path, fake_hub: FakeHub) -> None:
    from sentkit import MultiVectorEncoder

    torch.manual_seed(0)  # the token projection a SentenceTransformer folder gets is random: the same on both sides
    ours = MultiVectorEncoder(str(folders["bert"]), device="cpu", model_card_data=MultiVectorEncoderModelCardData())
    ours.save(tmp_path / "ours")
    torch.manual_seed(0)
    theirs = st.MultiVectorEncoder(
        str(folders["bert"]), device="cpu", model_card_data=st.multi_vector_encoder.MultiVectorEncoderModelCardData()
    )
    theirs.save(str(tmp_path / "theirs"))
    mine, reference = front_matter(tmp_path / "ours"), front_matter(tmp_path / "theirs")
    for key in METADATA_KEYS:
        assert mine.get(key) == reference.get(key), key
    body = (tmp_path / "ours" / "README.md").read_text(encoding="utf-8")
    expected = (tmp_path / "theirs" / "README.md").read_text(encoding="utf-8")
    for line in (
        "- **Model Type:** Multi-Vector Encoder",
        f"- **Output Dimensionality:** {ours.get_embedding_dimension()} dimensions",
        "- **Similarity Function:** MaxSim",
        "print(query_embeddings[0].shape, document_embeddings[0].shape)",
    ):
        assert line in expected, line
        assert line in body, line
    assert 'model = MultiVectorEncoder("multi_vector_encoder_model_id")' in body


@pytest.mark.parametrize(
    "card_class",
    [
        SentenceTransformerModelCardData,
        CrossEncoderModelCardData,
        SparseEncoderModelCardData,
        MultiVectorEncoderModelCardData,
    ],
)
def test_card_data_fields_and_defaults_are_the_reference_ones(card_class: Any) -> None:
    reference_class = getattr(st, card_class.__name__, None) or getattr(st.multi_vector_encoder, card_class.__name__)
    theirs = {f.name: f for f in dataclasses.fields(reference_class) if f.init}
    ours = {f.name: f for f in dataclasses.fields(card_class) if f.init}
    assert set(ours) == set(theirs)
    mine, reference = card_class(local_files_only=True), reference_class(local_files_only=True)
    for name in theirs:
        assert getattr(mine, name) == getattr(reference, name), name


def test_hub_name_a_model_was_loaded_by_is_its_base_model(
    folders: dict[str, Path], tmp_path: Path, fake_hub: FakeHub
) -> None:
    model = CrossEncoder(str(folders["classifier"]), device="cpu")
    assert model.model_card_data.base_model is None  # loading asks the hub nothing
    attach_model_card(model, None, CrossEncoderModelCardData, None, BASE_ID, False, "main")  # as if loaded by name
    model.save(tmp_path / "saved")
    body = (tmp_path / "saved" / "README.md").read_text(encoding="utf-8")
    assert front_matter(tmp_path / "saved")["base_model"] == BASE_ID
    assert f"- **Base model:** [{BASE_ID}](https://huggingface.co/{BASE_ID}) <!-- at revision {'a' * 40} -->" in body
    assert f"# CrossEncoder based on {BASE_ID}" in body


def test_short_hub_names_are_expanded_as_loading_expands_them(folders: dict[str, Path]) -> None:
    """The base model recorded for a model loaded by a short name is the full hub id, as in the reference."""
    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")  # from its carrier package, no network
    assert model.model_card_data.source_model == ("sentence-transformers/all-MiniLM-L6-v2", None)
    reranker = CrossEncoder(str(folders["classifier"]), device="cpu")
    attach_model_card(
        reranker, None, CrossEncoderModelCardData, None, "ms-marco-MiniLM-L6-v2", organization="cross-encoder"
    )
    assert reranker.model_card_data.source_model == ("cross-encoder/ms-marco-MiniLM-L6-v2", None)
    attach_model_card(
        reranker, None, CrossEncoderModelCardData, None, "bert-base-uncased", organization="cross-encoder"
    )
    assert reranker.model_card_data.source_model == ("bert-base-uncased", None)  # an original model name stays


def test_body_describes_the_model(folders: dict[str, Path], tmp_path: Path) -> None:
    model = SentenceTransformer(
        folders["bert"], device="cpu", model_card_data=SentenceTransformerModelCardData(language="en")
    )
    model.save(tmp_path / "saved", model_name="me/tiny")
    body = (tmp_path / "saved" / "README.md").read_text(encoding="utf-8")
    assert "- **Maximum Sequence Length:** 128 tokens" in body
    assert "- **Output Dimensionality:** 32 dimensions" in body
    assert "- **Similarity Function:** Cosine Similarity" in body
    assert f"```\n{model}\n```" in body  # the full architecture
    assert 'model = SentenceTransformer("me/tiny")' in body  # model_name became the model id
    embeddings = model.encode(["The weather is lovely today.", "It's so sunny outside!"], convert_to_tensor=True)
    printed = f"{float(model.similarity(embeddings, embeddings)[0, 1]):.4f}"
    assert printed in body  # the snippet shows what the model gives
    assert "base_model" not in front_matter(tmp_path / "saved")  # offline: nothing verified on the hub


def test_no_card_when_asked(folders: dict[str, Path], tmp_path: Path) -> None:
    model = SentenceTransformer(folders["bert"], device="cpu")
    model.save(tmp_path / "plain", create_model_card=False)
    assert not (tmp_path / "plain" / "README.md").exists()
    assert (tmp_path / "plain" / "modules.json").is_file()


def test_checksums_hold_and_reference_loads(folders: dict[str, Path], tmp_path: Path) -> None:
    model = SentenceTransformer(folders["bert"], device="cpu")
    folder = tmp_path / "saved"
    model.save_pretrained(folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert "README.md" not in manifest["files"]
    assert "modules.json" in manifest["files"]
    (folder / "README.md").write_text("edited by hand\n", encoding="utf-8")
    verify_model_folder(folder)  # an edited card leaves the model intact
    texts = LINES[:4]
    theirs = st.SentenceTransformer(str(folder), device="cpu").encode(texts)
    np.testing.assert_allclose(model.encode(texts), theirs, atol=1e-5)


def test_loaded_card_is_kept_until_trained(folders: dict[str, Path], tmp_path: Path) -> None:
    SentenceTransformer(folders["bert"], device="cpu").save(tmp_path / "first")
    first = (tmp_path / "first" / "README.md").read_text(encoding="utf-8")
    SentenceTransformer(tmp_path / "first", device="cpu").save(tmp_path / "second", model_name="me/again")
    second = (tmp_path / "second" / "README.md").read_text(encoding="utf-8")
    assert second == first.replace(
        'SentenceTransformer("sentence_transformers_model_id"', 'SentenceTransformer("me/again"'
    )
    assert 'SentenceTransformer("me/again")' in second


def test_a_loaded_card_is_replaced_once_trained(folders: dict[str, Path], tmp_path: Path, one_thread: None) -> None:
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("accelerate")
    from sentkit.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentkit.train.losses import MultipleNegativesRankingLoss

    SentenceTransformer(folders["bert"], device="cpu").save(tmp_path / "first")
    first = (tmp_path / "first" / "README.md").read_text(encoding="utf-8")
    model = SentenceTransformer(tmp_path / "first", device="cpu")
    data = datasets.Dataset.from_dict({"anchor": LINES[:8], "positive": LINES[8:16]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=4,
        max_steps=1,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
    )
    SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=MultipleNegativesRankingLoss(model)
    ).train()
    model.save(tmp_path / "trained")
    trained = (tmp_path / "trained" / "README.md").read_text(encoding="utf-8")
    assert trained != first
    assert "generated_from_trainer" in front_matter(tmp_path / "trained")["tags"]
    assert "MultipleNegativesRankingLoss" in trained


def test_offline_looks_nothing_up(folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(token: Any = None) -> Any:
        raise AssertionError("the hub was called while offline")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_upload, "make_client", no_network)
    card = SentenceTransformerModelCardData(train_datasets=[{"id": DATASET_ID}])
    model = SentenceTransformer(folders["bert"], device="cpu", model_card_data=card)
    model.save(tmp_path / "saved")
    assert card.base_model is None
    assert card.train_datasets == [{"id": DATASET_ID, "name": DATASET_ID}]


# ------------------------------------------------------------------------------------ training
def test_training_fills_the_card(folders: dict[str, Path], tmp_path: Path, one_thread: None) -> None:
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("accelerate")
    from sentkit.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentkit.train.evaluation import EmbeddingSimilarityEvaluator
    from sentkit.train.losses import CoSENTLoss

    rows = 16
    data = datasets.Dataset.from_dict(
        {
            "sentence1": LINES[:rows],
            "sentence2": LINES[rows : 2 * rows],
            "score": [((i * 7) % 11) / 10 for i in range(rows)],
        }
    )
    card = SentenceTransformerModelCardData(train_datasets=[{"name": "tiny-pairs"}])
    model = SentenceTransformer(folders["bert"], device="cpu", model_card_data=card)
    evaluator = EmbeddingSimilarityEvaluator(LINES[:8], LINES[8:16], [i / 8 for i in range(8)], name="tiny-sts")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        max_steps=2,
        eval_strategy="steps",
        eval_steps=2,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_steps=1,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=CoSENTLoss(model), evaluator=evaluator
    )
    trainer.train()
    folder = tmp_path / "trained"
    model.save(folder)
    body = (folder / "README.md").read_text(encoding="utf-8")
    metadata = front_matter(folder)
    assert "#### tiny-pairs" in body
    assert f"* Size: {rows} training samples" in body
    assert "* Columns: <code>sentence1</code>, <code>sentence2</code>, and <code>score</code>" in body
    assert "* Loss: [<code>CoSENTLoss</code>]" in body
    assert '"similarity_fct": "pairwise_cos_sim"' in body
    assert "#### Non-Default Hyperparameters" in body
    assert "- `learning_rate`: 0.001" in body
    assert "#### Semantic Similarity" in body
    assert "* Dataset: `tiny-sts`" in body
    spearman = evaluator(model)["tiny-sts_spearman_cosine"]
    assert f"| **spearman_cosine** | **{round(spearman, 4)}** |" in body
    assert "### Training Logs" in body
    assert "Training Loss" in body
    assert {"generated_from_trainer", "loss:CoSENTLoss", f"dataset_size:{rows}"} <= set(metadata["tags"])
    assert "spearman_cosine" in metadata["metrics"]
    assert metadata["model-index"]
    assert metadata["widget"]
    assert {"source_sentence", "sentences"} <= set(metadata["widget"][0])
    assert "#### CoSENTLoss" in body  # its citation
    verify_model_folder(folder)
    reloaded = st.SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_allclose(reloaded.encode(LINES[:3]), model.encode(LINES[:3]), atol=1e-5)
    trainer.create_model_card(language="en", license="mit")  # what Trainer.push_to_hub writes
    run_card = front_matter(tmp_path / "run")
    assert run_card["language"] == ["en"]
    assert run_card["license"] == "mit"


# --------------------------------------------------------------------------------- push_to_hub
def test_push_to_hub_uploads_model_and_card(folders: dict[str, Path], fake_hub: FakeHub) -> None:
    model = SentenceTransformer(folders["bert"], device="cpu")
    url = model.push_to_hub("my-model", private=True, revision="dev")
    assert url == "https://hub/commit/1"
    names = [name for name, _ in fake_hub.calls]
    assert names == ["create_repo", "create_branch", "file_exists", "upload_folder"]
    created, branch, _, upload = (options for _, options in fake_hub.calls)
    assert created == {"repo_id": "my-model", "private": True, "repo_type": None, "exist_ok": False}
    assert branch == {"repo_id": "me/my-model", "branch": "dev", "exist_ok": True}
    assert upload["repo_id"] == "me/my-model"
    assert upload["revision"] == "dev"
    assert upload["create_pr"] is False
    assert upload["commit_message"] == "Add new SentenceTransformer model"
    assert upload["commit_description"] is None
    expected = {"README.md", "modules.json", "config_sentence_transformers.json", "model.safetensors", MANIFEST_FILE}
    assert expected <= set(fake_hub.uploaded)
    assert b'SentenceTransformer("me/my-model")' in fake_hub.uploaded["README.md"]
    assert model.model_card_data.model_id == "me/my-model"


def test_push_to_hub_keeps_an_existing_card_and_opens_a_pull_request(
    folders: dict[str, Path], fake_hub: FakeHub, tmp_path: Path
) -> None:
    fake_hub.has_readme = True
    model = CrossEncoder(str(folders["classifier"]), device="cpu")
    assert model.push_to_hub("me/reranker", create_pr=True, commit_message="update") == "https://hub/pr/1"
    created, _, upload = (options for _, options in fake_hub.calls)
    assert created["exist_ok"] is True  # a pull request goes to an existing repository
    assert "README.md" not in fake_hub.uploaded
    assert "modules.json" in fake_hub.uploaded
    assert upload["commit_message"] == "update"
    assert "CrossEncoder(" in upload["commit_description"]
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "weights.bin").write_bytes(b"x")
    model.push_to_hub("me/reranker", local_model_path=str(tmp_path / "local"), exist_ok=True)
    assert fake_hub.calls[-1][1]["folder_path"] == str(tmp_path / "local")
    assert set(fake_hub.uploaded) == {"weights.bin"}
