"""Talking to the Hugging Face hub for model cards and uploads: ``push_to_hub`` and hub look-ups.

Everything here goes through one small seam, :class:`HubClient`: creating a repository and a
branch, checking for a file, uploading a folder, and looking up a model's or a data set's metadata
(model cards name a base model or data set only when the hub knows it, as in
sentence-transformers). :func:`make_client` builds the real one on ``huggingface_hub.HfApi``;
tests replace :func:`make_client` (or pass ``client=``) with a fake, so nothing reaches the network.

Look-ups are skipped (they return None) when ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Protocol

from sentkit.errors import InputError
from sentkit.io.resolve import hub_offline

logger = logging.getLogger(__name__)


class HubClient(Protocol):
    """What sentkit asks of the hub; ``huggingface_hub.HfApi`` has these methods."""

    def create_repo(self, repo_id: str, *, private: bool | None, repo_type: str | None, exist_ok: bool) -> Any:
        """Returns an object whose ``repo_id`` is the full ``owner/name``."""

    def create_branch(self, repo_id: str, *, branch: str, exist_ok: bool) -> Any: ...

    def file_exists(self, repo_id: str, filename: str, *, revision: str | None = None) -> bool: ...

    def upload_folder(
        self,
        *,
        repo_id: str,
        folder_path: str,
        commit_message: str,
        commit_description: str | None,
        create_pr: bool,
        revision: str | None,
    ) -> Any:
        """Returns an object with ``commit_url`` and ``pr_url``."""

    def model_info(self, repo_id: str, *, revision: str | None = None) -> Any:
        """Returns an object with ``id`` and ``sha``; raises when the model does not exist."""

    def dataset_info(self, repo_id: str) -> Any:
        """Returns an object with ``id`` and ``card_data`` (a mapping or None); raises when unknown."""


def make_client(token: str | bool | None = None) -> HubClient:
    """The real client: ``huggingface_hub.HfApi(token=token)`` (``huggingface_hub`` is a sentkit dependency)."""
    from huggingface_hub import HfApi

    client: HubClient = HfApi(token=token)
    return client


def find_model(model_id: str, revision: str | None = None) -> tuple[str, str | None] | None:
    """``(id, sha)`` of ``model_id`` on the hub, or None when it is not there, unreachable, or offline."""
    if hub_offline() or not model_id or Path(model_id).is_absolute():
        return None
    try:
        info = make_client().model_info(model_id, revision=revision)
    except Exception as exc:  # not found, no network, outage: a card without a base model, as in the reference
        logger.debug("No hub model %r: %s", model_id, exc)
        return None
    return str(info.id), getattr(info, "sha", None)


def find_dataset(dataset_id: str) -> tuple[str, list[str]] | None:
    """``(id, languages)`` of a hub data set, or None when it is not there, unreachable, or offline."""
    if hub_offline() or not dataset_id:
        return None
    try:
        info = make_client().dataset_info(dataset_id)
    except Exception as exc:  # as above: the card then names the data set without linking it
        logger.debug("No hub dataset %r: %s", dataset_id, exc)
        return None
    card = getattr(info, "card_data", None) or getattr(info, "cardData", None) or {}
    language = card.get("language") if hasattr(card, "get") else None
    languages = [language] if isinstance(language, str) else list(language or [])
    return str(info.id), languages


def push_to_hub(
    model: Any,
    repo_id: str,
    token: str | None = None,
    private: bool | None = None,
    safe_serialization: bool = True,
    commit_message: str | None = None,
    local_model_path: str | None = None,
    exist_ok: bool = False,
    replace_model_card: bool = False,
    train_datasets: list[str] | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    client: HubClient | None = None,
) -> str:
    """Upload ``model`` (or the folder ``local_model_path``) to the hub repository ``repo_id``.

    As ``push_to_hub`` of sentence-transformers: creates the repository (``exist_ok`` or
    ``create_pr`` allow an existing one) and the ``revision`` branch, saves the model to a
    temporary folder (with a model card unless the repository has a README.md and not
    ``replace_model_card``), and uploads it in one commit.

    Returns:
        The URL of the commit, or of the pull request with ``create_pr``.

    Raises:
        InputError: an empty ``repo_id``.
        huggingface_hub errors: the hub refused a call (no token, no rights, repository exists).
    """
    if not isinstance(repo_id, str) or not repo_id.strip():
        raise InputError(f"repo_id must be a hub repository name such as 'user/my-model'; got {repo_id!r}.")
    api = client if client is not None else make_client(token)
    created = api.create_repo(repo_id, private=private, repo_type=None, exist_ok=exist_ok or create_pr)
    repo_id = str(getattr(created, "repo_id", repo_id))  # the full owner/name when only a name was given
    card_data = getattr(model, "model_card_data", None)
    if card_data is not None:
        card_data.set_model_id(repo_id)
    if revision is not None:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    kind = type(model).__name__
    if commit_message is None:
        backend = getattr(model, "backend", "torch")
        commit_message = f"Add new {kind} model" + ("" if backend == "torch" else f" with an {backend} backend")
    description = _pull_request_text(model, repo_id) if create_pr else None
    upload: dict[str, Any] = {"repo_id": repo_id, "commit_message": commit_message}
    upload.update(commit_description=description, create_pr=create_pr, revision=revision)
    if local_model_path:
        result = api.upload_folder(folder_path=str(local_model_path), **upload)
    else:
        with tempfile.TemporaryDirectory() as folder:
            write_card = replace_model_card or not _has_readme(api, repo_id, revision)
            model.save(
                folder,
                model_name=repo_id,
                create_model_card=write_card,
                train_datasets=train_datasets,
                safe_serialization=safe_serialization,
            )
            result = api.upload_folder(folder_path=folder, **upload)
    if create_pr:
        logger.info("A pull request has been created at %s", result.pr_url)
        return str(result.pr_url)
    return str(result.commit_url)


def _has_readme(api: HubClient, repo_id: str, revision: str | None) -> bool:
    """Whether the repository has a README.md; when the hub cannot say, assume it has (keep it)."""
    try:
        return bool(api.file_exists(repo_id, "README.md", revision=revision))
    except Exception as exc:  # a transient hub error must not overwrite a card we could not see
        logger.warning(
            "Could not check for an existing README.md on %r (%s: %s); not writing a model card.",
            repo_id,
            type(exc).__name__,
            exc,
        )
        return True


def _pull_request_text(model: Any, repo_id: str) -> str:
    kind = type(model).__name__
    return (
        f"Hello!\n\nThis pull request has been automatically generated to add {kind} compatibility.\n\n"
        f"## Full Model Architecture:\n```\n{model}\n```\n\n"
        f"You can load it with:\n```python\nfrom sentence_transformers import {kind}\n\n"
        f'model = {kind}("{repo_id}", revision="refs/pr/...")\n```'
    )
