"""What the deployment and inference steps share: the served model version's artifacts and its papers."""

from __future__ import annotations

from typing import Any

import pandas as pd
from zenml.client import Client

from arxiv_classifier.config import ServingConfig
from arxiv_classifier.constants import CLASSIFIER, ONNX_FP32, ONNX_INT8, ONNX_METADATA_KEY, PREPARED_DATASET
from arxiv_classifier.serving_format import FP32, INT8, TORCH, FormatChoice, FormatUnavailable, choose_format
from deployers.errors import DeploymentError

#: The artifact of each servable format.
FORMAT_ARTIFACTS = {TORCH: CLASSIFIER, FP32: ONNX_FP32, INT8: ONNX_INT8}


def classifier_artifact(model: Any) -> Any:
    """The version's classifier artifact.

    Raises:
        DeploymentError: the version has none; the message says how to train one.
    """
    artifact = model.get_artifact(CLASSIFIER)
    if artifact is None:
        raise DeploymentError(
            f"model {model.name} version {model.version} has no '{CLASSIFIER}' artifact; "
            "train one with `python run.py --pipeline train`"
        )
    return artifact


def served_artifact(model: Any, serving: ServingConfig) -> tuple[Any, FormatChoice]:
    """The artifact the endpoint serves for this version and why (`serving.format`, see `choose_format`).

    Raises:
        DeploymentError: the configured format has no artifact on the version; the message says what to do.
    """
    artifacts = {fmt: model.get_artifact(name) for fmt, name in FORMAT_ARTIFACTS.items() if fmt != TORCH}
    available = {TORCH, *(fmt for fmt, artifact in artifacts.items() if artifact is not None)}
    evaluation = model.run_metadata.get(ONNX_METADATA_KEY)
    try:
        choice = choose_format(
            serving.format,
            available,
            evaluation if isinstance(evaluation, dict) else None,
            serving.int8_max_accuracy_drop,
            serving.int8_max_macro_f1_drop,
        )
    except FormatUnavailable as exc:
        raise DeploymentError(f"model {model.name} version {model.version}: {exc}") from exc
    return (classifier_artifact(model) if choice.format == TORCH else artifacts[choice.format]), choice


def label_space(model: Any) -> list[str]:
    """The labels the version's classifier answers with (its artifact's metadata; loaded if missing)."""
    artifact = classifier_artifact(model)
    labels = artifact.run_metadata.get("labels")
    return [str(x) for x in labels] if isinstance(labels, list) else list(artifact.load().labels)


def label_space_change(model: Any, previous_version: str | int | None) -> dict[str, Any] | None:
    """What the version's labels add and drop against `previous_version` of the same model; None: no previous.

    Versions trained on different windows keep different top-N labels: a deployment that replaces one
    with another changes which categories the endpoint can answer at all.
    """
    if previous_version is None:
        return None
    labels = label_space(model)
    # a step's `Model` names the model; a `ModelVersionResponse` names the version, its `.model` the model
    model_name = getattr(getattr(model, "model", None), "name", None) or model.name
    try:
        old = label_space(Client().get_model_version(model_name, int(previous_version)))
    except (KeyError, DeploymentError, ValueError):
        return None
    return {
        "previous_version": int(previous_version),
        "added": sorted(set(labels) - set(old)),
        "dropped": sorted(set(old) - set(labels)),
    }


def training_dataset(model: Any) -> pd.DataFrame:
    """The prepared dataset this model version was trained on, from its own artifacts (not from disk).

    A version trained with `--dataset-version` did not produce its dataset: it is then the input of
    the step that produced the classifier.
    """
    artifact = model.get_artifact(PREPARED_DATASET)
    if artifact is None:
        producer = Client().get_run_step(classifier_artifact(model).producer_step_run_id)
        inputs = producer.inputs.get("dataset")
        artifact = inputs[0] if isinstance(inputs, list) else inputs
    if artifact is None:
        raise DeploymentError(f"cannot find the training data of model {model.name} version {model.version}")
    return artifact.load()


def split_title_summary(text: str) -> tuple[str, str]:
    """Undo `data.join_text` for arXiv rows: the title is the first line, the abstract the rest."""
    title, _, summary = text.partition("\n")
    return title, summary
