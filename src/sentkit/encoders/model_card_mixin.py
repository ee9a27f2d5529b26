"""Model card and hub upload methods shared by SentenceTransformer, CrossEncoder and SparseEncoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentkit.io import hub_upload
from sentkit.io.model_card import model_card_text


class ModelCardMixin:
    """``push_to_hub`` and the README.md of ``save``; the model has a ``model_card_data``
    (:func:`sentkit.io.model_card.attach_model_card`) and a ``save`` method."""

    model_card_data: Any

    def _model_card(self, path: str | Path, model_name: str | None) -> str | None:
        """The README.md text to save with the model in ``path`` (:func:`~sentkit.io.model_card.model_card_text`)."""
        return model_card_text(self, path, model_name)

    def push_to_hub(
        self,
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
    ) -> str:
        """Upload the model to the Hugging Face hub repository ``repo_id``, creating it if needed.

        Saves the model (with a model card, unless the repository has one and not
        ``replace_model_card``) to a temporary folder and uploads it in one commit; or uploads
        ``local_model_path`` as it is. ``revision`` names the branch, ``create_pr`` opens a pull
        request instead. Needs the network and a token with write access.

        Returns:
            The URL of the commit (of the pull request with ``create_pr``).
        """
        return hub_upload.push_to_hub(
            self,
            repo_id,
            token=token,
            private=private,
            safe_serialization=safe_serialization,
            commit_message=commit_message,
            local_model_path=local_model_path,
            exist_ok=exist_ok,
            replace_model_card=replace_model_card,
            train_datasets=train_datasets,
            revision=revision,
            create_pr=create_pr,
        )
