"""Training pipeline: data -> baseline + transformer -> evaluation -> ONNX export (fp32, int8) + promotion."""

from typing import Any

from zenml import pipeline
from zenml.client import Client
from zenml.config import ResourceSettings

from arxiv_classifier.config import ResourcesConfig, RunConfig
from arxiv_classifier.constants import PREPARED_DATASET
from steps import (
    baseline_trainer,
    data_loader,
    data_preparer,
    model_evaluator,
    model_history_reporter,
    model_promoter,
    model_trainer,
    onnx_exporter,
)

#: ZenML settings key of the Vertex orchestrator's settings; ignored (not an error) on stacks without one.
VERTEX_SETTINGS_KEY = "orchestrator.vertex"
#: The node selector Vertex reads the accelerator type from (zenml.integrations.gcp.constants).
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"


def trainer_settings(resources: ResourcesConfig) -> dict[str, Any]:
    """Step settings that ask the orchestrator for the configured compute.

    `resources` (ZenML's ResourceSettings) become the KFP task's CPU / memory / accelerator limits on
    Vertex; the accelerator type travels as the Vertex orchestrator's accelerator node selector. The
    local orchestrator ignores resource settings (with a warning) and stacks without a Vertex
    orchestrator skip the Vertex settings, so the same config also runs locally.
    """
    settings: dict[str, Any] = {
        "resources": ResourceSettings(
            gpu_count=resources.gpu_count or None, cpu_count=resources.cpu_count, memory=resources.memory
        )
    }
    if resources.gpu_count > 0:
        # A plain dict: ZenML turns it into VertexOrchestratorSettings when the stack has a Vertex
        # orchestrator, and importing the GCP integration here would need its packages on every stack.
        settings[VERTEX_SETTINGS_KEY] = {
            "pod_settings": {"node_selectors": {GKE_ACCELERATOR_LABEL: resources.gpu_type}}
        }
    return settings


@pipeline
def training_pipeline(config: RunConfig, data_fingerprint: str = "", dataset_version: str | None = None) -> None:
    """Train, evaluate and (maybe) promote one version of the configured ZenML Model.

    Args:
        config: the validated run configuration.
        data_fingerprint: content identity of the data source (cache key of the loader).
        dataset_version: re-train on this earlier version of the prepared dataset instead of
            reading the source again.
    """
    dataset: Any
    if dataset_version is not None:
        dataset = Client().get_artifact_version(PREPARED_DATASET, dataset_version)
    else:
        raw = data_loader(config=config.data, fingerprint=data_fingerprint)
        dataset, _card = data_preparer(raw=raw, config=config.data)
    baseline_metrics: Any = {}
    baseline: Any = None
    if config.baseline.enabled:
        baseline, baseline_metrics = baseline_trainer(
            dataset=dataset, config=config.baseline, evaluation=config.evaluation, seed=config.data.seed
        )
    trainer = model_trainer
    if config.resources is not None and config.resources.requested:
        trainer = model_trainer.with_options(settings=trainer_settings(config.resources))
    classifier, history = trainer(dataset=dataset, config=config.train)
    test_metrics, _cm, _samples, _card2, test_predictions = model_evaluator(
        classifier=classifier,
        dataset=dataset,
        baseline_metrics=baseline_metrics,
        training_history=history,
        config=config.evaluation,
        train=config.train,
    )
    if config.export.onnx:
        onnx_exporter(
            classifier=classifier,
            dataset=dataset,
            test_predictions=test_predictions,
            config=config.export,
            train=config.train,
        )
    decision, _promotion_report = model_promoter(
        dataset=dataset,
        test_metrics=test_metrics,
        test_predictions=test_predictions,
        baseline_metrics=baseline_metrics,
        baseline_model=baseline,
        config=config.promotion,
        evaluation=config.evaluation,
        train=config.train,
    )
    model_history_reporter(latest=decision)
