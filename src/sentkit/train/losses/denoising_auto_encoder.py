"""DenoisingAutoEncoderLoss: TSDAE, unsupervised training by reconstructing damaged sentences.

The encoder (the model being trained) embeds a damaged sentence (words deleted, say); a decoder
must rebuild the original sentence from that single vector alone (its only cross-attention
input). The loss is the decoder's token cross-entropy. The decoder is a causal-LM version of the
encoder's own architecture, built from the encoder's checkpoint with cross-attention added; by
default it shares its weights with the encoder (``tie_encoder_decoder``), as in the paper.

Requirements:
    (damaged sentence, original sentence) pairs, e.g. from deleting ~60% of the words. A model
    whose first module is a Hugging Face Transformer that has a causal-LM head class (BERT,
    RoBERTa...; not a StaticEmbedding).

Inputs:
    ======================================  ========
    columns                                 labels
    ======================================  ========
    (damaged_sentence, original_sentence)   none
    ======================================  ========

Example:
    >>> loss = DenoisingAutoEncoderLoss(model, tie_encoder_decoder=True)
    >>> features = [model.tokenize(["cat on mat"]), model.tokenize(["The cat sat on the mat."])]
    >>> loss(features, None).backward()
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from sentkit.errors import ConfigurationError
from sentkit.train.losses._shared import Features, first_module, has_static_embedding_input
from sentkit.train.registry import register_loss

logger = logging.getLogger(__name__)

_CITATION = """
@inproceedings{wang-2021-TSDAE,
    title = "TSDAE: Using Transformer-based Sequential Denoising Auto-Encoderfor
             Unsupervised Sentence Embedding Learning",
    author = "Wang, Kexin and Reimers, Nils and Gurevych, Iryna",
    booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2021",
    month = nov,
    year = "2021",
    address = "Punta Cana, Dominican Republic",
    publisher = "Association for Computational Linguistics",
    pages = "671--688",
    url = "https://arxiv.org/abs/2104.06979",
}
"""


@register_loss("denoising_auto_encoder", family="sentence")
class DenoisingAutoEncoderLoss(nn.Module):
    """TSDAE reconstruction loss.

    Args:
        model: the SentenceTransformer to train (the encoder).
        decoder_name_or_path: checkpoint of the decoder; ignored (a warning says so) when the
            weights are tied, since the decoder then is the encoder's own checkpoint.
        tie_encoder_decoder: share the encoder's weights with the decoder's matching layers.

    Raises:
        ConfigurationError: a StaticEmbedding model, no decoder with untied weights, hidden sizes
            that differ, tied weights with different tokenizers, or no causal-LM class.
    """

    def __init__(
        self, model: nn.Module, decoder_name_or_path: str | None = None, tie_encoder_decoder: bool = True
    ) -> None:
        super().__init__()
        from transformers import AutoTokenizer

        if has_static_embedding_input(model):
            raise ConfigurationError("DenoisingAutoEncoderLoss cannot train a StaticEmbedding model.")
        encoder = _hugging_face_model(model)
        encoder_path = str(encoder.config._name_or_path)
        if tie_encoder_decoder:
            if decoder_name_or_path:
                logger.warning("tie_encoder_decoder=True: decoder_name_or_path is ignored, the encoder's is used.")
            decoder_name_or_path = encoder_path
        elif decoder_name_or_path is None:
            raise ConfigurationError("Pass decoder_name_or_path when tie_encoder_decoder=False.")
        self.encoder = model
        self.tokenizer_encoder: Any = getattr(model, "tokenizer", None)
        self.tokenizer_decoder: Any = AutoTokenizer.from_pretrained(decoder_name_or_path)
        self.decoder = _causal_decoder(decoder_name_or_path, int(encoder.config.hidden_size))
        if self.tokenizer_decoder.pad_token is None:  # GPT-2 style tokenizers: pad with end-of-text
            self.tokenizer_decoder.pad_token = self.tokenizer_decoder.eos_token
            self.decoder.config.pad_token_id = self.decoder.config.eos_token_id
        if tie_encoder_decoder:
            self._tie(encoder)
        self.need_retokenization = _tokenizers_differ(self.tokenizer_encoder, self.tokenizer_decoder)

    def _tie(self, encoder: nn.Module) -> None:
        """Share the encoder's weights with the decoder; a grown encoder vocabulary is taken over."""
        if not isinstance(self.tokenizer_encoder, type(self.tokenizer_decoder)):
            raise ConfigurationError("tie_encoder_decoder=True needs the encoder and decoder to share one tokenizer.")
        if self.tokenizer_encoder.get_vocab() != self.tokenizer_decoder.get_vocab():
            logger.warning("The encoder's vocabulary was changed; the decoder takes it over.")
            self.tokenizer_decoder = self.tokenizer_encoder
            self.decoder.resize_token_embeddings(len(self.tokenizer_decoder))
        tie_weights(encoder, getattr(self.decoder, self.decoder.base_model_prefix))

    @property
    def model(self) -> nn.Module:
        """The encoder (the model being trained)."""
        return self.encoder

    def retokenize(self, sentence_features: Features) -> Features:
        """Features of the same texts for the decoder's tokenizer (decoded with the encoder's)."""
        ids = sentence_features["input_ids"]
        texts = self.tokenizer_encoder.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)
        features = self.tokenizer_decoder(
            texts, padding=True, truncation="longest_first", return_tensors="pt", max_length=None
        )
        return dict(features.to(ids.device))

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Scalar token cross-entropy of rebuilding the second column from the first's embedding."""
        source, target = tuple(sentence_features)
        if self.need_retokenization:
            target = self.retokenize(target)
        embedding = self.encoder(source)["sentence_embedding"]  # (B, H)
        target_ids = target["input_ids"]  # (B, T)
        logits = self.decoder(
            input_ids=target_ids[:, :-1],  # (B, T - 1): predict token t + 1 from tokens <= t
            encoder_hidden_states=embedding[:, None],  # (B, 1, H): the sentence vector is the memory
            encoder_attention_mask=source["attention_mask"][:, 0:1],  # (B, 1)
            use_cache=False,
            return_dict=True,
        ).logits  # (B, T - 1, V)
        cross_entropy = nn.CrossEntropyLoss(ignore_index=self.tokenizer_decoder.pad_token_id)
        return cross_entropy(logits.reshape(-1, logits.shape[-1]), target_ids[:, 1:].reshape(-1))

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "decoder_name_or_path": self.decoder.config._name_or_path,
            "need_retokenization": self.need_retokenization,
        }

    @property
    def citation(self) -> str:
        return _CITATION


def tie_weights(encoder: nn.Module, decoder_base: nn.Module) -> None:
    """Make each encoder parameter that the decoder also has (same module path) the decoder's one."""
    encoder_modules = dict(encoder.named_modules())
    tied = 0
    for name, parameter in decoder_base.named_parameters():
        module_name, _, attribute = name.rpartition(".")
        module = encoder_modules.get(module_name)
        current = getattr(module, attribute, None) if module is not None else None
        if isinstance(current, nn.Parameter) and current.shape == parameter.shape:
            setattr(module, attribute, parameter)
            tied += 1
    if not tied:
        logger.warning("No encoder weight was tied to the decoder: are they the same architecture?")


def _tokenizers_differ(encoder_tokenizer: Any, decoder_tokenizer: Any) -> bool:
    """True when the decoder cannot read the encoder's token ids: another class or another vocabulary.

    (The class alone no longer tells: transformers 5 gives most tokenizers one backend class.)
    """
    if not isinstance(encoder_tokenizer, type(decoder_tokenizer)):
        return True
    return bool(encoder_tokenizer.get_vocab() != decoder_tokenizer.get_vocab())


def _hugging_face_model(model: nn.Module) -> Any:
    """The Hugging Face model inside the first module, or ConfigurationError."""
    first = first_module(model)
    hf_model = getattr(first, "auto_model", None) or getattr(first, "model", None)
    if hf_model is None or not hasattr(hf_model, "config"):
        raise ConfigurationError(
            f"DenoisingAutoEncoderLoss needs a Transformer first module, got {type(first).__name__}."
        )
    return hf_model


def _causal_decoder(name_or_path: str, hidden_size: int) -> Any:
    """``AutoModelForCausalLM`` of ``name_or_path`` as a decoder with cross-attention."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(name_or_path)
    config.is_decoder = True
    config.add_cross_attention = True
    try:
        decoder = AutoModelForCausalLM.from_pretrained(name_or_path, config=config)
    except ValueError as exc:
        raise ConfigurationError(
            f"{name_or_path!r} has no causal-LM class to act as a decoder ({exc}); pick a decoder_name_or_path "
            "with an ...LMHeadModel / ...ForCausalLM class."
        ) from exc
    if int(config.hidden_size) != hidden_size:
        raise ConfigurationError(f"Decoder hidden size {config.hidden_size} differs from the encoder's {hidden_size}.")
    return decoder
