"""Decide healthy / drifted / decayed; record it on the model version and render the checks over time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger
from zenml.types import HTMLString

from arxiv_classifier.config import MonitorConfig
from arxiv_classifier.constants import MONITORING_PIPELINE, MONITORING_REPORT, MONITORING_VERDICT
from arxiv_classifier.monitoring import ACTIONS_KEY, RECORD_KEY

logger = get_logger(__name__)

#: Earlier monitoring runs shown in the report's history.
HISTORY_RUNS = 50


def earlier_records(model_name: str, exclude_run: str, limit: int = HISTORY_RUNS) -> list[dict[str, Any]]:
    """The `monitoring` records of earlier monitoring runs of this model, with the retrained version if any."""
    runs = Client().list_pipeline_runs(
        pipeline_name=MONITORING_PIPELINE, sort_by="desc:created", size=limit, hydrate=True
    )
    records = []
    for run in runs.items:
        record = run.run_metadata.get(RECORD_KEY)
        if str(run.id) == exclude_run or not isinstance(record, dict) or record.get("model_name") != model_name:
            continue
        actions = run.run_metadata.get(ACTIONS_KEY)
        if isinstance(actions, dict):
            record = {**record, "retrained_version": actions.get("retrained_version")}
        records.append(record)
    return records


@step(enable_cache=False)
def monitor_reporter(
    drift_result: dict[str, Any], decay: dict[str, Any], window: dict[str, Any], config: MonitorConfig
) -> tuple[Annotated[dict[str, Any], MONITORING_VERDICT], Annotated[HTMLString, MONITORING_REPORT]]:
    """Apply the decision rule; log `monitoring` on the model version and the run; render the report.

    Args:
        drift_result: the drift check's record (the deployment gate's check).
        decay: the decay figures, `{}` when the papers had no labels.
        window: what was read (source, [since, until), rows, and why nothing was, if so).
        config: the thresholds.
    """
    from arxiv_classifier.monitoring import Decay, decide, report_html

    context = get_step_context()
    model = context.model
    decision = decide(drift_result, Decay.from_dict(decay) if decay else None, config)
    reasons = list(decision.reasons)
    if window.get("error"):
        reasons.insert(0, f"no papers to judge: {window['error']}")
    record: dict[str, Any] = {
        **decision.as_dict(),
        "reasons": reasons,
        "model_name": model.name,
        "model_version": model.number,
        "source": window.get("source"),
        "window": {k: window.get(k) for k in ("since", "until")},
        "as_of": window.get("as_of"),
        "rows": int(window.get("rows") or 0),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "drift": {k: drift_result.get(k) for k in ("status", "drifted_share", "drifted_checks", "error")},
        "decay": decay or None,
        "thresholds": config.model_dump(include={"max_accuracy_drop", "max_macro_f1_drop", "min_labelled"}),
        "run_id": str(context.pipeline_run.id),
    }
    log_metadata(metadata={RECORD_KEY: record}, infer_model=True)
    log_metadata(metadata={RECORD_KEY: record}, run_id_name_or_prefix=context.pipeline_run.id)
    history = earlier_records(model.name, exclude_run=str(context.pipeline_run.id))
    message = f"Monitoring {model.name} version {model.number}: {decision.verdict} ({'; '.join(reasons)})"
    (logger.warning if decision.triggers_retraining else logger.info)(message)
    return record, HTMLString(report_html(record, history))
