"""Evidently drift check of incoming papers against the model version's own newest papers (its validation split)."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger
from zenml.types import HTMLString

from arxiv_classifier.config import DriftConfig, resolve_papers_source
from arxiv_classifier.constants import COL_DATE, COL_TEXT, DRIFT_REPORT, DRIFT_RESULT, DRIFT_SUMMARY
from steps.deployment._common import classifier_artifact, training_dataset

logger = get_logger(__name__)


def _side(papers: pd.DataFrame, name: str) -> dict[str, Any]:
    """What one side of the check holds: its name, rows and (dated papers) the span of their dates."""
    side: dict[str, Any] = {"papers": name, "rows": len(papers)}
    if COL_DATE in papers.columns and papers[COL_DATE].notna().any():
        dates = pd.to_datetime(papers[COL_DATE])
        side["from"], side["to"] = f"{dates.min():%Y-%m-%d}", f"{dates.max():%Y-%m-%d}"
    return side


@step(enable_cache=False)
def drift_checker(
    config: DriftConfig, current: pd.DataFrame | None = None
) -> tuple[
    Annotated[dict[str, Any], DRIFT_RESULT],
    Annotated[HTMLString, DRIFT_REPORT],
    Annotated[HTMLString, DRIFT_SUMMARY],
]:
    """Compare incoming papers with the model version's `config.reference_split`; never raises.

    Any error while checking becomes a failed result (fail closed): the gate step decides. The
    verdict is recorded on the model version as `drift_check` metadata.

    Args:
        config: thresholds and the incoming-papers source (read here unless `current` is given).
        current: already-loaded incoming papers (batch inference passes the papers it scores).
    """
    from arxiv_classifier import drift
    from arxiv_classifier.drift_result import failed_check_result
    from arxiv_classifier.papers import load_papers, sample_rows

    model = get_step_context().model
    sides: dict[str, dict[str, Any]] = {}
    report_html = "<p>No Evidently report: the drift check failed before producing one (see the summary).</p>"
    try:
        classifier = classifier_artifact(model).load()
        reference = drift.reference_sample(training_dataset(model), config)
        if current is None:
            current = load_papers(resolve_papers_source(config.current), classifier.labels)
        current = sample_rows(current, config.current.max_rows, config.current.seed)
        sides = {"reference": _side(reference, config.reference_split), "current": _side(current, "incoming")}
        logger.info(
            "Drift check: %d reference papers (%s) vs %d incoming papers (%s)",
            len(reference),
            sides["reference"],
            len(current),
            sides["current"],
        )
        ref_features, _, ref_emb = drift.model_features(classifier, reference[COL_TEXT].tolist(), config.batch_size)
        cur_features, _, cur_emb = drift.model_features(classifier, current[COL_TEXT].tolist(), config.batch_size)
        result, report_html = drift.run_drift_check(
            ref_features, ref_emb, cur_features, cur_emb, config, window=drift.token_window(classifier)
        )
    except Exception as exc:  # fail closed: an error in the check is a failed check, recorded as such
        logger.exception("The drift check failed")
        result = failed_check_result(f"{type(exc).__name__}: {exc}", config)
    record = result.as_dict()
    if sides:
        record["papers"] = sides
    log_metadata(metadata={"drift_check": record}, infer_model=True)
    if result.blocked:
        logger.warning("Drift check %s: %s", result.status, result.verdict())
    else:
        logger.info("Drift check %s: %s", result.status, result.verdict())
    return record, HTMLString(report_html), HTMLString(result.summary_html())
