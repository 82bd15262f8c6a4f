"""Start a new model server for the served version; the previous one keeps serving until the smoke test."""

from __future__ import annotations

import os
from typing import Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from arxiv_classifier.config import ServingConfig
from arxiv_classifier.constants import DEPLOYMENT
from materializers.text_classifier_materializer import MODEL_DIR
from steps.deployment._common import DeploymentError, active_model_deployer, classifier_artifact

logger = get_logger(__name__)

#: Pipeline step name recorded on every deployment: how later runs find earlier deployments.
DEPLOYER_STEP = "endpoint_deployer"


def current_deployments(deployer: Any, model_name: str) -> list[Any]:
    """This model's deployments made by the deployment pipeline, newest first."""
    services = deployer.find_model_server(pipeline_step_name=DEPLOYER_STEP)
    return [s for s in services if s.config.model_name == model_name]


@step(enable_cache=False)
def endpoint_deployer(gate: dict[str, Any], serving: ServingConfig) -> Annotated[dict[str, Any], DEPLOYMENT]:
    """Deploy the served model version next to whatever is running; wait until it is ready.

    Args:
        gate: the gate's decision (only a decision to deploy gets here: the gate raises otherwise).
        serving: workers, limits and the readiness timeout.
    """
    if not gate.get("deploy"):
        raise DeploymentError("the gate did not allow deployment")
    from deployers.local_seldon.model_deployer import LocalSeldonModelDeployer

    context = get_step_context()
    model = context.model
    deployer = active_model_deployer()
    if not isinstance(deployer, LocalSeldonModelDeployer):
        raise DeploymentError(
            f"model deployer flavor '{deployer.flavor}' is not supported by this step yet; "
            "the local stack's 'local_seldon' deployer is"
        )
    previous = [s for s in current_deployments(deployer, model.name) if s.is_running]
    artifact = classifier_artifact(model)
    config = deployer.deployment_config(
        model_dir=os.path.join(artifact.uri, MODEL_DIR),
        model_name=model.name,
        model_version=str(model.number),
        model_version_id=str(model.id),
        service_name=f"{model.name}-v{model.number}",
        pipeline_name=context.pipeline.name,
        pipeline_step_name=DEPLOYER_STEP,
        deployed_by_run=context.pipeline_run.name,
        workers=serving.workers,
        threads=serving.threads,
        torch_threads=serving.torch_threads,
        max_batch=serving.max_batch,
        top_k=serving.top_k,
    )
    logger.info("Starting a model server for %s version %s ...", model.name, model.number)
    service = deployer.deploy_new(config, timeout=serving.ready_timeout)
    info = {
        "service_id": str(service.uuid),
        "url": service.base_url,
        "prediction_url": service.prediction_url,
        "metrics_url": service.metrics_url,
        "model_name": model.name,
        "model_version": str(model.number),
        "previous_service_ids": [str(s.uuid) for s in previous],
        "max_batch": serving.max_batch,
        "top_k": serving.top_k,
    }
    log_metadata(metadata={"deployment": {**info, "status": "started, smoke test pending"}}, infer_model=True)
    logger.info("Model server ready at %s (previous still serving: %s)", service.base_url, info["previous_service_ids"])
    return info
