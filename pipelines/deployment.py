"""Deployment pipeline: drift check -> gate (fail closed) -> new server -> smoke test (or rollback)."""

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
