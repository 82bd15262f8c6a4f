"""The one deployer interface the deployment pipeline uses, whatever model deployer the stack has.

Each model deployer the project ships offers `deploy_new_server` (start a NEW server for a model
directory next to whatever runs, wait until it is ready) and `retire_server` (take an old one out of
service after the new one passed its smoke test). The local Seldon deployer implements them itself;
ZenML's own Seldon Core deployer (the gcp stack) gets an adapter. `for_deployer` picks one by the
stack component's flavor, so the deployment steps never branch on the deployer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from deployers.errors import DeploymentError
from deployers.serving_class import with_request_log_uri

if TYPE_CHECKING:  # pragma: no cover
    from zenml.model_deployers import BaseModelDeployer
    from zenml.services import ServiceConfig, ServiceType
    from zenml.services.service import BaseDeploymentService

    from arxiv_classifier.config import ServingConfig


@dataclass(frozen=True)
class ModelIdentity:
    """The Model Control Plane version a server serves.

    Attributes:
        name: the ZenML Model's name.
        version: its version number, as text.
        id: the model version's UUID ('' when unknown), which links the service to the version.
        format: what the served directory holds (onnx-int8, onnx-fp32 or torch; '' when unknown).
    """

    name: str
    version: str
    id: str = ""
    format: str = ""

    @property
    def service_name(self) -> str:
        """The deployment's name (`arxiv-classifier-v7`)."""
        return f"{self.name}-v{self.version}"


@dataclass(frozen=True)
class RunContext:
    """The pipeline run that makes a deployment; recorded on the service, how later runs find it.

    Attributes:
        pipeline_name: the deployment pipeline's name.
        step_name: the step's name recorded on the service (`deployments.DEPLOYER_STEP`).
        run_name: the run's name (each run deploys anew; nothing is silently reused).
    """

    pipeline_name: str
    step_name: str
    run_name: str


class ServerDeployer(Protocol):
    """What the deployment steps need of a model deployer."""

    def deploy_new_server(
        self, model_dir: str, model: ModelIdentity, serving: ServingConfig, run: RunContext, timeout: int
    ) -> BaseDeploymentService:
        """Start a new server for `model_dir` next to the running ones; return once it is ready."""
        ...

    def retire_server(self, uuid: UUID, timeout: int) -> str:
        """Take a server out of service; return what was done ("stopped" or "deleted")."""
        ...


def _local_seldon(deployer: Any) -> ServerDeployer:
    return deployer  # type: ignore[no-any-return]  # LocalSeldonModelDeployer implements the protocol


def _seldon_core(deployer: Any) -> ServerDeployer:
    from deployers.seldon_gke.adapter import SeldonCoreServerDeployer

    return SeldonCoreServerDeployer(deployer)


#: Model deployer flavor -> the implementation of the interface for a component of that flavor.
IMPLEMENTATIONS: dict[str, Callable[[Any], ServerDeployer]] = {
    "local_seldon": _local_seldon,
    "seldon": _seldon_core,
}


def for_deployer(deployer: BaseModelDeployer) -> ServerDeployer:
    """The interface of the stack's model deployer, chosen by its flavor.

    Raises:
        DeploymentError: the deployer's flavor is not one the project ships.
    """
    make = IMPLEMENTATIONS.get(deployer.flavor)
    if make is None:
        raise DeploymentError(
            f"model deployer flavor '{deployer.flavor}' is not supported: use "
            f"{' or '.join(repr(f) for f in IMPLEMENTATIONS)} ('local_seldon' on the local stack, "
            "'seldon' for Seldon Core on the gcp stack)"
        )
    return make(deployer)


def model_dir_of(classifier_uri: str) -> str:
    """The self-describing model directory inside a classifier artifact, PyTorch or ONNX (where both
    materializers put it)."""
    from materializers.text_classifier_materializer import MODEL_DIR

    return os.path.join(classifier_uri, MODEL_DIR)


def deploy_new_server(
    deployer: BaseModelDeployer,
    classifier_uri: str,
    model: ModelIdentity,
    serving: ServingConfig,
    run: RunContext,
    timeout: int | None = None,
) -> BaseDeploymentService:
    """Start a new server for the classifier artifact at `classifier_uri` with the stack's deployer.

    Args:
        deployer: the active stack's model deployer.
        classifier_uri: the URI of the served artifact (the PyTorch classifier or an ONNX export; its model
            directory is served).
        model: the model version served.
        serving: workers, limits, image and the like; an unset `request_log_uri` becomes
            `<artifact store>/request_logs/<model name>` (`with_request_log_uri`).
        run: the pipeline run deploying it.
        timeout: seconds the server has to become ready (default: `serving.ready_timeout`).
    """
    implementation = for_deployer(deployer)
    serving = with_request_log_uri(serving, model.name)
    wait = serving.ready_timeout if timeout is None else timeout
    return implementation.deploy_new_server(model_dir_of(classifier_uri), model, serving, run, wait)


def start_new_service(
    deployer: BaseModelDeployer, config: ServiceConfig, service_type: ServiceType, timeout: int
) -> BaseDeploymentService:
    """Register a NEW service for `config` in the ZenML store and deploy it, whatever else runs.

    ZenML's `deploy_model(replace=False)` hands back an existing service whose config merely looks the
    same (its store-side filter ignores most fields); the deployment step would then smoke-test, and
    retire, the server it meant to replace.
    """
    from zenml.client import Client
    from zenml.model_deployers.base_model_deployer import get_model_version_id_if_exists

    client = Client()
    record = client.create_service(
        config=config,
        service_type=service_type,
        model_version_id=get_model_version_id_if_exists(config.model_name, config.model_version),
    )
    try:
        service = deployer.perform_deploy_model(record.id, config, timeout)
    except Exception:
        client.delete_service(record.id)
        raise
    client.update_service(
        id=service.uuid,
        name=service.config.service_name,
        service_source=service.model_dump().get("type"),
        admin_state=service.admin_state,
        status=service.status.model_dump(),
        endpoint=service.endpoint.model_dump() if service.endpoint else None,
        prediction_url=service.get_prediction_url(),
        health_check_url=service.get_healthcheck_url(),
    )
    return service  # type: ignore[return-value]
