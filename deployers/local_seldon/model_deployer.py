"""The local Seldon model deployer: starts, stops and deletes local microservice deployments."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import ClassVar, cast
from uuid import UUID

from zenml.config.global_config import GlobalConfiguration
from zenml.logger import get_logger
from zenml.model_deployers import BaseModelDeployer
from zenml.services import BaseService, ServiceConfig
from zenml.services.service import BaseDeploymentService

from deployers.local_seldon.flavor import LocalSeldonModelDeployerConfig, LocalSeldonModelDeployerFlavor
from deployers.local_seldon.service import LocalSeldonDeploymentConfig, LocalSeldonDeploymentService
from deployers.serving_env import DEFAULT_SERVING_VENV, ensure_serving_env

logger = get_logger(__name__)

DEFAULT_TIMEOUT = 300


class LocalSeldonModelDeployer(BaseModelDeployer):
    """Deploys model directories to local `seldon-core-microservice` daemons (one per deployment)."""

    NAME: ClassVar[str] = "LocalSeldon"
    FLAVOR: ClassVar[type[LocalSeldonModelDeployerFlavor]] = LocalSeldonModelDeployerFlavor

    @property
    def config(self) -> LocalSeldonModelDeployerConfig:
        return cast(LocalSeldonModelDeployerConfig, self._config)

    @property
    def local_path(self) -> str:
        """Runtime files (config, PID, log) of this component's deployments."""
        return os.path.join(GlobalConfiguration().local_stores_path, str(self.id))

    @property
    def serving_venv(self) -> Path:
        return Path(self.config.serving_venv) if self.config.serving_venv else DEFAULT_SERVING_VENV

    def deployment_config(self, **settings: object) -> LocalSeldonDeploymentConfig:
        """A service config for this deployer: creates the serving environment on first use."""
        python = ensure_serving_env(self.serving_venv)
        return LocalSeldonDeploymentConfig(
            serving_python=str(python),
            host=self.config.host,
            root_runtime_path=self.local_path,
            **settings,  # type: ignore[arg-type]
        )

    def deploy_new(
        self, config: LocalSeldonDeploymentConfig, timeout: int = DEFAULT_TIMEOUT
    ) -> LocalSeldonDeploymentService:
        """Always start a new server (registered as a ZenML service) next to the running ones.

        `deploy_model` would hand back an existing service whose config merely looks the same (its
        store-side filter ignores most fields), which defeats start-new-then-retire-old.
        """
        from zenml.client import Client
        from zenml.model_deployers.base_model_deployer import get_model_version_id_if_exists

        client = Client()
        record = client.create_service(
            config=config,
            service_type=LocalSeldonDeploymentService.SERVICE_TYPE,
            model_version_id=get_model_version_id_if_exists(config.model_name, config.model_version),
        )
        try:
            service = cast(LocalSeldonDeploymentService, self.perform_deploy_model(record.id, config, timeout))
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
        return service

    def perform_deploy_model(self, id: UUID, config: ServiceConfig, timeout: int = DEFAULT_TIMEOUT) -> BaseService:
        """Start a NEW daemon for this config; existing deployments are left running.

        Replacing a deployment (start new, check it, then stop the old) is the deployment step's job,
        so that users are never left without a server.
        """
        cfg = cast(LocalSeldonDeploymentConfig, config)
        model_dir = Path(cfg.model_dir)
        if not (model_dir / "classifier.json").is_file():
            raise FileNotFoundError(f"{model_dir} is not a classifier directory (no classifier.json)")
        cfg.root_runtime_path = self.local_path
        service = LocalSeldonDeploymentService(uuid=id, config=cfg)
        service.start(timeout=0)
        self.wait_until_ready(service, timeout)
        return service

    def wait_until_ready(self, service: LocalSeldonDeploymentService, timeout: int) -> None:
        """Wait for /health/status; fail fast (with the server's log) if the daemon dies while loading."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.is_running and service.answers_as_itself():
                return
            if service.status.pid is None:
                time.sleep(1)  # the launcher may not have written its PID file yet
                if service.status.pid is None and not service.is_running:
                    raise RuntimeError(
                        f"the model server exited while starting. Last log lines:\n{self._tail(service)}"
                    )
            time.sleep(0.5)
        log = self._tail(service)
        service.stop(timeout=30, force=True)
        raise RuntimeError(f"the model server did not become ready within {timeout} s. Last log lines:\n{log}")

    @staticmethod
    def _tail(service: BaseService, lines: int = 25) -> str:
        try:
            return "\n".join(line.rstrip("\n") for line in service.get_logs(tail=lines))
        except Exception as exc:  # the log is a diagnosis aid; its absence must not hide the real error
            return f"(no log: {exc})"

    @staticmethod
    def get_model_server_info(service: BaseService) -> dict[str, str | None]:  # type: ignore[override]
        svc = cast(LocalSeldonDeploymentService, service)
        return {
            "PREDICTION_URL": svc.prediction_url,
            "BASE_URL": svc.base_url,
            "HEALTH_CHECK_URL": svc.get_healthcheck_url(),
            "METRICS_URL": svc.metrics_url,
            "MODEL_NAME": svc.config.model_name,
            "MODEL_VERSION": svc.config.model_version,
            "MODEL_DIR": svc.config.model_dir,
            "SERVICE_PATH": svc.status.runtime_path,
            "DAEMON_PID": str(svc.status.pid) if svc.status.pid else None,
            "LOG_FILE": svc.status.log_file,
        }

    def perform_stop_model(
        self, service: BaseService, timeout: int = DEFAULT_TIMEOUT, force: bool = False
    ) -> BaseService:
        service.stop(timeout=timeout, force=force)
        return service

    def perform_start_model(self, service: BaseService, timeout: int = DEFAULT_TIMEOUT) -> BaseService:
        service.start(timeout=0)
        self.wait_until_ready(cast(LocalSeldonDeploymentService, service), timeout)
        return service

    def perform_delete_model(self, service: BaseService, timeout: int = DEFAULT_TIMEOUT, force: bool = False) -> None:
        svc = cast(BaseDeploymentService, service)
        svc.stop(timeout=timeout, force=force)
        runtime = getattr(svc.status, "runtime_path", None)
        if runtime and os.path.isdir(runtime):
            shutil.rmtree(runtime, ignore_errors=True)
