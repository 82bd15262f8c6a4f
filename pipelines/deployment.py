"""Deployment pipeline: drift check -> gate (fail closed) -> new server -> smoke test (or rollback)."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from arxiv_classifier.config import DeployRunConfig
from steps import deployment_gate, drift_checker, endpoint_deployer, smoke_tester


@pipeline(enable_cache=False)
def deployment_pipeline(config: DeployRunConfig) -> None:
    """Deploy the pipeline model's version (the `production` one, pinned when the run starts).

    Args:
        config: the validated deployment configuration.
    """
    drift_result, _report, _summary = drift_checker(config=config.drift)
    gate = deployment_gate(drift_result=drift_result, override_reason=config.drift.override_reason)
    deployment = endpoint_deployer(gate=gate, serving=config.serving)
    smoke_tester(deployment=deployment, serving=config.serving)


def deployment_failure(exc: BaseException) -> str | None:
    """The gate / smoke-test / deployer message behind a failed deployment run (None: another failure).

    Matched by exception type along the cause chain: ZenML wraps what a step raised.
    """
    from deployers.errors import DeploymentError
    from steps.deployment.deployment_gate import DeploymentBlocked
    from steps.deployment.smoke_tester import SmokeTestFailed

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DeploymentBlocked | SmokeTestFailed | DeploymentError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    # ZenML's own error for a run whose step failed names the step only: read what the step recorded.
    return recorded_failure() if "failure in step" in str(exc) else None


def recorded_failure(run_id: Any = None) -> str | None:
    """The message the failed step of a deployment run recorded (default: the newest run), else None.

    A step that raises on the local orchestrator reaches the caller as ZenML's "failure in step(s)"
    error, without the step's exception: the gate and the smoke test record their message on their
    step run (`FAILURE_KEY`) before raising, so the launcher can say what failed and what to do.
    """
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from arxiv_classifier.constants import FAILURE_KEY

    client = Client()
    try:
        run = client.get_pipeline_run(run_id) if run_id else client.get_pipeline("deployment_pipeline").last_run
    except KeyError:
        return None
    for step in run.steps.values():
        if step.status == ExecutionStatus.FAILED and step.run_metadata.get(FAILURE_KEY):
            return str(step.run_metadata[FAILURE_KEY])
    return None
