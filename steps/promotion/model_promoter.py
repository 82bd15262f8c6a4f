"""Promote the candidate only if it passes the baseline condition and beats, significantly, the production version."""

from typing import Annotated, Any

import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger
from zenml.types import HTMLString

from arxiv_classifier.config import EvaluationConfig, PromotionConfig, TrainConfig
from arxiv_classifier.constants import (
    CLASSIFIER,
    COL_ID,
    COL_LABEL,
    COL_SPLIT,
    COL_TEXT,
    PROMOTION_DECISION,
    PROMOTION_REPORT,
)
from arxiv_classifier.data import labels_of
from arxiv_classifier.metrics import encode_labels, per_class_metrics, slices_of
from arxiv_classifier.promotion import (
    PairedTest,
    candidate_slices,
    compare_versions,
    compare_with_baseline,
    decide_promotion,
)
from arxiv_classifier.reports import promotion_report_html

logger = get_logger(__name__)


def _current_holder(model_name: str, stage: str) -> Any | None:
    try:
        return Client().get_model_version(model_name, stage)
    except KeyError:
        return None


def _production_predictions(
    holder: Any,
    model: Any,
    candidate: list[str],
    labels: list[str],
    texts: list[str],
    truth: list[str],
    evaluation: EvaluationConfig,
    train: TrainConfig,
) -> tuple[list[str], list[str]]:
    """Production's predicted label names on the test rows, and its label space."""
    previous_artifact = holder.get_artifact(CLASSIFIER)
    if previous_artifact is None:
        raise RuntimeError(f"version {holder.number} of {model.name} has no {CLASSIFIER} artifact")
    candidate_artifact = model.get_artifact(CLASSIFIER)
    if candidate_artifact is not None and previous_artifact.id == candidate_artifact.id:
        # A cached re-run links the very same model artifact: its answers are the candidate's.
        return list(candidate), list(labels)
    from arxiv_classifier.metrics import score_classifier

    previous = previous_artifact.load()
    proba, _report = score_classifier(previous, texts, truth, evaluation, train)
    return [previous.labels[i] for i in proba.argmax(axis=1)], previous.labels


def _baseline_test(
    baseline: Pipeline | None,
    texts: list[str],
    truth: list[str],
    candidate: list[str],
    labels: list[str],
    config: PromotionConfig,
) -> PairedTest | None:
    """The candidate against the baseline on the test rows: the paired test the baseline condition reads."""
    if baseline is None:
        return None
    from arxiv_classifier.baseline import baseline_proba

    predicted = [labels[i] for i in baseline_proba(baseline, texts, labels).argmax(axis=1)]
    return compare_with_baseline(truth, candidate, predicted, labels, **config.paired_test_options())


@step(enable_cache=False)  # a decision is taken anew for every model version, cached inputs or not
def model_promoter(
    dataset: pd.DataFrame,
    test_metrics: dict[str, Any],
    test_predictions: pd.DataFrame,
    baseline_metrics: dict[str, Any],
    config: PromotionConfig,
    evaluation: EvaluationConfig,
    train: TrainConfig,
    baseline_model: Pipeline | None = None,
) -> tuple[Annotated[dict[str, Any], PROMOTION_DECISION], Annotated[HTMLString, PROMOTION_REPORT]]:
    """Score the current production version on this run's test rows, test the difference, decide.

    The candidate's scores and answers are the evaluator's, on the very same test rows; the
    production version is loaded from the Model Control Plane and scored here the same way
    (`score_classifier`: `train.eval_batch_size` papers at a time), its answers mapped to the
    candidate's labels by name. The baseline (`baseline_model`, None when disabled) answers the same
    rows for the paired test of the baseline condition (`promotion.baseline_rule`). The decision,
    with both tests, per-class changes and slice metrics, goes to the model version's metadata and
    to an HTML report.
    """
    model = get_step_context().model
    test = dataset[dataset[COL_SPLIT] == "test"]
    if test_predictions[COL_ID].astype(str).tolist() != test[COL_ID].astype(str).tolist():
        raise RuntimeError(f"the evaluator's test predictions are not this dataset's {len(test)} test rows in order")
    labels = labels_of(dataset)
    truth = test[COL_LABEL].tolist()
    candidate = test_predictions["predicted"].astype(str).tolist()
    slices = slices_of(test)
    baseline_test = _baseline_test(baseline_model, test[COL_TEXT].tolist(), truth, candidate, labels, config)
    holder = _current_holder(model.name, config.stage)
    production_version = None
    evidence: dict[str, Any]
    if holder is not None and str(holder.id) != str(model.id):
        production_version = holder.number
        production, production_labels = _production_predictions(
            holder, model, candidate, labels, test[COL_TEXT].tolist(), truth, evaluation, train
        )
        comparison = compare_versions(
            truth, candidate, labels, production, production_labels, slices, **config.paired_test_options()
        )
        decision = decide_promotion(
            config.metric,
            test_metrics,
            comparison.production_metrics,
            baseline_metrics or None,
            config.min_improvement,
            comparison.test,
            baseline_rule=config.baseline_rule,
            baseline_test=baseline_test,
        )
        evidence = comparison.as_dict()
    else:
        decision = decide_promotion(
            config.metric,
            test_metrics,
            None,
            baseline_metrics or None,
            config.min_improvement,
            baseline_rule=config.baseline_rule,
            baseline_test=baseline_test,
        )
        own = per_class_metrics(encode_labels(truth, labels), encode_labels(candidate, labels), labels)
        evidence = {
            "test": None,
            "per_class": {name: {"support": m["support"], "candidate_f1": m["f1"]} for name, m in own.items()},
            "slices": candidate_slices(truth, candidate, labels, slices),
        }
    if decision.promote:
        model.set_stage(config.stage, force=True)
    record = {
        **decision.as_dict(),
        "stage": config.stage,
        "candidate_version": model.number,
        "previous_version": production_version,
        "test_rows": len(test),
        "alpha": config.alpha,
        "baseline_rule": config.baseline_rule,
        "baseline_test": baseline_test.as_dict() if baseline_test is not None else None,
        **evidence,
    }
    log_metadata(metadata={"promotion": record}, infer_model=True)
    message = f"Model {model.name} version {model.version}: {decision.summary()}"
    logger.info(message)
    print(message)
    report = promotion_report_html(record, title=f"Promotion of {model.name} version {model.number}")
    return record, HTMLString(report)
