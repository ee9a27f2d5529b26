"""The reference's public names exist in sentkit, and the small ``util`` helpers give its numbers.

``LEFT_OUT`` lists every public name of ``sentence_transformers``, ``sentence_transformers.models``
and ``sentence_transformers.util`` 6.2 that sentkit does not have, with the reason. The test
fails when a name appears in the reference without being here or in sentkit, and when a listed
name turns up in sentkit (so the list stays true).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import sentkit
from sentkit import models, util
from sentkit.errors import InputError
from tests.reference import max_abs_diff

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # sentence_transformers.models moved in 6.x
    import sentence_transformers as st
    import sentence_transformers.models as st_models
    import sentence_transformers.util as st_util

_DISTRIBUTED = "torch.distributed plumbing of the reference's trainer; sentkit's trainer runs on accelerate"
_ENVIRONMENT = "checks of the reference's own installation, not about embeddings"
_HUB_FILES = "the reference's hub download helpers; sentkit resolves models in sentkit.io.resolve (offline first)"
_INTERNAL = "an internal helper of the reference's code base"
_TRAINING_DATA = "training-data plumbing of the reference's trainer, not about embeddings"
_FLASH_ATTENTION = "undoes the reference's FlashAttention-2 input flattening, which sentkit does not do"
_MULTI_VECTOR_TRAINING = "training of multi-vector models is not built: sentkit loads, encodes and searches them"

LEFT_OUT = {
    "top": {
        "MultiVectorEncoderTrainer": _MULTI_VECTOR_TRAINING,
        "MultiVectorEncoderTrainingArguments": _MULTI_VECTOR_TRAINING,
        "MultiVectorEncoderModelCardData": _MULTI_VECTOR_TRAINING,
        "export_static_quantized_openvino_model": "OpenVINO is not an engine of sentkit (not installable here)",
        "resolve_ids": _TRAINING_DATA,
    },
    "models": {},
    "util": {
        "save_to_hub_args_decorator": _INTERNAL,
        "all_gather": _DISTRIBUTED,
        "all_gather_padded": _DISTRIBUTED,
        "all_gather_with_grad": _DISTRIBUTED,
        "get_rank": _DISTRIBUTED,
        "get_world_size": _DISTRIBUTED,
        "is_dist_initialized": _DISTRIBUTED,
        "get_device_name": _ENVIRONMENT,
        "check_package_availability": _ENVIRONMENT,
        "check_version_requirements": _ENVIRONMENT,
        "is_accelerate_available": _ENVIRONMENT,
        "is_datasets_available": _ENVIRONMENT,
        "is_training_available": _ENVIRONMENT,
        "is_sentence_transformer_model": _HUB_FILES,
        "load_dir_path": _HUB_FILES,
        "load_file_path": _HUB_FILES,
        "http_get": _HUB_FILES,
        "disabled_tqdm": _HUB_FILES,
        "install_logger": "needs coloredlogs; use logging.basicConfig(handlers=[LoggingHandler()])",
        "fullname": _INTERNAL,
        "similarity_fct_name": _INTERNAL,
        "check_teacher_targets": _INTERNAL,
        "import_from_string": "sentkit never imports classes named in model files (no code from folders)",
        "import_module_class": "sentkit never imports classes named in model files (no code from folders)",
        "disable_datasets_caching": _INTERNAL,
        "disable_logging": _INTERNAL,
        "append_to_last_row": _INTERNAL,
        "ORIGINAL_TRANSFORMER_MODELS": _INTERNAL,
        "repad_flattened_features": _FLASH_ATTENTION,
        "resolve_ids": _TRAINING_DATA,
    },
}
SURFACES = {"top": (st, sentkit), "models": (st_models, models), "util": (st_util, util)}


def _public_names(module: object) -> list[str]:
    names = getattr(module, "__all__", None) or dir(module)
    return sorted(name for name in names if not name.startswith("_"))


@pytest.mark.parametrize("surface", sorted(SURFACES))
def test_every_reference_name_exists_or_is_left_out_with_a_reason(surface: str) -> None:
    reference, mine = SURFACES[surface]
    left_out = LEFT_OUT[surface]
    missing = [name for name in _public_names(reference) if name not in left_out and not hasattr(mine, name)]
    assert missing == [], f"sentkit{'' if surface == 'top' else '.' + surface} lacks {missing}"
    present = [name for name in left_out if hasattr(mine, name)]
    assert present == [], f"{present} exist in sentkit now: take them off LEFT_OUT"
    unknown = [name for name in left_out if not hasattr(reference, name)]
    assert unknown == [], f"{unknown} are not names of the reference"


# ------------------------------------------------------------------------------ small helpers
def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dim", [8, 7])
def test_pairwise_angle_sim_matches_reference(dim: int) -> None:
    x, y = _random(5, dim), _random(5, dim, seed=1)
    assert max_abs_diff(util.pairwise_angle_sim(x, y), st_util.pairwise_angle_sim(x, y)) <= 1e-6
    assert max_abs_diff(util.pairwise_angle_sim(x.numpy(), y.numpy()), st_util.pairwise_angle_sim(x, y)) <= 1e-6
    with pytest.raises(InputError, match="one shape"):
        util.pairwise_angle_sim(x, y[:3])


def test_truncate_and_select_max_active_dims_match_reference() -> None:
    embeddings = _random(4, 10)
    for value in (embeddings, embeddings.numpy()):
        truncated = util.truncate_embeddings(value, 3)
        assert type(truncated) is type(value)
        assert max_abs_diff(truncated, st_util.truncate_embeddings(value, 3)) == 0.0
        assert util.truncate_embeddings(value, None) is not None
        assert max_abs_diff(util.select_max_active_dims(value, 4), st_util.select_max_active_dims(value, 4)) == 0.0
        assert util.select_max_active_dims(value, None) is value
    assert int((util.select_max_active_dims(embeddings, 4) != 0).sum()) == 16
    with pytest.raises(InputError, match="positive int"):
        util.select_max_active_dims(embeddings, 0)


def test_sparse_helpers_match_reference() -> None:
    dense = torch.tensor([[0.0, 1.5, 0.0, 2.0], [0.0, 0.5, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    sparse = dense.to_sparse()
    assert np.array_equal(util.to_scipy_coo(sparse).toarray(), st_util.to_scipy_coo(sparse).toarray())
    assert util.to_scipy_coo(sparse).dtype == st_util.to_scipy_coo(sparse).dtype
    for value in (sparse, dense, dense[0], dense[0].to_sparse()):
        assert torch.equal(util.compute_count_vector(value), st_util.compute_count_vector(value))
    assert util.compute_count_vector(dense).tolist() == [1, 2, 0, 1]
    with pytest.raises(InputError, match="2-D"):
        util.to_scipy_coo(dense[0])


def test_batch_to_device_and_information_retrieval() -> None:
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "prompt_length": 4}
    assert util.batch_to_device(batch, torch.device("cpu")) is batch
    assert batch["prompt_length"] == 4
    queries, corpus = _random(2, 6), _random(9, 6, seed=3)
    assert util.information_retrieval(queries, corpus, top_k=3) == util.semantic_search(queries, corpus, top_k=3)


def test_similarity_function_matches_reference() -> None:
    assert util.SimilarityFunction.possible_values() == st_util.SimilarityFunction.possible_values()
    a, b = _random(3, 8), _random(4, 8, seed=2)
    for name in ("cosine", "dot", "euclidean", "manhattan"):
        mine = util.SimilarityFunction.to_similarity_fn(name)(a, b)
        assert max_abs_diff(mine, st_util.SimilarityFunction.to_similarity_fn(name)(a, b)) <= 1e-5
        pairwise = util.SimilarityFunction.to_similarity_pairwise_fn(name)(a, b[:3])
        assert max_abs_diff(pairwise, st_util.SimilarityFunction.to_similarity_pairwise_fn(name)(a, b[:3])) <= 1e-5
    with pytest.raises(InputError, match="Unknown similarity"):
        util.SimilarityFunction.to_similarity_fn("jaccard")


def test_logging_handler_writes_through_tqdm(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("sentkit.test_surface")
    handler = sentkit.LoggingHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        logger.warning("the corpus has %d lines", 3)
    finally:
        logger.removeHandler(handler)
    captured = capsys.readouterr()
    assert "WARNING the corpus has 3 lines" in captured.out + captured.err


def test_sentences_dataset_indexes_examples() -> None:
    examples = [sentkit.InputExample(texts=["a", "b"], label=1.0), sentkit.InputExample(texts=["c", "d"])]
    dataset = sentkit.SentencesDataset(examples, model=None)
    assert len(dataset) == 2
    assert dataset[1] is examples[1]


def test_input_modules_share_the_input_module_base(tmp_path: Path, hf_checkpoints: dict[str, Path]) -> None:
    transformer = models.Transformer(str(hf_checkpoints["bert"]))
    assert isinstance(transformer, models.InputModule)
    assert not isinstance(models.Pooling(8), models.InputModule)
    with_prompt = transformer.preprocess(["weather"], prompt="query: ")
    assert torch.equal(with_prompt["input_ids"], transformer.tokenize(["query: weather"])["input_ids"])
