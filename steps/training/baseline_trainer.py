"""TF-IDF + logistic regression on the same split as the transformer, logged beside it."""

from typing import Annotated, Any

import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

from arxiv_classifier.config import BaselineConfig, EvaluationConfig
from arxiv_classifier.constants import BASELINE_METRICS, BASELINE_MODEL, COL_LABEL, COL_SPLIT, COL_TEXT
from arxiv_classifier.data import labels_of


@step(experiment_tracker=True)
def baseline_trainer(
    dataset: pd.DataFrame, config: BaselineConfig, evaluation: EvaluationConfig, seed: int = 42
) -> tuple[
    Annotated[Pipeline, ArtifactConfig(name=BASELINE_MODEL, artifact_type=ArtifactType.MODEL)],
    Annotated[dict[str, Any], BASELINE_METRICS],
]:
    """Fit on the train split, score the test split; metrics are logged to MLflow as `baseline_*`."""
    import mlflow  # heavy imports inside the step: cached runs skip them

    from arxiv_classifier.baseline import baseline_proba, train_baseline
    from arxiv_classifier.metrics import evaluation_report

    labels = labels_of(dataset)
    train = dataset[dataset[COL_SPLIT] == "train"]
    test = dataset[dataset[COL_SPLIT] == "test"]
    model = train_baseline(train[COL_TEXT], train[COL_LABEL], config, seed)
    proba = baseline_proba(model, test[COL_TEXT], labels)
    report = evaluation_report(test[COL_LABEL].tolist(), proba, labels, evaluation.top_k, evaluation.calibration_bins)
    overall = report["overall"]
    mlflow.log_params({f"baseline_{k}": v for k, v in config.model_dump().items()})
    mlflow.log_metrics({f"baseline_test_{k}": v for k, v in overall.items()})
    log_metadata(metadata={"baseline_test": overall}, infer_model=True)
    print("Baseline test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in overall.items() if k != "n"))
    return model, overall
