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
    previous = [s for s in current_deployments(deployer, model.name) if s.is_running]
    artifact = classifier_artifact(model)
    model_dir = os.path.join(artifact.uri, MODEL_DIR)
    logger.info("Starting a model server for %s version %s ...", model.name, model.number)
    if isinstance(deployer, LocalSeldonModelDeployer):
        service = _deploy_local(deployer, model, model_dir, serving, context)
    elif deployer.flavor == "seldon":
        service = _deploy_seldon_core(deployer, model, model_dir, serving, context)
    else:
        raise DeploymentError(
            f"model deployer flavor '{deployer.flavor}' is not supported by this step: use 'local_seldon' "
            "(the local stack) or 'seldon' (Seldon Core, the gcp stack)"
        )
    info = {
        "service_id": str(service.uuid),
        "url": _base_url(service),
        "prediction_url": service.prediction_url,
        "metrics_url": getattr(service, "metrics_url", None),
        "model_name": model.name,
        "model_version": str(model.number),
        "previous_service_ids": [str(s.uuid) for s in previous],
        "max_batch": serving.max_batch,
        "top_k": serving.top_k,
    }
    log_metadata(metadata={"deployment": {**info, "status": "started, smoke test pending"}}, infer_model=True)
    logger.info("Model server ready at %s (previous still serving: %s)", info["url"], info["previous_service_ids"])
    return info


def _base_url(service: Any) -> str | None:
    """The protocol-v1 base URL (what `/api/v1.0/predictions` and `/health/status` hang off)."""
    base = getattr(service, "base_url", None)
    if base:
        return str(base)
    url = service.prediction_url  # Seldon Core: <ingress>/seldon/<namespace>/<name>/api/v0.1/predictions
    return str(url).rsplit("/api/", 1)[0] if url else None


def _deploy_local(deployer: Any, model: Any, model_dir: str, serving: ServingConfig, context: Any) -> Any:
    config = deployer.deployment_config(
        model_dir=model_dir,
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
        quantize=serving.quantize,
    )
    return deployer.deploy_new(config, timeout=serving.ready_timeout)


def _deploy_seldon_core(deployer: Any, model: Any, model_dir: str, serving: ServingConfig, context: Any) -> Any:
    """Seldon Core on Kubernetes: our serving image as a custom SeldonDeployment; its init container
    copies the model directory from the (GCS) artifact store to /mnt/models."""
    from zenml.integrations.seldon.services import SeldonDeploymentService

    from deployers.seldon_gke import seldon_deployment_config, seldon_deployment_spec

    if not serving.image:
        raise DeploymentError(
            "serving.image is not set: build and push the serving image (see the README's GCP guide) and put "
            "its name in the deploy config, e.g. REGION-docker.pkg.dev/PROJECT/REPO/arxiv-serving:TAG"
        )
    if not model_dir.startswith(("gs://", "s3://")):
        raise DeploymentError(
            f"the model directory {model_dir} is not in a bucket Seldon's storage initializer can read; "
            "run the training pipeline on a stack with a GCS artifact store"
        )
    name = f"{model.name}-v{model.number}"
    spec = seldon_deployment_spec(
        name=name,
        image=serving.image,
        model_uri=model_dir,
        model_name=model.name,
        model_version=str(model.number),
        replicas=serving.replicas,
        resources=serving.resources,
        max_batch=serving.max_batch,
        top_k=serving.top_k,
        torch_threads=serving.torch_threads,
        workers=serving.workers,
        threads=serving.threads,
        service_account=serving.service_account,
        storage_secret=serving.storage_secret,
        quantize=serving.quantize,
    )
    config = seldon_deployment_config(
        spec,
        pipeline_name=context.pipeline.name,
        pipeline_step_name=DEPLOYER_STEP,
        deployed_by_run=context.pipeline_run.name,
        service_name=name,
    )
    return deployer.deploy_model(
        config, service_type=SeldonDeploymentService.SERVICE_TYPE, replace=False, timeout=serving.ready_timeout
    )
