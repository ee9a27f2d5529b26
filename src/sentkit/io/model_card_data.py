"""What a model card says about a model: the card data dataclass shared by the three model families.

A model holds one of these as ``model.model_card_data``. The user fills the first fields (language,
license, model name and id, data sets, task, tags), the trainers fill the rest while training
(data set statistics, losses, hyper-parameters, training logs, evaluator metrics; see
``sentkit.train.model_card_callback``), and ``save`` renders it into ``README.md``
(:mod:`sentkit.io.model_card`). The fields and their defaults are those of sentence-transformers'
``BaseModelCardData``. The family subclasses are in :mod:`sentkit.io.model_card_families`.

A base model or a data set id is only kept when the hub knows it (as in the reference); with
``local_files_only`` or ``HF_HUB_OFFLINE`` nothing is looked up (:mod:`sentkit.io.hub_upload`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from copy import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from sentkit.io import hub_upload
from sentkit.io.model_card_format import format_eval_metrics, format_training_logs, framework_versions, join_names

logger = logging.getLogger(__name__)

YAML_FIELDS = (
    "language",
    "license",
    "library_name",
    "tags",
    "datasets",
    "metrics",
    "pipeline_tag",
    "widget",
    "model-index",
    "co2_eq_emissions",
    "base_model",
)
"""The keys of the card's YAML front matter, in the reference's order."""

SENTENCE_BERT_CITATION = """
@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}
"""


@dataclass
class BaseModelCardData:
    """The data of a model card; see the module docstring.

    Args:
        language: the model's language(s), e.g. ``"en"`` or ``["en", "de"]`` (a str becomes a list).
        license: e.g. ``"apache-2.0"``.
        model_name: the card's title (default: ``"<Class> based on <base model>"``).
        model_id: the hub id ``owner/name`` the usage snippet loads (anything else is dropped).
        train_datasets, eval_datasets: ``[{"name": ..., "id": <hub dataset id>}, ...]``.
        task_name: what the model is for, in words.
        tags: the hub tags.
        local_files_only: never look up the base model or data sets on the hub.
        generate_widget_examples: run the model on the usage examples to show its outputs.
    """

    family: ClassVar[str] = "base"

    language: str | list[str] | None = field(default_factory=list)
    license: str | None = None
    model_name: str | None = None
    model_id: str | None = None
    train_datasets: list[dict[str, Any]] = field(default_factory=list)
    eval_datasets: list[dict[str, Any]] = field(default_factory=list)
    task_name: str | None = "retrieval"
    tags: list[str] = field(
        default_factory=lambda: ["sentence-transformers", "sentence-similarity", "feature-extraction"]
    )
    local_files_only: bool = False
    generate_widget_examples: bool = True

    # Filled by the trainers (sentkit.train.model_card_callback) and by the model.
    base_model: str | None = field(default=None, init=False)
    base_model_revision: str | None = field(default=None, init=False)
    non_default_hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    all_hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    eval_results_dict: dict[Any, dict[str, Any]] = field(default_factory=dict, init=False)
    training_logs: list[dict[str, Any]] = field(default_factory=list, init=False)
    widget: list[dict[str, Any]] = field(default_factory=list, init=False)
    usage_examples: list[Any] | None = field(default=None, init=False)
    citations: dict[str, str] = field(default_factory=dict, init=False)
    best_model_step: int | None = field(default=None, init=False)
    ir_model: bool | None = field(default=None, init=False, repr=False)
    datasets: list[str] = field(default_factory=list, init=False, repr=False)
    similarities: str | None = field(default=None, init=False, repr=False)
    code_carbon_callback: Any = field(default=None, init=False, repr=False)
    evaluation_duration: float = field(default=0.0, init=False)
    training_start_time: float | None = field(default=None, init=False, repr=False)
    source_model: tuple[str, str | None] | None = field(default=None, init=False, repr=False)
    """The hub name (and revision) the model was loaded by: the first base model candidate."""

    first_save: bool = field(default=True, init=False)
    save_dir: str | None = field(default=None, init=False, repr=False)
    pipeline_tag: str | None = field(default="sentence-similarity", init=False)
    library_name: str = field(default="sentence-transformers", init=False)
    model: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.language, str):
            self.language = [self.language]
        elif self.language is None:
            self.language = []
        self.train_datasets = self.validate_datasets(list(self.train_datasets))
        self.eval_datasets = self.validate_datasets(list(self.eval_datasets))
        if self.model_id and self.model_id.count("/") != 1:
            logger.warning(
                "The model_id %r should name the owner too, as in 'tomaarsen/mpnet-base-nli'; it is not used.",
                self.model_id,
            )
            self.model_id = None

    # ------------------------------------------------------------------- user-facing setters
    def validate_datasets(
        self, dataset_list: list[dict[str, Any]], infer_languages: bool | None = None
    ) -> list[dict[str, Any]]:
        """Give each data set a name (its id when it has none) and keep ``id`` only when the hub knows it.

        Known ids are listed in :attr:`datasets` (the YAML ``datasets``); their languages are added to
        :attr:`language` when it was empty (``infer_languages``). Nothing is looked up with
        ``local_files_only`` or ``HF_HUB_OFFLINE`` (ids are then kept as given, unlisted).
        """
        if infer_languages is None:
            infer_languages = not self.language
        for dataset in dataset_list:
            if "name" not in dataset and "id" in dataset:
                dataset["name"] = dataset["id"]
            if "id" not in dataset or self.local_files_only or hub_upload.hub_offline():
                continue
            found = hub_upload.find_dataset(dataset["id"])
            if found is None:
                logger.warning("The dataset id %r is not on the hub; it is not linked.", dataset["id"])
                del dataset["id"]
                continue
            dataset_id, languages = found
            if infer_languages:
                languages_so_far = self._languages()
                languages_so_far.extend(code for code in languages if code not in languages_so_far)
            if dataset_id not in self.datasets:
                self.datasets.append(dataset_id)
        return dataset_list

    def _languages(self) -> list[str]:
        if not isinstance(self.language, list):
            self.language = [] if self.language is None else [self.language]
        return self.language

    def set_model_id(self, model_id: str) -> None:
        self.model_id = model_id

    def set_language(self, language: str | list[str]) -> None:
        self.language = [language] if isinstance(language, str) else list(language)

    def set_license(self, license: str) -> None:
        self.license = license

    def add_tags(self, tags: str | list[str] | Any) -> None:
        """Add ``tags`` (one or several), keeping the order and no duplicates."""
        for tag in [tags] if isinstance(tags, str) else list(tags):
            if tag not in self.tags:
                self.tags.append(tag)

    def set_best_model_step(self, step: int) -> None:
        self.best_model_step = step

    def set_base_model(self, model_id: str, revision: str | None = None) -> bool:
        """Record ``model_id`` as the base model if the hub knows it; returns whether it did."""
        if self.local_files_only:
            return False
        found = hub_upload.find_model(model_id, revision=revision)
        if found is None:
            return False
        self.base_model, sha = found
        self.base_model_revision = sha if revision is None or revision == "main" else revision
        return True

    def set_losses(self, losses: list[Any]) -> None:
        """Record the citations of ``losses`` (their ``citation`` attribute) and a ``loss:<Name>`` tag each."""
        citations = {"Sentence Transformers": SENTENCE_BERT_CITATION}
        for loss in losses:
            citation = getattr(loss, "citation", None)
            if isinstance(citation, str):
                citations[type(loss).__name__] = citation
        by_citation: dict[str, list[str]] = defaultdict(list)
        for name, citation in citations.items():
            by_citation[citation].append(name)
        self.citations = {join_names(names): citation for citation, names in by_citation.items()}
        self.add_tags([f"loss:{name}" for name in dict.fromkeys(type(loss).__name__ for loss in losses)])

    def set_evaluation_metrics(self, evaluator: Any, metrics: dict[str, Any], epoch: int = 0, step: int = 0) -> None:
        """Keep ``evaluator``'s latest ``metrics`` for the card; add its primary metric(s) to the training logs."""
        self.eval_results_dict[evaluator] = copy(metrics)
        primary = getattr(evaluator, "primary_metric", None)
        if not primary:
            return
        if hasattr(evaluator, "evaluators"):  # a SequentialEvaluator: its members' primary metrics
            primaries = [getattr(member, "primary_metric", None) for member in evaluator.evaluators]
        else:
            primaries = [primary] if isinstance(primary, str) else list(primary)
        logged = {key: value for key, value in metrics.items() if key in primaries}
        if self.training_logs and self.training_logs[-1]["Step"] == step:
            self.training_logs[-1].update(logged)
        else:
            self.training_logs.append({"Epoch": epoch, "Step": step, **logged})

    def start_training_clock(self) -> None:
        self.training_start_time = time.time()

    # ----------------------------------------------------------------------- model-derived
    def register_model(self, model: Any) -> None:
        """Attach the model the card describes; an IR model (Router, query/document prompts) is noted."""
        self.model = model
        if self.ir_model is not None:
            return
        if any(type(module).__name__ == "Router" for module in model.children()):
            self.ir_model = True
            return
        prompts = getattr(model, "prompts", None) or {}
        if any(prompts.get(name) for name in ("query", "document", "passage", "corpus")):
            self.ir_model = True

    def try_to_set_base_model(self) -> None:
        """Find the base model: the hub name the model was loaded by, else from the Hugging Face config's
        ``_name_or_path`` (its last two path parts, or its last part with one ``_`` read as the ``/``, as
        in cache folder names); the first the hub knows. Runs on the first save, not on load."""
        if self.source_model is not None and self.set_base_model(*self.source_model):
            return
        name_or_path = transformers_name_or_path(self.model)
        if not name_or_path:
            return
        path = Path(name_or_path)
        candidates = ["/".join(path.parts[-2:])]
        pieces = path.name.split("_")
        candidates += ["_".join(pieces[:i]) + "/" + "_".join(pieces[i:]) for i in range(1, len(pieces))]
        for candidate in candidates:
            if self.set_base_model(candidate):
                return

    def try_to_set_ir_model_from_evaluators(self) -> None:
        """An information-retrieval evaluator among the results marks the model as an IR model."""
        for evaluator in self.eval_results_dict:
            members = getattr(evaluator, "evaluators", [evaluator])
            if any(
                type(member).__name__ in ("InformationRetrievalEvaluator", "NanoBEIREvaluator") for member in members
            ):
                self.ir_model = True
                return

    def run_usage_snippet(self) -> None:
        """Pick the usage examples (and run the model on them): each family does its own."""

    def generate_usage_snippet(self) -> str:
        """The usage code block: each family writes its own."""
        return ""

    def model_details(self) -> dict[str, Any]:
        """The family's lines of the "Model Description" (dimensions, similarity, labels)."""
        return {}

    def get_default_model_name(self) -> str:
        kind = type(self.model).__name__ if self.model is not None else "Model"
        return f"{kind} based on {self.base_model}" if self.base_model else kind

    def training_durations(self) -> dict[str, str | None]:
        """Training, evaluation and total time, as words, once training started."""
        from sentkit.io.model_card_format import format_duration

        if self.training_start_time is None:
            return {"training_time": None, "evaluation_time": None, "total_time": None}
        total = time.time() - self.training_start_time
        evaluation = self.evaluation_duration
        return {
            "training_time": format_duration(total - evaluation),
            "evaluation_time": format_duration(evaluation) if evaluation else None,
            "total_time": format_duration(total) if evaluation else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything the card shows, as the reference's ``to_dict``: the fields, the model's details,
        the formatted tables, and ``card_yaml`` (the front matter). Looks the base model up once
        (before the first save) and runs the model on the usage examples."""
        if self.first_save and not self.base_model:
            self.try_to_set_base_model()
        if not self.model_name:
            self.model_name = self.get_default_model_name()
        if self.ir_model is None and self.eval_results_dict:
            self.try_to_set_ir_model_from_evaluators()
        try:
            self.run_usage_snippet()
        except Exception as exc:  # the card then shows the snippet without outputs
            logger.warning("Could not run the model on the usage examples for the model card: %s", exc)
        values = {item.name: getattr(self, item.name) for item in fields(self) if item.name not in _NOT_RENDERED}
        values["usage_snippet"] = self.generate_usage_snippet()
        if self.eval_results_dict:
            values.update(format_eval_metrics(self.eval_results_dict, self.model_name))
        if self.training_logs:
            values.update(format_training_logs(self.training_logs, self.best_model_step))
        values["hide_eval_lines"] = len(self.training_logs) > 100
        values.update(self.training_durations())
        values.update(_model_metadata(self.model))
        values.update(self.model_details())
        values["version"] = framework_versions()
        self.first_save = False
        values["card_yaml"] = _front_matter(values)
        return values

    def to_yaml(self, line_break: str | None = None) -> str:
        """The card's YAML front matter (language, license, tags, base model, ...), as the reference's."""
        return _front_matter(self.to_dict(), line_break)


def transformers_name_or_path(model: Any) -> str | None:
    """``config._name_or_path`` of the first Hugging Face model in ``model``'s modules, or None."""
    if model is None:
        return None
    for module in model.children():
        inner = module.__dict__.get("_modules", {}).get("model") or getattr(module, "model", None)
        config = getattr(inner, "config", None)
        name = getattr(config, "_name_or_path", None)
        if name:
            return str(name)
        folder = getattr(module, "model_folder", None)
        if folder is not None:
            return str(folder)
    return None


# Fields that stay out of the values a card is rendered from.
_NOT_RENDERED = {"model", "eval_results_dict", "save_dir", "code_carbon_callback", "training_start_time"}


def _model_metadata(model: Any) -> dict[str, Any]:
    first = next(iter(model.children()), None)
    modalities = getattr(model, "modalities", None) or ["text"]
    return {
        "model_max_length": getattr(model, "max_seq_length", None),
        "model_string": str(model),
        "supported_modalities": [str(modality).title() for modality in modalities],
        "query_length": getattr(first, "query_length", None),
        "document_length": getattr(first, "document_length", None),
    }


def _front_matter(values: dict[str, Any], line_break: str | None = None) -> str:
    from huggingface_hub.utils import yaml_dump

    metadata = {key: value for key, value in values.items() if key in YAML_FIELDS and value not in (None, [])}
    return str(yaml_dump(metadata, sort_keys=False, line_break=line_break)).strip()
