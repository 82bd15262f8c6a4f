"""Flavor and configuration of the local Seldon model deployer (the stack component's settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zenml.model_deployers.base_model_deployer import BaseModelDeployerConfig, BaseModelDeployerFlavor

if TYPE_CHECKING:
    from deployers.local_seldon.model_deployer import LocalSeldonModelDeployer

LOCAL_SELDON_FLAVOR = "local_seldon"


class LocalSeldonModelDeployerConfig(BaseModelDeployerConfig):
    """Settings of the local Seldon model deployer.

    Attributes:
        serving_venv: the serving virtualenv (created from serving/requirements.lock on first use);
            empty means `.venv-serving` in the project.
        host: the address the microservice binds; loopback keeps it off the network.
    """

    serving_venv: str = ""
    host: str = "127.0.0.1"


class LocalSeldonModelDeployerFlavor(BaseModelDeployerFlavor):
    """Runs `seldon-core-microservice` with the project's serving class as a local daemon."""

    @property
    def name(self) -> str:
        return LOCAL_SELDON_FLAVOR

    @property
    def docs_url(self) -> str | None:
        return None

    @property
    def sdk_docs_url(self) -> str | None:
        return None

    @property
    def logo_url(self) -> str:
        return "https://public-flavor-logos.s3.eu-central-1.amazonaws.com/model_deployer/seldon.png"

    @property
    def config_class(self) -> type[LocalSeldonModelDeployerConfig]:
        return LocalSeldonModelDeployerConfig

    @property
    def implementation_class(self) -> type[LocalSeldonModelDeployer]:
        from deployers.local_seldon.model_deployer import LocalSeldonModelDeployer

        return LocalSeldonModelDeployer
