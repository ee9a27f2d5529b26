"""The model card text: sentence-transformers' card layout, written out in Python (no template engine).

:func:`render_card` takes the values :mod:`sentkit.io.model_card` gathers (the YAML front matter,
model details, usage snippet, data sets, hyper-parameters, logs, evaluation tables, citations) and
returns the markdown of ``README.md``. The sections and their wording follow the reference's
``model_card_template.md`` of each family; the family-specific phrases are in :data:`FAMILIES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentkit.io.model_card_format import join_names

SBERT = "[sentence-transformers](https://www.SBERT.net)"


@dataclass(frozen=True)
class FamilyText:
    """The phrases that differ between the cards of the model families."""

    title: str
    model_type: str
    docs: str  # the sbert.net package_reference section of losses and evaluators
    what_it_does: str
    hub_link: str
    documentation: str | None = None
    resources: tuple[str, ...] = ()


FAMILIES = {
    "sentence_transformer": FamilyText(
        title="Sentence Transformer model",
        model_type="Sentence Transformer",
        docs="sentence_transformer",
        what_it_does="It maps inputs to a {output_dimensionality}-dimensional dense vector space and can be "
        "used for {task_name}.",
        hub_link="[Sentence Transformers on Hugging Face](https://huggingface.co/models?library=sentence-transformers)",
        resources=(
            "[Training and Finetuning Embedding Models with Sentence Transformers]"
            "(https://huggingface.co/blog/train-sentence-transformers): the end-to-end guide for training or "
            "finetuning Sentence Transformer models.",
            "[Introduction to Matryoshka Embedding Models](https://huggingface.co/blog/matryoshka): "
            "variable-size embeddings that can be truncated with minimal quality loss.",
        ),
    ),
    "cross_encoder": FamilyText(
        title="Cross Encoder model",
        model_type="Cross Encoder",
        docs="cross_encoder",
        what_it_does="using the " + SBERT + " library. It computes scores for pairs of texts, which can be used "
        "for {task_name}.",
        hub_link="[Cross Encoders on Hugging Face]"
        "(https://huggingface.co/models?library=sentence-transformers&other=cross-encoder)",
        documentation="[Cross Encoder Documentation](https://www.sbert.net/docs/cross_encoder/usage/usage.html)",
        resources=(
            "[Training and Finetuning Reranker Models with Sentence Transformers]"
            "(https://huggingface.co/blog/train-reranker): the end-to-end guide for training or finetuning "
            "Cross Encoder (reranker) models.",
        ),
    ),
    "sparse_encoder": FamilyText(
        title="Sparse Encoder model",
        model_type="Sparse Encoder",
        docs="sparse_encoder",
        what_it_does="using the " + SBERT + " library. It maps inputs to a {output_dimensionality}-dimensional "
        "sparse vector space and can be used for {task_name}.",
        hub_link="[Sparse Encoders on Hugging Face]"
        "(https://huggingface.co/models?library=sentence-transformers&other=sparse-encoder)",
        documentation="[Sparse Encoder Documentation](https://www.sbert.net/docs/sparse_encoder/usage/usage.html)",
        resources=(
            "[Training and Finetuning Sparse Embedding Models with Sentence Transformers]"
            "(https://huggingface.co/blog/train-sparse-encoder): the end-to-end guide for training or "
            "finetuning SPLADE and other sparse encoder models.",
        ),
    ),
    "multi_vector_encoder": FamilyText(
        title="Multi-Vector Encoder model",
        model_type="Multi-Vector Encoder",
        docs="multi_vector_encoder",
        what_it_does="using the " + SBERT + " library. It maps inputs to sequences of {output_dimensionality}-"
        "dimensional token-level vectors and scores them with late interaction (MaxSim), useful for {task_name}.",
        hub_link="[Multi-Vector Encoders on Hugging Face]"
        "(https://huggingface.co/models?library=sentence-transformers&other=multi-vector)",
        documentation="[Multi-Vector Encoder Documentation]"
        "(https://www.sbert.net/docs/multi_vector_encoder/usage/usage.html)",
    ),
}
INTRO_LINKS = {
    "sentence_transformer": SBERT,
    "cross_encoder": "[Cross Encoder](https://www.sbert.net/docs/cross_encoder/usage/usage.html)",
    "sparse_encoder": "[{model_type}](https://www.sbert.net/docs/sparse_encoder/usage/usage.html)",
    "multi_vector_encoder": "[{model_type}](https://www.sbert.net/docs/multi_vector_encoder/usage/usage.html)",
}


def _plural(count: int) -> str:
    return "s" if count > 1 else ""


def _dataset_link(dataset: dict[str, Any]) -> str:
    name = dataset.get("name") or dataset.get("id")
    return f"[{name}](https://huggingface.co/datasets/{dataset['id']})" if dataset.get("id") else str(name)


def render_card(values: dict[str, Any], family: str) -> str:
    """The README.md text of a model card.

    Args:
        values: what :meth:`~sentkit.io.model_card_data.BaseModelCardData.to_dict` gathers
            (``card_yaml``, ``model_name``, ``base_model``, data set lists, details, ``usage_snippet``,
            tables, ``citations``, ...).
        family: ``sentence_transformer``, ``cross_encoder``, ``sparse_encoder`` or ``multi_vector_encoder``.
    """
    text = FAMILIES[family]
    parts = [
        "---\n" + values["card_yaml"] + "\n---\n",
        f"# {values.get('model_name') or _title(values, text)}\n",
        _introduction(values, text, family) + "\n",
        "## Model Details\n\n### Model Description\n" + _description(values, text, family) + "\n",
        _sources(text),
        "### Full Model Architecture\n\n```\n" + values["model_string"] + "\n```\n",
        "## Usage\n\n### Direct Usage (Sentence Transformers)\n\nFirst install the Sentence Transformers library:\n\n"
        "```bash\npip install -U sentence-transformers\n```\nThen you can load this model and run inference.\n"
        + values["usage_snippet"]
        + "\n",
        _evaluation(values, text),
        "## Training Details\n" + _datasets_section(values, text) + _hyperparameters(values) + _logs(values),
        _framework(values),
    ]
    if text.resources:
        parts.append("## Additional Resources\n\n" + "".join(f"- {line}\n" for line in text.resources))
    parts.append(_citations(values))
    return "\n".join(part for part in parts if part)


def _title(values: dict[str, Any], text: FamilyText) -> str:
    model_type = values.get("model_type")
    return f"{model_type} model" if model_type else text.title


def _introduction(values: dict[str, Any], text: FamilyText, family: str) -> str:
    link = INTRO_LINKS[family].format(model_type=values.get("model_type") or text.model_type)
    sentence = f"This is a {link} model"
    base = values.get("base_model")
    sentence += f" finetuned from [{base}](https://huggingface.co/{base})" if base else " trained"
    named = [dataset for dataset in values.get("train_datasets", []) if dataset.get("name")]
    if named:
        names = ", ".join(str(dataset["name"]) for dataset in named)
        listed = str(len(named)) if len(names) > 200 else "the " + join_names([_dataset_link(d) for d in named])
        sentence += f" on {listed} dataset{_plural(len(named))}"
    what = text.what_it_does.format(
        output_dimensionality=values.get("output_dimensionality"), task_name=values.get("task_name")
    )
    if family == "sparse_encoder" and values.get("max_active_dims") and "CSR" in str(values.get("model_type")):
        what = what.replace(" and can", f" with {values['max_active_dims']} maximum active dimensions and can")
    return f"{sentence}{'' if what.startswith('using') else '.'} {what}"


def _description(values: dict[str, Any], text: FamilyText, family: str) -> str:
    lines = [f"- **Model Type:** {values.get('model_type') or text.model_type}"]
    base, revision = values.get("base_model"), values.get("base_model_revision")
    if base:
        line = f"- **Base model:** [{base}](https://huggingface.co/{base})"
        lines.append(line + (f" <!-- at revision {revision} -->" if revision else ""))
    else:
        lines.append("<!-- - **Base model:** [Unknown](https://huggingface.co/unknown) -->")
    lines.append(f"- **Maximum Sequence Length:** {values.get('model_max_length')} tokens")
    if family == "cross_encoder":
        labels = values.get("model_num_labels") or 1
        lines.append(f"- **Number of Output Labels:** {labels} label{_plural(labels)}")
    else:
        for key, label in (("query_length", "Query"), ("document_length", "Document")):
            if values.get(key):
                lines.append(f"    - **Maximum {label} Length:** {values[key]} tokens")
        dimensions = f"- **Output Dimensionality:** {values.get('output_dimensionality')} dimensions"
        if family == "sparse_encoder" and values.get("max_active_dims"):
            dimensions += f" (trained with {values['max_active_dims']} maximum active dimensions)"
        lines.append(dimensions)
        lines.append(f"- **Similarity Function:** {values.get('similarity_fn_name')}")
    modalities = values.get("supported_modalities") or []
    if modalities:
        lines.append(f"- **Supported Modalit{'ies' if len(modalities) > 1 else 'y'}:** {', '.join(modalities)}")
    named = [dataset for dataset in values.get("train_datasets", []) if dataset.get("name")]
    if named:
        lines.append(f"- **Training Dataset{_plural(len(named))}:**")
        lines += [f"    - {_dataset_link(dataset)}" for dataset in named]
    else:
        lines.append("<!-- - **Training Dataset:** Unknown -->")
    language = values.get("language") or []
    if language:
        languages = [language] if isinstance(language, str) else list(language)
        lines.append(f"- **Language{_plural(len(languages))}:** {', '.join(languages)}")
    else:
        lines.append("<!-- - **Language:** Unknown -->")
    license_name = values.get("license")
    lines.append(f"- **License:** {license_name}" if license_name else "<!-- - **License:** Unknown -->")
    return "\n".join(lines)


def _sources(text: FamilyText) -> str:
    lines = ["### Model Sources", "", "- **Documentation:** [Sentence Transformers Documentation](https://sbert.net)"]
    if text.documentation:
        lines.append(f"- **Documentation:** {text.documentation}")
    lines.append(
        "- **Repository:** [Sentence Transformers on GitHub](https://github.com/huggingface/sentence-transformers)"
    )
    lines.append(f"- **Hugging Face:** {text.hub_link}")
    return "\n".join(lines) + "\n"


def _reference_link(class_path: str, text: FamilyText, kind: str) -> str:
    """A sbert.net link for sentence-transformers' and sentkit's own classes, the class path otherwise."""
    name = class_path.split(".")[-1]
    if not class_path.startswith(("sentence_transformers.", "sentkit.")):
        return f"<code>{class_path}</code>"
    if kind == "losses":
        return f"[<code>{name}</code>](https://sbert.net/docs/package_reference/{text.docs}/losses.html#{name.lower()})"
    anchor = f"sentence_transformers.{text.docs}.evaluation.{name}"
    return f"[<code>{name}</code>](https://sbert.net/docs/package_reference/{text.docs}/evaluation.html#{anchor})"


def _evaluation(values: dict[str, Any], text: FamilyText) -> str:
    entries = values.get("eval_metrics") or []
    if not entries:
        return ""
    out = ["## Evaluation\n\n### Metrics\n"]
    for entry in entries:
        out.append(f"#### {entry['description']}\n")
        names = entry["dataset_name"]
        if names:
            listed = [names] if isinstance(names, str) else list(names)
            out.append(f"* Dataset{_plural(len(listed))}: " + join_names([f"`{name}`" for name in listed]))
        line = "* Evaluated with " + _reference_link(entry["class_name"], text, "evaluation")
        if entry["config_code"]:
            line += " with these parameters:\n" + entry["config_code"]
        out.append(line + "\n")
        out.append(entry["table"])
    return "\n".join(out)


def _datasets_section(values: dict[str, Any], text: FamilyText) -> str:
    out = []
    for kind, datasets in (("training", values.get("train_datasets")), ("evaluation", values.get("eval_datasets"))):
        if not datasets:
            continue
        out.append(f"\n### {kind.title()} Dataset{_plural(len(datasets))}\n")
        for dataset in datasets:
            out.append(_dataset_block(dataset, kind, text, folded=len(datasets) > 3))
    return "".join(out)


def _dataset_block(dataset: dict[str, Any], kind: str, text: FamilyText, folded: bool) -> str:
    name = dataset.get("name") or "Unnamed Dataset"
    lines = [f"<details><summary>{name}</summary>\n"] if folded else []
    lines.append(f"#### {name}\n")
    if dataset.get("name"):
        line = "* Dataset: " + (
            f"[{dataset['name']}](https://huggingface.co/datasets/{dataset['id']})"
            if "id" in dataset
            else dataset["name"]
        )
        if "revision" in dataset and "id" in dataset:
            revision = dataset["revision"]
            line += f" at [{revision[:7]}](https://huggingface.co/datasets/{dataset['id']}/tree/{revision})"
        lines.append(line)
    if dataset.get("size"):
        lines.append(f"* Size: {dataset['size']:,} {kind} samples")
    columns = list(dataset.get("columns") or [])
    if columns:
        joined = (
            columns[0]
            if len(columns) == 1
            else " and ".join(columns)
            if len(columns) == 2
            else (", ".join(columns[:-1]) + ", and " + columns[-1])
        )
        lines.append(f"* Columns: {joined}")
    if dataset.get("stats_table"):
        count = min(int(dataset.get("size") or 100), 100)
        lines.append(f"* Approximate statistics based on the first {count} samples:\n{dataset['stats_table']}")
    if dataset.get("examples_table"):
        lines.append(f"* Samples:\n{dataset['examples_table']}")
    loss = dataset.get("loss") or {}
    if loss.get("fullname"):
        line = "* Loss: " + _reference_link(loss["fullname"], text, "losses")
        if loss.get("config_code"):
            line += " with these parameters:\n" + loss["config_code"]
        lines.append(line)
    if folded:
        lines.append("</details>")
    return "\n".join(lines) + "\n"


def _hyperparameters(values: dict[str, Any]) -> str:
    every = values.get("all_hyperparameters") or {}
    if not every:
        return ""
    out = ["\n### Training Hyperparameters\n"]
    changed = values.get("non_default_hyperparameters") or {}
    if changed:
        out.append("#### Non-Default Hyperparameters\n\n" + "".join(f"- `{k}`: {v}\n" for k, v in changed.items()))
    out.append("\n#### All Hyperparameters\n<details><summary>Click to expand</summary>\n\n")
    out.append("".join(f"- `{k}`: {v}\n" for k, v in every.items()) + "\n</details>\n")
    return "".join(out)


def _logs(values: dict[str, Any]) -> str:
    table = values.get("eval_lines")
    if not table:
        return ""
    hide = values.get("hide_eval_lines")
    text = "\n### Training Logs\n" + ("<details><summary>Click to expand</summary>\n\n" if hide else "") + table
    if values.get("explain_bold_in_eval"):
        text += "\n* The bold row denotes the saved checkpoint."
    return text + ("\n</details>" if hide else "") + "\n"


def _framework(values: dict[str, Any]) -> str:
    lines = []
    if values.get("training_time") is not None:
        lines += ["### Training Time", f"- **Training**: {values['training_time']}"]
        if values.get("evaluation_time") is not None:
            lines += [f"- **Evaluation**: {values['evaluation_time']}", f"- **Total**: {values['total_time']}"]
        lines.append("")
    versions = values.get("version") or {}
    lines.append("### Framework Versions")
    labels = {
        "python": "Python",
        "sentkit": "sentkit (sentence-transformers format)",
        "transformers": "Transformers",
        "torch": "PyTorch",
        "accelerate": "Accelerate",
        "datasets": "Datasets",
        "tokenizers": "Tokenizers",
    }
    lines += [f"- {label}: {versions[key]}" for key, label in labels.items() if key in versions]
    return "\n".join(lines) + "\n"


def _citations(values: dict[str, Any]) -> str:
    out = ["## Citation\n\n### BibTeX\n"]
    for name, citation in (values.get("citations") or {}).items():
        out.append(f"#### {name}\n```bibtex\n{citation.strip()}\n```\n")
    return "\n".join(out)
