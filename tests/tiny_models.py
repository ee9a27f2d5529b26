"""Tiny Hugging Face checkpoints with random weights and small trained tokenizers, for tests.

Each builder writes a complete model folder (config, safetensors weights, tokenizer) that both
sentkit and sentence-transformers load. Nothing comes from the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CORPUS = Path(__file__).resolve().parent.parent / "examples" / "corpus.txt"
HIDDEN = 32


def corpus_lines() -> list[str]:
    return [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def wordpiece_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False
    )
    tokenizer.train_from_iterator(corpus_lines(), trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def bytelevel_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus_lines(), trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _save_wordpiece(folder: Path, tokenizer_class: str) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece_tokenizer(),
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    fast.save_pretrained(folder)


def _save_bytelevel(folder: Path, model_max_length: int = 512) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=bytelevel_tokenizer(),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=model_max_length,
    )
    fast.save_pretrained(folder)


def build_bert(folder: Path) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=400,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    _save_wordpiece(folder, "BertTokenizer")


def build_distilbert(folder: Path) -> None:
    from transformers import DistilBertConfig, DistilBertModel

    config = DistilBertConfig(
        vocab_size=400, dim=HIDDEN, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128
    )
    DistilBertModel(config).save_pretrained(folder)
    _save_wordpiece(folder, "DistilBertTokenizer")


def build_roberta(folder: Path) -> None:
    from transformers import RobertaConfig, RobertaModel

    config = RobertaConfig(
        vocab_size=400,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    RobertaModel(config).save_pretrained(folder)
    _save_bytelevel(folder, model_max_length=128)  # as roberta-base: 512 tokens for 514 positions


def build_modernbert(folder: Path) -> None:
    from transformers import ModernBertConfig, ModernBertModel

    config = ModernBertConfig(
        vocab_size=400,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=256,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        cls_token_id=0,
        sep_token_id=2,
        global_attn_every_n_layers=2,
        local_attention=16,
    )
    ModernBertModel(config).save_pretrained(folder)
    _save_bytelevel(folder)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "bert": build_bert,
    "distilbert": build_distilbert,
    "roberta": build_roberta,
    "modernbert": build_modernbert,
}


def build(family: str, folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    BUILDERS[family](folder)
    return folder


# ------------------------------------------------------------------------ task-head checkpoints
# Sequence-classification checkpoints (CrossEncoder) and masked-LM checkpoints (SparseEncoder), with
# the same shapes and tokenizers as the base builders above. A wider initializer spreads the random
# scores and makes the MLM logits sparser after ReLU.
HEAD_FAMILIES = ("bert", "distilbert", "roberta", "modernbert")
_HEAD_INITIALIZER_RANGE = 0.2


def _head_config(family: str, **overrides: object) -> object:
    from transformers import BertConfig, DistilBertConfig, ModernBertConfig, RobertaConfig

    shared = {"vocab_size": 400, "initializer_range": _HEAD_INITIALIZER_RANGE, **overrides}
    if family == "bert":
        return BertConfig(
            hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=128, **shared,
        )  # fmt: skip
    if family == "distilbert":
        return DistilBertConfig(dim=HIDDEN, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128, **shared)
    if family == "roberta":
        return RobertaConfig(
            hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=130, pad_token_id=1, bos_token_id=0, eos_token_id=2, **shared,
        )  # fmt: skip
    return ModernBertConfig(
        hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=256, pad_token_id=1, bos_token_id=0, eos_token_id=2, cls_token_id=0,
        sep_token_id=2, global_attn_every_n_layers=2, local_attention=16, **shared,
    )  # fmt: skip


def _save_family_tokenizer(family: str, folder: Path) -> None:
    if family in ("bert", "distilbert"):
        _save_wordpiece(folder, "BertTokenizer")
    else:
        _save_bytelevel(folder, model_max_length=128 if family == "roberta" else 512)


def build_sequence_classifier(folder: Path, family: str = "bert", num_labels: int = 1, seed: int = 0) -> Path:
    """A plain Hugging Face ``*ForSequenceClassification`` checkpoint with ``num_labels`` outputs."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    config = _head_config(family, num_labels=num_labels)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    _save_family_tokenizer(family, folder)
    return folder


def build_masked_lm(folder: Path, family: str = "bert", seed: int = 0) -> Path:
    """A plain Hugging Face ``*ForMaskedLM`` checkpoint."""
    from transformers import AutoModelForMaskedLM

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    AutoModelForMaskedLM.from_config(_head_config(family)).save_pretrained(folder)
    _save_family_tokenizer(family, folder)
    return folder


def build_tiny_clip(folder: Path) -> Path:
    """A random CLIPModel checkpoint with its CLIPProcessor (byte-level BPE tokenizer, 32x32 images)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPProcessor, PreTrainedTokenizerFast
    from transformers import CLIPModel as HFCLIPModel

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "<unk>", "</s>"],  # </s> is not id 2: CLIP pools at the first </s>
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus_lines(), trainer)
    bpe.post_processor = processors.RobertaProcessing(("</s>", 3), ("<s>", 1))
    special_ids = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 3}
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config={**tower, "vocab_size": 400, "max_position_embeddings": 64, **special_ids},
        vision_config={**tower, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    HFCLIPModel(config).save_pretrained(folder)
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, model_max_length=24, **specials)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder
