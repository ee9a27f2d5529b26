"""Multilingual image search: find images with text queries written in many languages.

The recipe of sentence-transformers' image search example: a CLIP model encodes the images; a
multilingual text model, trained by multilingual knowledge distillation to put its vectors in
CLIP's text space (``clip-ViT-B-32-multilingual-v1``), encodes the queries; ``util.semantic_search``
ranks the images for each query by cosine similarity.

With real models (once in the Hugging Face cache they load offline)::

    python examples/multilingual_image_search.py --image-model clip-ViT-B-32 \\
        --text-model clip-ViT-B-32-multilingual-v1 --images photos/ --query "Zwei Hunde im Schnee"

Without model paths it builds tiny random-weight stand-ins in a temporary folder: a CLIP model, and
a text model (BERT, mean pooling, Dense) whose Dense layer is fitted in closed form so that every
caption, in English or translated, lands on CLIP's embedding of the English caption, which is the
objective of the distillation. Without ``--images`` it draws coloured shapes with Pillow. It then
runs offline in seconds; with random weights the rankings mean nothing, the pipeline is the point.
Needs ``pip install 'sentkit[image]'``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from sentkit import SentenceTransformer, util
from sentkit.modules import Dense, Pooling, Transformer
from sentkit.modules.clip_model import CLIPModel

# English captions of the drawn images and their translations: the parallel data of the distillation.
CAPTIONS: dict[str, list[str]] = {
    "a red circle": ["ein roter Kreis", "un círculo rojo", "un cercle rouge"],
    "a green circle": ["ein grüner Kreis", "un círculo verde", "un cercle vert"],
    "a blue square": ["ein blaues Quadrat", "un cuadrado azul", "un carré bleu"],
    "a red square": ["ein rotes Quadrat", "un cuadrado rojo", "un carré rouge"],
    "a green triangle": ["ein grünes Dreieck", "un triángulo verde", "un triangle vert"],
    "a blue triangle": ["ein blaues Dreieck", "un triángulo azul", "un triangle bleu"],
}
QUERIES = ["ein blaues Dreieck", "un cercle rouge", "a green square", "un cuadrado azul"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
HIDDEN = 32


def draw_images(folder: Path) -> list[Path]:
    """Draw one 64x64 PNG per caption of :data:`CAPTIONS` into ``folder`` (``red-circle.png`` ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for caption in CAPTIONS:
        colour, shape = caption.split()[1:]
        image = Image.new("RGB", (64, 64), "white")
        draw = ImageDraw.Draw(image)
        if shape == "circle":
            draw.ellipse((10, 10, 54, 54), fill=colour)
        elif shape == "square":
            draw.rectangle((12, 12, 52, 52), fill=colour)
        else:
            draw.polygon([(32, 8), (56, 56), (8, 56)], fill=colour)
        path = folder / f"{colour}-{shape}.png"
        image.save(path)
        paths.append(path)
    return paths


def _corpus() -> list[str]:
    return [text for english, translations in CAPTIONS.items() for text in (english, *translations)] + QUERIES


def _build_clip_checkpoint(folder: Path) -> Path:
    """A tiny random CLIP (32x32 images, 8x8 patches) with a byte-level BPE tokenizer and a CLIPProcessor."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPProcessor, PreTrainedTokenizerFast
    from transformers import CLIPModel as HFCLIPModel

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<pad>", "<s>", "<unk>", "</s>"]  # </s> is not id 2: CLIP then pools at the first </s>
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer)
    bpe.post_processor = processors.RobertaProcessing(("</s>", 3), ("<s>", 1))
    tower = {"hidden_size": HIDDEN, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": 400,
            "max_position_embeddings": 64,
            "pad_token_id": 0,
            "bos_token_id": 1,
            "eos_token_id": 3,
        },
        vision_config={**tower, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    HFCLIPModel(config).save_pretrained(folder)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=64,
    )
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _build_bert_checkpoint(folder: Path) -> Path:
    """A tiny random BERT with a WordPiece tokenizer over the words of the captions in four languages."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    # The vocabulary: every word of the corpus and its characters, sorted (so every build gets the same ids).
    normalizer, splitter = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = sorted(
        {word for text in _corpus() for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text))}
    )
    characters = sorted({character for word in words for character in word})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters, *(f"##{c}" for c in characters), *words]
    wordpiece = Tokenizer(
        models.WordPiece({token: i for i, token in enumerate(dict.fromkeys(tokens))}, unk_token="[UNK]")
    )
    wordpiece.normalizer, wordpiece.pre_tokenizer = normalizer, splitter
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", wordpiece.token_to_id("[CLS]")), ("[SEP]", wordpiece.token_to_id("[SEP]"))],
    )
    config = BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    ).save_pretrained(folder)
    return folder


def build_stand_ins(folder: Path) -> tuple[Path, Path]:
    """Save a tiny image model and a tiny multilingual text model in CLIP's space under ``folder``.

    Returns the folders of the image model and of the text model (SentenceTransformer folders).
    """
    torch.manual_seed(0)
    image_model = SentenceTransformer(modules=[CLIPModel(_build_clip_checkpoint(folder / "clip-checkpoint"))])
    transformer = Transformer(_build_bert_checkpoint(folder / "bert-checkpoint"))
    pooling = Pooling(HIDDEN, "mean")
    student = SentenceTransformer(modules=[transformer, pooling])
    # Every caption, English or translated, should map to CLIP's vector of the English caption.
    sources = [text for english, translations in CAPTIONS.items() for text in (english, *translations)]
    targets = image_model.encode(
        [english for english, translations in CAPTIONS.items() for _ in (english, *translations)]
    )
    pooled = student.encode(sources)  # (N, HIDDEN)
    solution, *_ = np.linalg.lstsq(np.hstack([pooled, np.ones((len(pooled), 1))]), targets, rcond=None)
    dense = Dense(
        HIDDEN,
        targets.shape[1],
        activation_function=torch.nn.Identity(),
        init_weight=torch.from_numpy(solution[:-1].T.copy()),  # (D, HIDDEN)
        init_bias=torch.from_numpy(solution[-1].copy()),  # (D,)
    )
    text_model = SentenceTransformer(modules=[transformer, pooling, dense])
    image_model.save(folder / "image-model")
    text_model.save(folder / "text-model")
    return folder / "image-model", folder / "text-model"


def search(
    image_model: SentenceTransformer, text_model: SentenceTransformer, images: list[Any], queries: list[str], top_k: int
) -> list[list[dict[str, Any]]]:
    """The recipe: images through the CLIP model, queries through the text model, then semantic search.

    Returns one list of hits (``corpus_id``: index into ``images``, ``score``: cosine) per query.
    """
    image_embeddings = image_model.encode(images, convert_to_tensor=True, normalize_embeddings=True)
    query_embeddings = text_model.encode(queries, convert_to_tensor=True, normalize_embeddings=True)
    return util.semantic_search(query_embeddings, image_embeddings, top_k=top_k)


def main(argv: list[str] | None = None) -> list[list[dict[str, Any]]]:
    """Run the search and print the ranked images per query; returns the hits."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-model", help="CLIP model (name or folder); default: a tiny stand-in")
    parser.add_argument("--text-model", help="multilingual text model in CLIP's space; default: a tiny stand-in")
    parser.add_argument("--images", type=Path, help="folder of images; default: drawn shapes")
    parser.add_argument("--query", action="append", help="a query (repeat for several); default: four languages")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sentkit-image-search-") as scratch:
        image_path, text_path = args.image_model, args.text_model
        if image_path is None or text_path is None:
            built = build_stand_ins(Path(scratch))
            image_path, text_path = image_path or built[0], text_path or built[1]
        folder = args.images or draw_images(Path(scratch) / "images")[0].parent
        paths = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            parser.error(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
        images = [Image.open(path).convert("RGB") for path in paths]
        image_model, text_model = SentenceTransformer(str(image_path)), SentenceTransformer(str(text_path))
        queries = args.query or QUERIES
        hits = search(image_model, text_model, images, queries, args.top_k)
    print(f"Searched {len(images)} images for {len(queries)} queries.\n")
    for query, query_hits in zip(queries, hits, strict=True):
        print(f"Query: {query}")
        for hit in query_hits:
            print(f"  {hit['score']:.3f}  {paths[int(hit['corpus_id'])].name}")
        print()
    return hits


if __name__ == "__main__":
    main()
