"""Fine-tune the transformer; per-epoch metrics go to MLflow, the model to the Model Control Plane."""

from typing import Annotated, Any

import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.config import TrainConfig
from arxiv_classifier.constants import CLASSIFIER, TRAINING_HISTORY
from arxiv_classifier.data import labels_of


def checkpoint_dir(dataset: pd.DataFrame, config: TrainConfig) -> str:
    """Where this training's checkpoints go: the active artifact store (a bucket on a remote stack), one
    directory per inputs (the dataset's content and the train config), so only a re-run of the same training
    resumes from it."""
    import hashlib

    from zenml.client import Client

    from arxiv_classifier.constants import COL_LABEL, COL_SPLIT, COL_TEXT

    columns = dataset[[COL_TEXT, COL_LABEL, COL_SPLIT]]  # what the loop trains on
    digest = hashlib.sha256(pd.util.hash_pandas_object(columns, index=True).to_numpy().tobytes())
    digest.update(config.model_dump_json(exclude={"checkpoint"}).encode())
    return f"{Client().active_stack.artifact_store.path.rstrip('/')}/checkpoints/{digest.hexdigest()[:24]}"


@step(experiment_tracker=True)
def model_trainer(
    dataset: pd.DataFrame, config: TrainConfig
) -> tuple[
    Annotated[TextClassifier, ArtifactConfig(name=CLASSIFIER, artifact_type=ArtifactType.MODEL)],
    Annotated[dict[str, Any], TRAINING_HISTORY],
]:
    """Train on the train split, pick the best epoch on validation macro-F1 (0: the warmed-up head alone)."""
    # Heavy imports inside the step: a fully cached pipeline run then never loads torch.
    import mlflow

    from arxiv_classifier.modeling import build_classifier, settings_from_config, train_on_prepared

    labels = labels_of(dataset)
    classifier = build_classifier(config.model, labels, config.max_length, seed=config.seed)
    mlflow.log_params({**config.model_dump(), "max_length_effective": classifier.max_length, "num_labels": len(labels)})

    def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
        mlflow.log_metrics(metrics, step=epoch)

    settings = settings_from_config(config)
    if config.checkpoint:
        settings.checkpoint_dir = checkpoint_dir(dataset, config)
    result = train_on_prepared(classifier, dataset, settings, on_epoch_end=log_epoch)
    if result.head_warmup:  # head-first training is epoch 0 of the curves and of the best-epoch choice
        mlflow.log_metrics(result.head_warmup, step=0)
    summary = {
        "best_epoch": result.best_epoch,
        "best_val_macro_f1": result.best_val_macro_f1,
        f"best_val_{config.selection_metric}": result.best_val_score,
        "train_samples_per_second": result.train_samples_per_second,
        "train_seconds": result.train_seconds,
        "peak_memory_mb": result.peak_memory_mb,
    }
    mlflow.log_metrics({k: float(v) for k, v in summary.items()})
    ran = {"precision": result.precision, "precision_reason": result.precision_reason}
    mlflow.set_tags(ran)
    log_metadata(metadata={"training": {**summary, **ran}}, infer_model=True)
    print(
        f"Trained {config.model}: kept epoch {result.best_epoch} (best validation {config.selection_metric} "
        f"{result.best_val_score:.4f}), val macro-F1 {result.best_val_macro_f1:.4f}, "
        f"{result.train_samples_per_second:.1f} samples/s ({result.precision_reason})"
    )
    return classifier, {"history": result.history, "head_warmup": result.head_warmup, **summary, **ran}
