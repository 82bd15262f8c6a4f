"""Deployment queries: the stack's model deployer, this model's deployments, the running endpoint.

Used by the deployment steps and by `run.py` (`--infer`, `--endpoint`); they work for every deployer
the project ships, since they only use ZenML's model-deployer API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deployers.errors import DeploymentError, NoRunningDeployment

if TYPE_CHECKING:  # pragma: no cover
    from zenml.model_deployers import BaseModelDeployer
    from zenml.services.service import BaseDeploymentService

__all__ = [
    "DEPLOYER_STEP",
    "DeploymentError",
    "NoRunningDeployment",
    "active_model_deployer",
    "base_url",
    "current_deployments",
    "running_endpoint",
    "served_version",
]

#: Pipeline step name recorded on every deployment: how later runs find earlier deployments.
DEPLOYER_STEP = "endpoint_deployer"


def active_model_deployer() -> BaseModelDeployer:
    """The active stack's model deployer.

    Raises:
        DeploymentError: the stack has none; the message says how to get one.
    """
    from zenml.client import Client

    client = Client()
    deployer = client.active_stack.model_deployer
    if deployer is None:
        raise DeploymentError(
            f"the active stack '{client.active_stack_model.name}' has no model deployer. Use the project's local "
            "stack (`python run.py --setup-stack local`) or add one: `zenml stack update -d <deployer>`"
        )
    return deployer


def current_deployments(deployer: BaseModelDeployer, model_name: str) -> list[BaseDeploymentService]:
    """This model's deployments made by the deployment pipeline, newest first."""
    # `find_model_server` lists by creation time, newest first.
    services = deployer.find_model_server(pipeline_step_name=DEPLOYER_STEP)
    return [s for s in services if s.config.model_name == model_name]  # type: ignore[misc]


def base_url(service: Any) -> str | None:
    """The protocol-v1 base URL of a deployment (what `/api/v1.0/predictions` and `/health/status` hang off)."""
    base = getattr(service, "base_url", None)
    if base:
        return str(base)
    url = service.prediction_url  # Seldon Core: <ingress>/seldon/<namespace>/<name>/api/v0.1/predictions
    return str(url).rsplit("/api/", 1)[0] if url else None


def served_version(model_name: str) -> int | None:
    """The version the newest running deployment of `model_name` answers with.

    None when none runs or the active stack has no model deployer. After a deployment the gate blocked
    (or a smoke test rolled back), this is the older version, still serving; not the `production` one.
    """
    from zenml.client import Client

    deployer = Client().active_stack.model_deployer
    if deployer is None:
        return None
    for service in current_deployments(deployer, model_name):
        version = getattr(service.config, "model_version", None)
        if service.is_running and version and str(version).isdigit():
            return int(version)
    return None


def running_endpoint(model_name: str) -> str:
    """Base URL of the newest running deployment of `model_name`.

    Raises:
        DeploymentError: the active stack has no model deployer.
        NoRunningDeployment: nothing of this model runs; the message says how to deploy or start one.
    """
    deployer = active_model_deployer()
    services = current_deployments(deployer, model_name)
    for service in services:
        url = base_url(service) if service.is_running else None
        if url:
            return url
    if services:  # newest first: the one to bring back
        from zenml.enums import ServiceState

        newest = services[0]
        version = getattr(newest.config, "model_version", "?")
        how = "was stopped" if newest.admin_state != ServiceState.ACTIVE else "is not running (its process is gone)"
        raise NoRunningDeployment(
            f"no running deployment of '{model_name}': the newest one, {newest.uuid} (version {version}), {how}. "
            f"Start it again with `zenml model-deployer models start {newest.uuid}`, or deploy anew with "
            "`python run.py --pipeline deploy`"
        )
    raise NoRunningDeployment(
        f"no running deployment of '{model_name}'. Deploy with `python run.py --pipeline deploy`, or start "
        "a stopped one: `zenml model-deployer models list` then `zenml model-deployer models start <UUID>`"
    )
