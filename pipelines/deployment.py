"""Deployment pipeline: drift check -> gate (fail closed) -> new server -> smoke test (or rollback)."""

from __future__ import annotations

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
    return None
