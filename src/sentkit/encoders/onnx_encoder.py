"""OnnxEncoder: sentence embeddings from an exported pipeline with onnxruntime, tokenizers and numpy.

Loading and encoding import neither torch nor transformers once the export is in the cache, so
a command-line tool or a server on this engine starts in a fraction of a second and stays small.
The first load of a model (no export cached yet) loads it with torch once and exports it
(:func:`sentkit.inference.onnx.export.export_pipeline`).

Batches are formed from exact token counts: inputs sorted by length, at most ``batch_size`` per
batch and, with ``max_batch_tokens``, at most that many padded tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sentkit.encoders.prompts import resolve_prompt
from sentkit.errors import InputError
from sentkit.inference.batching import HalvingRunner, check_max_batch_tokens, length_sorted_batches
from sentkit.inference.engine import raise_non_finite
from sentkit.inference.inputs import as_text_list, check_batch_size, check_contentless, check_truncate_dim
from sentkit.inference.onnx.cache import (
    MANIFEST,
    MODEL_FILE,
    QUANTIZATIONS,
    TOKENIZER_FILE,
    export_folder,
    folder_key,
    is_complete,
)
from sentkit.inference.onnx.runtime import SessionRunner, create_session
from sentkit.inference.onnx.tokens import TextTokenizer
from sentkit.inference.precision import check_precision, numpy_dtype, output_width, quantize_embeddings
from sentkit.io.files import read_json
from sentkit.io.integrity import verified
from sentkit.io.resolve import resolve_model_folder


class OnnxEncoder:
    """Encodes texts with an exported pipeline folder (``model.onnx``, ``tokenizer.json``, manifest).

    Use :meth:`load` with a model name or folder; the constructor takes an export folder. The
    ``encode`` arguments are those of ``SentenceTransformer.encode`` (``output_value`` is
    ``"sentence_embedding"`` or ``"token_embeddings"``; ``device`` and ``pool`` are not taken).
    """

    def __init__(
        self, folder: str | Path, threads: int | None = None, providers: list[str] | None = None, verify: bool = True
    ) -> None:
        self.folder = Path(folder)
        self.model_name_or_path = str(folder)
        with verified(self.folder, verify):  # the export's files against the checksums written with them
            manifest = read_json(self.folder / MANIFEST)
            self.tokenizer = TextTokenizer(self.folder / TOKENIZER_FILE, manifest)
            self.runner = SessionRunner(create_session(self.folder / MODEL_FILE, threads, providers))
        self.manifest = manifest
        self.prompts: dict[str, str] = dict(manifest.get("prompts") or {})
        self.default_prompt_name: str | None = manifest.get("default_prompt_name")
        self.similarity_fn_name: str = manifest.get("similarity_fn_name") or "cosine"
        self.truncate_dim: int | None = manifest.get("truncate_dim")
        self.quantization: str | None = manifest.get("quantization")

    @classmethod
    def load(
        cls,
        model_name_or_path: str | Path,
        quantization: str | None = None,
        *,
        calibration_texts: list[str] | None = None,
        threads: int | None = None,
        cache_folder: str | None = None,
        local_files_only: bool = False,
        verify: bool = True,
    ) -> OnnxEncoder:
        """The encoder of a model name, a model folder or an export folder; exports on first use.

        ``quantization``: None (fp32), ``"int8"`` (dynamic) or ``"int8-static"`` (calibrated on
        ``calibration_texts``, by default sentences shipped with sentkit's examples). ``verify``:
        check the files against their checksums (the export's, and the model's when it is exported).

        Raises:
            ModelNotFoundError, ModelFormatError: as ``SentenceTransformer``.
            ConfigurationError: the pipeline cannot run as one ONNX graph.
        """
        if quantization not in QUANTIZATIONS:
            raise InputError(f"quantization={quantization!r} is not one of {QUANTIZATIONS}.")
        folder = resolve_model_folder(model_name_or_path, cache_folder=cache_folder, local_files_only=local_files_only)
        if is_complete(folder):
            return cls(folder, threads, verify=verify)
        target = export_folder(folder_key(folder), quantization)
        if not is_complete(target):
            from sentkit.encoders.sentence_transformer import SentenceTransformer
            from sentkit.inference.onnx.export import export_pipeline

            model = SentenceTransformer(str(folder), device="cpu", verify=verify)
            export_pipeline(model, target, quantization, calibration_texts)
        encoder = cls(target, threads, verify=verify)
        encoder.model_name_or_path = str(model_name_or_path)
        return encoder

    @property
    def max_seq_length(self) -> int:
        return self.tokenizer.max_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        limit = int(self.manifest.get("max_positions") or self.manifest["max_seq_length"])
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
            raise InputError(f"max_seq_length must be an int in 1..{limit} (the model's positions), got {value!r}.")
        self.tokenizer.max_length = value

    def get_sentence_embedding_dimension(self, truncate_dim: int | None = None) -> int:
        dimension = int(self.manifest["dimension"])
        truncate_dim = truncate_dim if truncate_dim is not None else self.truncate_dim
        return min(dimension, truncate_dim) if truncate_dim else dimension

    def encode(
        self,
        sentences: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: str | None = "sentence_embedding",
        precision: str = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        max_batch_tokens: int | None = None,
        empty: str = "warn",
        **kwargs: Any,
    ) -> Any:
        """Embed one text, (D,), or a list of texts, (N, D) float32 numpy (see the class docstring).

        Raises:
            InputTypeError, InputError, UnencodableTextError, NumericalError, ConfigurationError: as
                ``SentenceTransformer.encode``.
        """
        kwargs.pop("task", None)
        if kwargs:
            raise InputError(f"encode() got unexpected keyword arguments {sorted(kwargs)}.")
        if output_value not in ("sentence_embedding", "token_embeddings"):
            raise InputError(f"output_value={output_value!r}: the ONNX engine gives sentence or token embeddings.")
        check_precision(precision)
        batch_size = check_batch_size(batch_size)
        max_batch_tokens = check_max_batch_tokens(max_batch_tokens)
        texts, is_single = as_text_list(sentences)
        check_contentless(texts, empty)
        prompt = resolve_prompt(self.prompts, self.default_prompt_name, prompt, prompt_name)
        if prompt:
            texts = [prompt + text for text in texts]
        dimension = int(self.manifest["dimension"])
        truncate_dim = check_truncate_dim(truncate_dim if truncate_dim is not None else self.truncate_dim, dimension)
        if output_value == "token_embeddings":
            rows = self._token_embeddings(texts, batch_size, max_batch_tokens)
            return rows[0] if is_single else rows
        embeddings = self._sentence_embeddings(texts, batch_size, max_batch_tokens)  # (N, D)
        if truncate_dim is not None:
            embeddings = embeddings[:, :truncate_dim]
        if normalize_embeddings:
            embeddings = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        if not texts:
            embeddings = np.zeros((0, output_width(embeddings.shape[1], precision)), dtype=numpy_dtype(precision))
        elif precision != "float32":
            embeddings = quantize_embeddings(embeddings, precision)
        result: Any = np.ascontiguousarray(embeddings)
        if convert_to_tensor:
            import torch

            result = torch.from_numpy(result)
        elif not convert_to_numpy:
            result = list(result)
        return result[0] if is_single else result

    def encode_query(self, sentences: Any, **kwargs: Any) -> Any:
        if "prompt_name" not in kwargs and "prompt" not in kwargs and "query" in self.prompts:
            kwargs["prompt_name"] = "query"
        return self.encode(sentences, **kwargs)

    def encode_document(self, sentences: Any, **kwargs: Any) -> Any:
        if "prompt_name" not in kwargs and "prompt" not in kwargs:
            names = [name for name in ("document", "passage", "corpus") if name in self.prompts]
            kwargs["prompt_name"] = names[0] if names else None
        return self.encode(sentences, **kwargs)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """(N, M) similarities under :attr:`similarity_fn_name` (a torch tensor, as the torch encoder)."""
        from sentkit.similarity import SIMILARITY_FUNCTIONS

        return SIMILARITY_FUNCTIONS[self.similarity_fn_name][0](embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        from sentkit.similarity import SIMILARITY_FUNCTIONS

        return SIMILARITY_FUNCTIONS[self.similarity_fn_name][1](embeddings1, embeddings2)

    def _sentence_embeddings(self, texts: list[str], batch_size: int, max_batch_tokens: int | None) -> np.ndarray:
        dimension = int(self.manifest["dimension"])
        embeddings = np.empty((len(texts), dimension), dtype=np.float32)  # (N, D)
        non_finite: list[int] = []
        for rows, (values, _) in self._batches(texts, ["sentence_embedding"], batch_size, max_batch_tokens):
            embeddings[rows] = values
            non_finite += rows[~np.isfinite(values).all(axis=1)].tolist()
        raise_non_finite(non_finite)
        return embeddings

    def _token_embeddings(self, texts: list[str], batch_size: int, max_batch_tokens: int | None) -> list[np.ndarray]:
        items: list[np.ndarray] = [np.empty(0)] * len(texts)
        non_finite: list[int] = []
        for rows, (values, mask) in self._batches(texts, ["token_embeddings"], batch_size, max_batch_tokens):
            for position, row in enumerate(rows):
                items[row] = values[position][mask[position].astype(bool)]  # (T_i, H)
                if not np.isfinite(items[row]).all():
                    non_finite.append(int(row))
        raise_non_finite(non_finite)
        return items

    def _batches(self, texts: list[str], outputs: list[str], batch_size: int, max_batch_tokens: int | None) -> Any:
        """Yield ``(input indices, [output arrays..., attention mask])`` batch by batch."""
        tokens = self.tokenizer(texts)
        halving = HalvingRunner()
        for indices in length_sorted_batches(tokens.lengths, batch_size, max_batch_tokens):
            arrays = tokens.batch(indices)

            def run(part: np.ndarray, arrays: dict[str, np.ndarray] = arrays) -> list[np.ndarray]:
                return self.runner({name: value[part] for name, value in arrays.items()}, outputs)

            for part, values in halving(np.arange(len(indices)), run):
                yield indices[part], [*values, arrays["attention_mask"][part]]
