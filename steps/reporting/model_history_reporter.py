"""Emit the model's history page: every version, its window, figures, stage, promotion, deployments, verdicts."""

from __future__ import annotations

from typing import Annotated, Any

from zenml import get_step_context, step
from zenml.client import Client
from zenml.logger import get_logger
from zenml.types import HTMLString

from arxiv_classifier.constants import MODEL_HISTORY, PREPARED_DATASET

logger = get_logger(__name__)

#: Most versions shown (newest first).
MAX_VERSIONS = 100


def _window(version: Any) -> dict[str, Any] | None:
    artifact = version.get_artifact(PREPARED_DATASET)
    window = artifact.run_metadata.get("data_window") if artifact is not None else None
    return dict(window) if isinstance(window, dict) else None


def collect_history(model_name: str) -> list[Any]:
    """The rows of `model_name`'s history from the Model Control Plane and its monitoring runs."""
    from arxiv_classifier.model_history import version_row
    from steps.monitoring.monitor_reporter import earlier_records

    verdicts: dict[int, list[dict[str, Any]]] = {}
    for record in earlier_records(model_name, exclude_run=""):
        verdicts.setdefault(int(record["model_version"]), []).append(record)
    versions = Client().list_model_versions(
        model_name_or_id=model_name, sort_by="desc:number", size=MAX_VERSIONS, hydrate=True
    )
    return [
        version_row(
            number=int(v.number),
            created=v.created.isoformat(),
            stage=str(getattr(v.stage, "value", v.stage)) if v.stage else None,
            metadata=v.run_metadata,
            window=_window(v),
            monitoring=verdicts.get(int(v.number), []),
        )
        for v in versions.items
    ]


@step(enable_cache=False)
def model_history_reporter(latest: dict[str, Any]) -> Annotated[HTMLString, MODEL_HISTORY]:
    """Render the history of the pipeline's model after this run's decision (`latest`, the step it follows)."""
    from arxiv_classifier.model_history import model_history_html

    model = get_step_context().model
    rows = collect_history(model.name)
    logger.info("Model history of %s: %d versions (this run: %s)", model.name, len(rows), sorted(latest)[:4])
    return HTMLString(model_history_html(model.name, rows))
