"""Promote the candidate only if it beats the baseline and the current production version."""

from typing import Annotated, Any

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger

from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.config import EvaluationConfig, PromotionConfig, TrainConfig
from arxiv_classifier.constants import CLASSIFIER, COL_LABEL, COL_SPLIT, COL_TEXT, PROMOTION_DECISION
from arxiv_classifier.promotion import decide_promotion

logger = get_logger(__name__)


def _current_holder(model_name: str, stage: str) -> Any | None:
    try:
        return Client().get_model_version(model_name, stage)
    except KeyError:
        return None


@step(enable_cache=False)  # a decision is taken anew for every model version, cached inputs or not
def model_promoter(
    dataset: pd.DataFrame,
    test_metrics: dict[str, Any],
    baseline_metrics: dict[str, Any],
    config: PromotionConfig,
    evaluation: EvaluationConfig,
    train: TrainConfig,
) -> Annotated[dict[str, Any], PROMOTION_DECISION]:
    """Re-score the current production version on this run's test split and decide.

    The candidate's scores are the evaluator's, computed on the very same test rows; the production
    version is loaded from the Model Control Plane and scored here on those rows, the same way
    (`score_classifier`: `train.eval_batch_size` papers at a time).
    """
    model = get_step_context().model
    test = dataset[dataset[COL_SPLIT] == "test"]
    holder = _current_holder(model.name, config.stage)
    production_metrics = None
    production_version = None
    if holder is not None and str(holder.id) != str(model.id):
        production_version = holder.number
        previous_artifact = holder.get_artifact(CLASSIFIER)
        candidate_artifact = model.get_artifact(CLASSIFIER)
        if previous_artifact is None:
            raise RuntimeError(f"{config.stage} version {holder.number} of {model.name} has no {CLASSIFIER} artifact")
        if candidate_artifact is not None and previous_artifact.id == candidate_artifact.id:
            # A cached re-run links the very same model artifact: its scores are the candidate's.
            production_metrics = dict(test_metrics)
        else:
            from arxiv_classifier.metrics import score_classifier

            previous: TextClassifier = previous_artifact.load()
            _proba, report = score_classifier(
                previous, test[COL_TEXT].tolist(), test[COL_LABEL].tolist(), evaluation, train
            )
            production_metrics = report["overall"]
    decision = decide_promotion(
        config.metric, test_metrics, production_metrics, baseline_metrics or None, config.min_improvement
    )
    if decision.promote:
        model.set_stage(config.stage, force=True)
    record = {
        **decision.as_dict(),
        "stage": config.stage,
        "candidate_version": model.number,
        "previous_version": production_version,
    }
    log_metadata(metadata={"promotion": record}, infer_model=True)
    message = f"Model {model.name} version {model.version}: {decision.summary()}"
    logger.info(message)
    print(message)
    return record
