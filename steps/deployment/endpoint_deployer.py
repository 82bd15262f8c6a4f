"""Start a new model server for the served version; the previous one keeps serving until the smoke test."""

from __future__ import annotations

from typing import Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.enums import ServiceState
from zenml.logger import get_logger

import deployers
from arxiv_classifier.config import ServingConfig
from arxiv_classifier.constants import DEPLOYMENT
from deployers.deployments import DEPLOYER_STEP, active_model_deployer, base_url, current_deployments
from steps.deployment._common import label_space, label_space_change, served_artifact

logger = get_logger(__name__)


@step(enable_cache=False)
def endpoint_deployer(gate: dict[str, Any], serving: ServingConfig) -> Annotated[dict[str, Any], DEPLOYMENT]:
    """Deploy the served model version next to whatever is running; wait until it is ready.

    Args:
        gate: the gate's decision (only a decision to deploy gets here: the gate raises otherwise).
        serving: workers, limits, the readiness timeout and the request log (its place is recorded as
            `request_log_uri` in the deployment metadata; None when it is off).
    """
    if not gate.get("deploy"):
        raise deployers.DeploymentError("the gate did not allow deployment")
    context = get_step_context()
    model = context.model
    deployer = active_model_deployer()
    deployments = current_deployments(deployer, model.name)
    previous = [s for s in deployments if s.is_running]
    for dead in (s for s in deployments if not s.is_running and s.admin_state == ServiceState.ACTIVE):
        logger.warning(
            "The deployment %s of %s version %s should be serving but its server is not running (its process "
            "is gone); deploying version %s anyway. `zenml model-deployer models delete %s` removes the record.",
            dead.uuid,
            model.name,
            getattr(dead.config, "model_version", "?"),
            model.number,
            dead.uuid,
        )
    serving = deployers.with_request_log_uri(serving, model.name)  # recorded below, so the monitor finds it
    artifact, choice = served_artifact(model, serving)
    logger.info(
        "Starting a model server for %s version %s, format %s: %s", model.name, model.number, *choice.as_dict().values()
    )
    service = deployers.deploy_new_server(
        deployer,
        artifact.uri,
        deployers.ModelIdentity(name=model.name, version=str(model.number), id=str(model.id), format=choice.format),
        serving,
        deployers.RunContext(
            pipeline_name=context.pipeline.name, step_name=DEPLOYER_STEP, run_name=context.pipeline_run.name
        ),
    )
    info = {
        "service_id": str(service.uuid),
        "url": base_url(service),
        "prediction_url": service.prediction_url,
        "metrics_url": getattr(service, "metrics_url", None),
        "model_name": model.name,
        "model_version": str(model.number),
        "previous_service_ids": [str(s.uuid) for s in previous],
        "format": choice.format,
        "format_reason": choice.reason,
        "artifact_uri": artifact.uri,
        "max_batch": serving.max_batch,
        "top_k": serving.top_k,
        "request_log_uri": serving.request_log_uri if serving.request_log else None,
        "labels": label_space(model),
    }
    versions = [getattr(s.config, "model_version", None) for s in previous]  # newest first
    replaced = next((v for v in versions if v and str(v) != str(model.number)), None)
    change = label_space_change(model, replaced)
    if change is not None:
        info["label_space_change"] = change
        if change["added"] or change["dropped"]:
            logger.warning(
                "Version %s answers other categories than version %s, which it replaces: adds %s, drops %s "
                "(papers of a dropped category now get their nearest known one).",
                model.number,
                change["previous_version"],
                change["added"] or "none",
                change["dropped"] or "none",
            )
    log_metadata(metadata={"deployment": {**info, "status": "started, smoke test pending"}}, infer_model=True)
    logger.info("Model server ready at %s (previous still serving: %s)", info["url"], info["previous_service_ids"])
    return info
