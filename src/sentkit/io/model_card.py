"""Model cards: the ``README.md`` that ``save`` writes next to the model, as sentence-transformers does.

- :func:`attach_model_card` gives a freshly loaded model its ``model_card_data`` (and keeps the
  README.md of the folder it came from);
- :func:`model_card_text` is what ``save`` writes: the loaded README.md again when the model was not
  trained since (with the hub id filled in), else a new card (:func:`generate_model_card`);
- :func:`generate_model_card` gathers the values (``model_card_data.to_dict()``) and renders them
  (:func:`sentkit.io.model_card_render.render_card`).

The card data classes live in :mod:`sentkit.io.model_card_data` and
:mod:`sentkit.io.model_card_families`; they are re-exported here. The README.md is not part of the
checksum manifest (:data:`sentkit.io.integrity.UNCHECKED_FILES`): people edit it after saving.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sentkit.io.model_card_data import BaseModelCardData
from sentkit.io.model_card_families import (
    CrossEncoderModelCardData,
    MultiVectorEncoderModelCardData,
    SentenceTransformerModelCardData,
    SparseEncoderModelCardData,
)
from sentkit.io.model_card_render import FAMILIES, render_card
from sentkit.io.resolve import DEFAULT_ORGANIZATION, expand_model_name

__all__ = [
    "BaseModelCardData",
    "CrossEncoderModelCardData",
    "MultiVectorEncoderModelCardData",
    "SentenceTransformerModelCardData",
    "SparseEncoderModelCardData",
    "attach_model_card",
    "generate_model_card",
    "model_card_text",
]

logger = logging.getLogger(__name__)

README = "README.md"
SNIPPET_PLACEHOLDERS = {
    "SentenceTransformer": "sentence_transformers_model_id",
    "CrossEncoder": "cross_encoder_model_id",
    "SparseEncoder": "sparse_encoder_model_id",
    "MultiVectorEncoder": "multi_vector_encoder_model_id",
}


def attach_model_card(
    model: Any,
    card_data: BaseModelCardData | None,
    default_class: type[BaseModelCardData],
    folder: Path | None = None,
    model_name_or_path: str | Path | None = None,
    local_files_only: bool = False,
    revision: str | None = None,
    organization: str = DEFAULT_ORGANIZATION,
) -> None:
    """Set ``model.model_card_data`` (``card_data``, or a new ``default_class``) and register the model.

    Also keeps the text of ``folder/README.md`` (``model._model_card_text``) for :func:`model_card_text`,
    and notes ``model_name_or_path`` when it is no local path, expanded as loading expands it
    (``all-MiniLM-L6-v2`` -> ``sentence-transformers/all-MiniLM-L6-v2``; ``organization`` for cross
    and sparse encoders): the first save records it as the base model if the hub knows it
    (sentence-transformers asks the hub on load; sentkit loads without the network and asks only
    when it writes a card).
    """
    data = card_data if card_data is not None else default_class(local_files_only=local_files_only)
    model.model_card_data = data
    readme = folder / README if folder is not None else None
    model._model_card_text = None
    if readme is not None and readme.is_file():
        try:
            model._model_card_text = readme.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:  # the card is optional: the model still loads
            logger.warning("Could not read %s (%s); a new model card will be written on save.", readme, exc)
    name = None if model_name_or_path is None else str(model_name_or_path)
    if name and not local_files_only and not Path(name).exists():
        if revision is None and folder is not None and _is_commit(folder.name):
            revision = folder.name  # a hub cache snapshot: its folder is named by the commit
        data.source_model = (expand_model_name(name, organization), revision)
    data.register_model(model)


def _is_commit(name: str) -> bool:
    return len(name) == 40 and all(char in "0123456789abcdef" for char in name)


def model_card_text(model: Any, path: str | Path, model_name: str | None = None) -> str | None:
    """The README.md text ``save`` writes to ``path``; None when the card could not be made (logged).

    ``model_name`` that is not a local path becomes the card's ``model_id`` (unless one is set).
    A model loaded with a README.md and not trained since keeps that card.
    """
    data: BaseModelCardData = model.model_card_data
    if model_name and not Path(model_name).exists() and not data.model_id:
        data.model_id = model_name
    data.save_dir = str(path)
    loaded = getattr(model, "_model_card_text", None)
    if loaded and "generated_from_trainer" not in data.tags:
        placeholder = SNIPPET_PLACEHOLDERS.get(type(model).__name__)
        if data.model_id and placeholder:
            kind = type(model).__name__
            loaded = loaded.replace(f'model = {kind}("{placeholder}"', f'model = {kind}("{data.model_id}"')
        return str(loaded)
    try:
        return generate_model_card(model)
    except Exception:  # a card must never make saving fail, as in the reference
        logger.exception("Could not generate the model card; saving the model without README.md.")
        return None


def generate_model_card(model: Any) -> str:
    """A new model card for ``model`` (its ``model_card_data``), as markdown with YAML front matter."""
    data: BaseModelCardData = model.model_card_data
    if data.model is None:
        data.register_model(model)
    family = data.family if data.family in FAMILIES else "sentence_transformer"
    return render_card(data.to_dict(), family)
