"""CLIPModel: texts and PIL images in one space, compared with sentence-transformers on the same files.

A tiny random CLIP (32x32 images, 8x8 patches, two layers per tower, a byte-level BPE tokenizer and a
CLIPProcessor) is built once; the reference builds and saves its model folder with its own classes.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from sentkit import SentenceTransformer, util
from sentkit.errors import (
    InputError,
    InputTypeError,
    MissingDependencyError,
    SentkitError,
    UnencodableTextError,
)
from sentkit.modules.clip_model import CLIPModel
from sentkit.modules.registry import module_class_for_type
from tests.reference import max_abs_diff
from tests.tiny_models import build_tiny_clip

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "multilingual_image_search.py"
TEXTS = [
    "a photo of a red circle",
    "two blue squares on a white table",
    "x",
    "Hurricanes draw their energy from warm ocean water " * 8,  # longer than max_seq_length: truncated
]
SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue")


def shape_image(shape: str, colour: str, size: int = 48) -> Image.Image:
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    low, high = size // 6, size - size // 6
    if shape == "circle":
        draw.ellipse((low, low, high, high), fill=colour)
    elif shape == "square":
        draw.rectangle((low, low, high, high), fill=colour)
    else:
        draw.polygon([(size // 2, low), (high, high), (low, high)], fill=colour)
    return image


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The HF checkpoint and the reference's SentenceTransformer folder built on it with its own classes."""
    from sentence_transformers import SentenceTransformer as ReferenceModel
    from sentence_transformers import models as reference_models

    root = tmp_path_factory.mktemp("clip")
    checkpoint = build_tiny_clip(root / "hf")
    ReferenceModel(modules=[reference_models.CLIPModel(str(checkpoint))], device="cpu").save(str(root / "reference"))
    return {"hf": checkpoint, "reference": root / "reference", "root": root}


@pytest.fixture(scope="module")
def reference(folders: dict[str, Path]) -> Any:
    from sentence_transformers import SentenceTransformer as ReferenceModel

    return ReferenceModel(str(folders["reference"]), device="cpu")


@pytest.fixture(scope="module")
def model(folders: dict[str, Path]) -> SentenceTransformer:
    return SentenceTransformer(str(folders["reference"]), device="cpu")


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    """Nine distinct shapes in several sizes (resized by the image processor)."""
    return [shape_image(s, c, size=40 + 8 * i) for i, (s, c) in enumerate((s, c) for s in SHAPES for c in COLOURS)]


def test_reference_names_resolve_to_clip_model() -> None:
    for type_string in (
        "sentence_transformers.models.CLIPModel",
        "sentence_transformers.sentence_transformer.modules.clip_model.CLIPModel",
    ):
        assert module_class_for_type(type_string) is CLIPModel


def test_reference_folder_matches_per_modality(model: SentenceTransformer, reference: Any, images: list) -> None:
    assert model.modalities == reference.modalities == ["text", "image"]
    assert model.get_sentence_embedding_dimension() == reference.get_embedding_dimension() == 16
    assert model.max_seq_length == reference.max_seq_length == 24
    assert max_abs_diff(model.encode(TEXTS), reference.encode(TEXTS)) <= 1e-5
    assert max_abs_diff(model.encode(images, batch_size=4), reference.encode(images, batch_size=4)) <= 1e-5
    ours = model.encode(images[:3], convert_to_tensor=True, normalize_embeddings=True)
    theirs = reference.encode(images[:3], convert_to_tensor=True, normalize_embeddings=True)
    assert max_abs_diff(ours, theirs) <= 1e-5
    assert model.encode(images[0]).shape == reference.encode(images[0]).shape == (16,)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 32])
def test_mixed_images_and_texts_come_back_in_input_order(
    model: SentenceTransformer, reference: Any, images: list, batch_size: int
) -> None:
    mixed = [images[0], TEXTS[0], TEXTS[1], images[1], images[2], TEXTS[2], images[3]]
    # Per-item reference embeddings (one modality per batch, which the reference always accepts).
    expected = np.stack([reference.encode(item) for item in mixed])
    ours = model.encode(mixed, batch_size=batch_size)
    assert max_abs_diff(ours, expected) <= 1e-5
    if batch_size == 1:  # the reference takes a mixed list too while no batch mixes modalities
        assert max_abs_diff(ours, reference.encode(mixed, batch_size=1)) <= 1e-5


def test_image_files_uris_arrays_and_dicts_match_the_reference(
    model: SentenceTransformer, reference: Any, images: list, tmp_path: Path
) -> None:
    """Every image form the reference takes: a path, a data URI, H x W x C and C x H x W arrays (a
    float array is rescaled as the processor does), a one-key dict; a text naming no existing image
    file stays a text; a single item gives one vector."""
    images[0].save(tmp_path / "first.png")
    images[1].rotate(30).save(tmp_path / "second.jpg")
    buffer = io.BytesIO()
    images[2].save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    pixels = np.array(images[3])  # (H, W, 3) uint8, writable
    forms = [
        str(tmp_path / "first.png"),
        uri,
        pixels,
        torch.from_numpy(pixels).permute(2, 0, 1),
        {"image": images[4]},
        pixels.astype(np.float32) / 255,
        str(tmp_path / "second.jpg"),
    ]
    assert max_abs_diff(model.encode(forms, batch_size=3), reference.encode(forms, batch_size=3)) <= 1e-5
    assert max_abs_diff(model.encode(forms[0]), model.encode(images[0])) <= 1e-5  # the file is that image
    texts = [
        {"text": TEXTS[0]},
        {"text": str(tmp_path / "first.png")},  # the key says text, though it names an image file
        str(tmp_path / "missing.png"),
        str(tmp_path / "first.png") + " ",
        "https://[[not a url]].png",
    ]
    assert max_abs_diff(model.encode(texts), reference.encode(texts)) <= 1e-5
    for single in (forms[0], pixels, {"image": images[4]}, uri):
        ours = model.encode(single)
        assert ours.shape == (16,)
        assert max_abs_diff(ours, reference.encode(single)) <= 1e-5
    # A mixed call takes them too (the reference needs one modality per batch): same vectors in input order.
    mixed = model.encode([TEXTS[0], *forms[:3]], batch_size=4)
    assert max_abs_diff(mixed, np.concatenate([model.encode(TEXTS[:1]), model.encode(forms[:3])])) <= 1e-5


def test_features_keys_and_prompts_match_the_reference(
    model: SentenceTransformer, reference: Any, images: list
) -> None:
    for inputs in (TEXTS[:2], images[:2]):
        ours, theirs = model.encode(inputs, output_value=None), reference.encode(inputs, output_value=None)
        assert set(ours[0]) - {"task"} == set(theirs[0])
        assert ours[0]["modality"] == theirs[0]["modality"]
        assert max_abs_diff(ours[1]["sentence_embedding"], theirs[1]["sentence_embedding"]) <= 1e-5
    prompt = "a photo of "
    assert max_abs_diff(model.encode(TEXTS, prompt=prompt), reference.encode(TEXTS, prompt=prompt)) <= 1e-5
    assert max_abs_diff(model.encode(images[:2], prompt=prompt), model.encode(images[:2])) == 0.0
    ours_text = model.encode(TEXTS[:1], prompt=prompt, output_value=None)[0]
    theirs_text = reference.encode(TEXTS[:1], prompt=prompt, output_value=None)[0]
    assert ours_text["prompt_length"] == theirs_text["prompt_length"]


def test_saved_by_sentkit_loads_in_the_reference(
    folders: dict[str, Path], model: SentenceTransformer, images: list
) -> None:
    from sentence_transformers import SentenceTransformer as ReferenceModel

    folder = folders["root"] / "saved-by-sentkit"
    model.save(str(folder))
    entries = json.loads((folder / "modules.json").read_text())
    assert [(e["path"], e["type"]) for e in entries] == [("", "sentence_transformers.models.CLIPModel")]
    config = json.loads((folder / "sentence_bert_config.json").read_text())
    assert config == json.loads((folders["reference"] / "sentence_bert_config.json").read_text())
    inputs = [*TEXTS, *images[:4]]
    loaded = ReferenceModel(str(folder), device="cpu")
    expected = np.stack([loaded.encode(item) for item in inputs])
    assert max_abs_diff(model.encode(inputs), expected) <= 1e-5
    assert max_abs_diff(SentenceTransformer(str(folder), device="cpu").encode(inputs), expected) <= 1e-5


def test_old_style_folder_loads(folders: dict[str, Path], reference: Any, images: list) -> None:
    """The older reference's layout: a 0_CLIPModel folder with preprocessor_config.json and no module config."""
    from sentence_transformers import SentenceTransformer as ReferenceModel
    from transformers import AutoProcessor

    root = folders["root"] / "old-style"
    module_folder = root / "0_CLIPModel"
    module_folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(folders["hf"] / name, module_folder / name)
    processor = AutoProcessor.from_pretrained(folders["hf"])
    processor.image_processor.save_pretrained(module_folder)  # preprocessor_config.json
    processor.tokenizer.save_pretrained(module_folder)
    entry = {"idx": 0, "name": "0", "path": "0_CLIPModel", "type": "sentence_transformers.models.CLIPModel"}
    (root / "modules.json").write_text(json.dumps([entry]))
    inputs = [images[0], TEXTS[0], images[1], TEXTS[1]]
    ours = SentenceTransformer(str(root), device="cpu").encode(inputs)
    assert max_abs_diff(ours, ReferenceModel(str(root), device="cpu").encode(inputs, batch_size=1)) <= 1e-5
    assert max_abs_diff(ours, np.stack([reference.encode(item) for item in inputs])) <= 1e-5


def test_max_seq_length_truncates_like_the_reference(folders: dict[str, Path], reference: Any) -> None:
    from sentence_transformers import SentenceTransformer as ReferenceModel

    ours = SentenceTransformer(str(folders["reference"]), device="cpu")
    theirs = ReferenceModel(str(folders["reference"]), device="cpu")
    ours.max_seq_length = theirs.max_seq_length = 6
    assert max_abs_diff(ours.encode(TEXTS), theirs.encode(TEXTS)) <= 1e-5
    assert max_abs_diff(ours.encode(TEXTS[3]), reference.encode(TEXTS[3])) > 1e-3  # truncation changed it
    with pytest.raises(SentkitError, match="64 tokens"):
        ours.max_seq_length = 65
    ours.save(str(folders["root"] / "short-texts"))  # the length is saved with the tokenizer, as the reference does
    assert ReferenceModel(str(folders["root"] / "short-texts"), device="cpu").max_seq_length == 6
    assert SentenceTransformer(str(folders["root"] / "short-texts"), device="cpu").max_seq_length == 6


def test_image_search_duplicates_and_clusters(model: SentenceTransformer, reference: Any, images: list) -> None:
    """Near-duplicates (blurred, rotated, resized) are found by the util functions, as with the reference."""
    duplicates = [
        images[0].filter(ImageFilter.GaussianBlur(0.6)),
        images[4].rotate(2, fillcolor="white"),
        images[8].resize((70, 70)),
    ]
    originals = [0, 4, 8]
    collection = images + duplicates
    embeddings = model.encode(collection, convert_to_tensor=True, normalize_embeddings=True)
    reference_embeddings = reference.encode(collection, convert_to_tensor=True, normalize_embeddings=True)
    assert max_abs_diff(embeddings, reference_embeddings) <= 1e-5

    # Image search: each near-duplicate finds its original first among the distinct images.
    hits = util.semantic_search(embeddings[len(images) :], embeddings[: len(images)], top_k=3)
    assert [query_hits[0]["corpus_id"] for query_hits in hits] == originals

    # Duplicate detection: the three duplicate pairs score highest, as in the reference's util.
    from sentence_transformers import util as reference_util

    pairs = util.paraphrase_mining(model, collection, batch_size=4)
    expected_pairs = {(original, len(images) + i) for i, original in enumerate(originals)}
    assert {(i, j) for _, i, j in pairs[:3]} == expected_pairs
    reference_pairs = reference_util.paraphrase_mining(reference, collection, batch_size=4)
    assert [(i, j) for _, i, j in pairs] == [(i, j) for _, i, j in reference_pairs]
    assert max(abs(a[0] - b[0]) for a, b in zip(pairs, reference_pairs, strict=True)) <= 1e-5

    # Clustering: a threshold between the duplicates' and the distinct images' similarities gives the pairs.
    similarity = (embeddings @ embeddings.T).numpy()
    duplicate_scores = [similarity[i, j] for i, j in expected_pairs]
    others = [similarity[i, j] for i in range(len(collection)) for j in range(i) if (j, i) not in expected_pairs]
    assert min(duplicate_scores) > max(others)
    threshold = float(min(duplicate_scores) + max(others)) / 2
    communities = util.community_detection(embeddings, threshold=threshold, min_community_size=2)
    assert sorted(sorted(c) for c in communities) == sorted(sorted(pair) for pair in expected_pairs)
    reference_communities = reference_util.community_detection(embeddings, threshold=threshold, min_community_size=2)
    assert sorted(sorted(c) for c in communities) == sorted(sorted(c) for c in reference_communities)


def test_bad_inputs_raise_clear_errors(folders: dict[str, Path], model: SentenceTransformer, images: list) -> None:
    from sentkit.modules import StaticEmbedding
    from tests.tiny_models import wordpiece_tokenizer

    text_only = SentenceTransformer(modules=[StaticEmbedding(wordpiece_tokenizer(), embedding_dim=8)], device="cpu")
    with pytest.raises(InputTypeError, match=r"index 1 is an image .*text only"):
        text_only.encode(["a text", images[0]])
    with pytest.raises(InputTypeError, match=r"index 0 is an image .*text only"):
        text_only.encode(images[0])
    for bad in (None, 3, np.zeros((4, 4)), b"bytes"):
        with pytest.raises(InputTypeError, match=r"index 2 is .*str or an image"):
            model.encode([TEXTS[0], images[0], bad])
    for bad_dict in ({"image": images[0], "text": "x"}, {"audio": [0.0]}, {}):  # the reference: ValueError too
        with pytest.raises(InputError, match=r"index 1 is a dict"):
            model.encode([TEXTS[0], bad_dict])
    with pytest.raises(InputError, match="Cannot open the image"):
        model.encode(["data:image/png;base64,bm90IGFuIGltYWdl"])  # "not an image"
    with pytest.raises(InputError, match=r"index 0 is a dict with keys \['image'\]; this model takes \{'text'"):
        text_only.encode([{"image": images[0]}])
    assert max_abs_diff(text_only.encode({"text": "a text"}), text_only.encode("a text")) == 0  # as the reference
    with pytest.raises(InputError, match="Cannot open the image"):  # the key says image: no silent text
        model.encode([{"image": "/no/such/picture.png"}])
    with pytest.raises(InputTypeError, match=r"index 1: \{'image': ...\} holds int"):
        model.encode([TEXTS[0], {"image": 3}])
    with pytest.raises(InputTypeError, match=r"index 1 is int"):
        model.tokenize(["a", 5])
    with pytest.raises(UnencodableTextError, match="index 3"):  # counted among all inputs, images included
        model.encode([images[0], TEXTS[0], images[1], "bad \ud800 text"], batch_size=4)
    with pytest.raises(InputError, match="no token embeddings"):
        model.encode(TEXTS[:1], output_value="token_embeddings")


def test_missing_pillow_names_the_extra(folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL.Image", None)  # import PIL.Image now fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'sentkit\[image\]'"):
        CLIPModel(str(folders["hf"]))


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("multilingual_image_search", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_multilingual_image_search_example_runs_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folders: dict[str, Path]
) -> None:
    example = _example()
    hits = example.main(["--top-k", "2"])
    output = capsys.readouterr().out
    assert len(hits) == len(example.QUERIES)
    for query, query_hits in zip(example.QUERIES, hits, strict=True):
        assert f"Query: {query}" in output
        assert len(query_hits) == 2
        assert query_hits[0]["score"] >= query_hits[1]["score"]
    # The stand-in text model lives in CLIP's space: a translation lands on CLIP's English caption.
    image_model_path, text_model_path = example.build_stand_ins(tmp_path / "models")
    image_model = SentenceTransformer(str(image_model_path), device="cpu")
    text_model = SentenceTransformer(str(text_model_path), device="cpu")
    english = list(example.CAPTIONS)
    translated = [example.CAPTIONS[caption][0] for caption in english]
    cosine = util.cos_sim(text_model.encode(translated), image_model.encode(english)).diagonal()
    assert float(cosine.min()) > 0.99
    # Given model paths and an image folder, the example uses them (same stand-ins: same hits).
    image_folder = tmp_path / "images"
    example.draw_images(image_folder)
    again = example.main(
        ["--image-model", str(image_model_path), "--text-model", str(text_model_path), "--images", str(image_folder)]
    )
    assert [[h["corpus_id"] for h in q] for q in again] == [[h["corpus_id"] for h in q] for q in example.main([])]
    # The example's CLIP stand-in also loads in the reference.
    from sentence_transformers import SentenceTransformer as ReferenceModel

    picture = Image.open(sorted(image_folder.iterdir())[0]).convert("RGB")
    theirs = ReferenceModel(str(image_model_path), device="cpu").encode([picture, english[0]], batch_size=1)
    assert max_abs_diff(image_model.encode([picture, english[0]]), theirs) <= 1e-5
