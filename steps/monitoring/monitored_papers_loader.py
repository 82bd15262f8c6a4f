"""The papers the monitor judges: what the production version served, or a batch of newly arrived papers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import pandas as pd
from zenml import get_step_context, step
from zenml.logger import get_logger

from arxiv_classifier.config import MonitorRunConfig, resolve_papers_source
from arxiv_classifier.constants import COL_DATE, COL_TEXT, MONITORED_PAPERS, MONITORING_WINDOW
from arxiv_classifier.data import DataError
from steps.deployment._common import training_dataset

logger = get_logger(__name__)


def _request_log_uri(model: Any) -> str:
    """Where the version's servers log: the deployment metadata's `request_log_uri`, else the default place."""
    from zenml.client import Client

    from arxiv_classifier.request_log import request_log_uri

    recorded = (model.run_metadata.get("deployment") or {}).get("request_log_uri")
    # A rollback record replaces the deployment record without the URI: the default place is where it was.
    return str(recorded or request_log_uri(Client().active_stack.artifact_store.path, model.name))


def _data_end(model: Any) -> date | None:
    """The day after the newest paper of the version's prepared dataset (None: the data is undated)."""
    dataset = training_dataset(model)
    if COL_DATE not in dataset.columns or dataset[COL_DATE].isna().all():
        return None
    newest = pd.to_datetime(dataset[COL_DATE]).max()
    return (newest.normalize() + timedelta(days=1)).date()


@step(enable_cache=False)
def monitored_papers_loader(
    config: MonitorRunConfig,
) -> tuple[Annotated[pd.DataFrame, MONITORED_PAPERS], Annotated[dict[str, Any], MONITORING_WINDOW]]:
    """Read the window's papers, sampled like the drift check samples (`drift.current.max_rows`, seed).

    Never raises for what the window holds: an empty log or window gives no papers and the reason, and
    the drift check then records that it could not run (the monitor says `inconclusive`).
    """
    from arxiv_classifier.monitoring import monitor_window, served_papers
    from arxiv_classifier.papers import load_papers, sample_rows
    from arxiv_classifier.request_log import read_request_log

    monitor, current = config.monitor, config.drift.current
    model = get_step_context().model
    today = datetime.now(UTC).date()
    dated = monitor.source == "served" or current.date_field is not None
    # arrived papers start after the version's data, unless the source picks its own newest months
    after_data = monitor.source == "arrived" and dated and monitor.since is None and not current.newest_months
    data_end = _data_end(model) if after_data else None
    window: dict[str, Any] = {
        "source": monitor.source,
        "since": None,
        "until": None,
        "as_of": (monitor.as_of or today).isoformat(),  # the monitor's date: a retraining's data.as_of
        "model_version": model.number,
        "error": None,
    }
    papers = pd.DataFrame(columns=["id", COL_TEXT])
    try:
        since, until = monitor_window(monitor, today, data_end)
        window["since"] = since.isoformat() if since and dated else None
        window["until"] = until.isoformat() if dated else None
        if monitor.source == "served":
            uri = _request_log_uri(model)
            window["request_log_uri"] = uri
            log = read_request_log(uri, since=since, until=until, model_version=model.number)
            window["logged_rows"] = len(log)
            papers = sample_rows(served_papers(log, current.text_fields), current.max_rows, current.seed)
            if papers.empty:
                raise DataError(
                    f"no request to version {model.number} is logged at {uri} in [{since}, {until}); deploy it "
                    "(`python run.py --pipeline deploy`) and send traffic, or read arrived papers "
                    "(--set monitor.source=arrived)"
                )
        else:
            source = resolve_papers_source(current)
            if current.date_field is not None:
                source = source.model_copy(update={"start": since, "end": until})
            window["papers_source"] = source.source
            papers = load_papers(source)
    except (DataError, ValueError) as exc:
        logger.warning("Monitoring has no papers to judge: %s", exc)
        window["error"] = str(exc)
    window["rows"] = len(papers)
    logger.info(
        "Monitoring %d %s papers of version %s (window %s .. %s)",
        len(papers),
        monitor.source,
        model.number,
        window["since"],
        window["until"],
    )
    return papers, window
