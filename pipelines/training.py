"""Training pipeline: data -> baseline + transformer -> evaluation -> promotion."""

from typing import Any

from zenml import pipeline
from zenml.client import Client

from arxiv_classifier.config import RunConfig
from arxiv_classifier.constants import PREPARED_DATASET
from steps import baseline_trainer, data_loader, data_preparer, model_evaluator, model_promoter, model_trainer


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
    if config.baseline.enabled:
        _baseline, baseline_metrics = baseline_trainer(
            dataset=dataset, config=config.baseline, evaluation=config.evaluation, seed=config.data.seed
        )
    classifier, history = model_trainer(dataset=dataset, config=config.train)
    test_metrics, _cm, _samples, _card2 = model_evaluator(
        classifier=classifier,
        dataset=dataset,
        baseline_metrics=baseline_metrics,
        training_history=history,
        config=config.evaluation,
        train_params=config.train.model_dump(),
    )
    model_promoter(
        dataset=dataset,
        test_metrics=test_metrics,
        baseline_metrics=baseline_metrics,
        config=config.promotion,
        evaluation=config.evaluation,
    )
