"""The monitoring pipeline on a Vertex schedule, compiled offline and stopped at the upload.

As tests/stacks/test_vertex_compile.py: the Vertex orchestrator compiles the pipeline to a KFP spec
and then uploads it with the schedule (`PipelineJob.create_schedule(cron=...)`); the test captures
both at the upload and submits nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.stacks.gcp_fakes import active_stack_restored, gcp_environment

IMAGE = "europe-west4-docker.pkg.dev/arxiv-test-project/zenml/arxiv-classifier:compile-test"
CRON = "0 6 * * *"
MONITORING_STEPS = {
    "monitored_papers_loader",
    "drift_checker",
    "decay_evaluator",
    "monitor_reporter",
    "model_history_reporter",
}


class Uploaded(Exception):
    """Raised where the orchestrator would upload the compiled pipeline and its schedule to Vertex AI."""


@pytest.fixture(scope="module")
def scheduled() -> Iterator[dict[str, Any]]:
    from zenml.config import DockerSettings
    from zenml.integrations.gcp.orchestrators.vertex_orchestrator import VertexOrchestrator
    from zenml.stack import Stack

    from arxiv_classifier.config import MonitorRunConfig, load_config, resolve_sources
    from pipelines import monitoring_pipeline
    from pipelines.loop import schedule
    from stacks.registry import ensure_stack

    captured: dict[str, Any] = {}

    def upload(self: VertexOrchestrator, pipeline_file_path: str, **kwargs: Any) -> None:
        captured["spec"] = json.loads(Path(pipeline_file_path).read_text())
        captured["schedule"] = kwargs.get("schedule")
        raise Uploaded

    with pytest.MonkeyPatch.context() as mp, gcp_environment(mp) as settings, active_stack_restored():
        ensure_stack("gcp", activate=True, variables=settings)
        mp.setattr(VertexOrchestrator, "_upload_and_run_pipeline", upload)
        mp.setattr(Stack, "requires_remote_server", property(lambda self: False))
        mp.setenv("ZENML_DISABLE_PIPELINE_LOGS_STORAGE", "true")
        config = resolve_sources(
            load_config(REPO_ROOT / "configs" / "monitor.yaml", {"monitor.schedule_cron": CRON}, MonitorRunConfig)
        )
        docker = DockerSettings(
            skip_build=True,
            parent_image=IMAGE,
            allow_download_from_code_repository=False,
            allow_download_from_artifact_store=False,
        )
        # `schedule` refuses the local orchestrator (tests/unit/test_monitoring.py); Vertex has schedules.
        pipe = monitoring_pipeline.with_options(settings={"docker": docker}, schedule=schedule(config, None))
        with pytest.raises(Uploaded):
            pipe(config=config)
    yield captured


@pytest.mark.slow
def test_the_compiled_spec_has_the_monitoring_steps_in_order(scheduled: dict[str, Any]) -> None:
    spec = scheduled["spec"]
    tasks = {task["taskInfo"]["name"]: task for task in spec["root"]["dag"]["tasks"].values()}
    assert set(tasks) == MONITORING_STEPS
    step_of = {key: task["taskInfo"]["name"] for key, task in spec["root"]["dag"]["tasks"].items()}

    def upstream(step: str) -> set[str]:
        return {step_of[key] for key in tasks[step].get("dependentTasks", [])}

    assert upstream("drift_checker") == {"monitored_papers_loader"}
    assert upstream("decay_evaluator") == {"monitored_papers_loader"}
    assert upstream("monitor_reporter") == {"monitored_papers_loader", "drift_checker", "decay_evaluator"}
    assert upstream("model_history_reporter") == {"monitor_reporter"}


@pytest.mark.slow
def test_the_schedule_request_carries_the_cron_line(scheduled: dict[str, Any]) -> None:
    sent = scheduled["schedule"]
    assert sent is not None and sent.cron_expression == CRON
    assert sent.name.endswith("-monitor")
