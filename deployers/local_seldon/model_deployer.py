"""The local Seldon model deployer: starts, stops and deletes local microservice deployments."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast
from uuid import UUID

from zenml.config.global_config import GlobalConfiguration
from zenml.logger import get_logger
from zenml.model_deployers import BaseModelDeployer
from zenml.services import BaseService, ServiceConfig
from zenml.services.service import BaseDeploymentService

from arxiv_classifier.localhost import wait_until
from deployers.interface import ModelIdentity, RunContext, start_new_service
from deployers.local_seldon.flavor import LocalSeldonModelDeployerConfig, LocalSeldonModelDeployerFlavor
from deployers.local_seldon.service import LocalSeldonDeploymentConfig, LocalSeldonDeploymentService
from deployers.serving_class import RequestLogSettings
from deployers.serving_env import DEFAULT_SERVING_VENV, ensure_serving_env

if TYPE_CHECKING:  # pragma: no cover
    from arxiv_classifier.config import ServingConfig

logger = get_logger(__name__)

DEFAULT_TIMEOUT = 300
#: Seconds the launcher may take to write its PID file before a missing PID means the server died.
PID_GRACE = 2.0


def _exited(service: LocalSeldonDeploymentService) -> Callable[[], str | None]:
    """A `give_up` for `wait_until`: the server's process is gone (for longer than the launcher's start-up)."""
    missing_since: list[float] = []

    def check() -> str | None:
        if service.status.pid is not None or service.is_running:
            missing_since.clear()
            return None
        missing_since[:] = missing_since or [time.monotonic()]
        if time.monotonic() - missing_since[0] < PID_GRACE:
            return None
        return "the model server exited while starting"

    return check


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
        """Always start a new server (registered as a ZenML service) next to the running ones."""
        service = start_new_service(self, config, LocalSeldonDeploymentService.SERVICE_TYPE, timeout)
        return cast(LocalSeldonDeploymentService, service)

    def deploy_new_server(
        self, model_dir: str, model: ModelIdentity, serving: ServingConfig, run: RunContext, timeout: int
    ) -> LocalSeldonDeploymentService:
        """The deployer interface: a new local microservice for `model_dir`, ready when this returns.

        A model directory in a bucket (`gs://...`, the artifact store of the team or gcp stack) is copied
        to this deployer's disk first, as Seldon's storage initializer does on Kubernetes; the service's
        config records both (`model_uri`, `model_dir`), so a restart by the ZenML CLI finds the copy.
        """
        model_uri = ""
        if "://" in model_dir:
            model_uri, model_dir = model_dir, self._fetch_model(model_dir)
        config = self.deployment_config(
            model_dir=model_dir,
            model_uri=model_uri,
            model_name=model.name,
            model_version=model.version,
            model_version_id=model.id,
            service_name=model.service_name,
            pipeline_name=run.pipeline_name,
            pipeline_step_name=run.step_name,
            deployed_by_run=run.run_name,
            workers=serving.workers,
            threads=serving.threads,
            inference_threads=serving.inference_threads,
            max_batch=serving.max_batch,
            max_text_chars=serving.max_text_chars,
            max_request_bytes=serving.max_request_bytes,
            top_k=serving.top_k,
            format=model.format,
            request_log=RequestLogSettings.from_serving(serving),
        )
        return self.deploy_new(config, timeout=timeout)

    def retire_server(self, uuid: UUID, timeout: int) -> str:
        """Stop the server but keep it registered, for a manual rollback (`zenml model-deployer models start`)."""
        self.stop_model_server(uuid, timeout=timeout)
        return "stopped"

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

    def _model_copy_dir(self, model_uri: str) -> Path:
        """Where the copy of a model directory in a bucket lives (one per artifact URI: artifacts are immutable)."""
        return Path(self.local_path) / "models" / hashlib.sha256(model_uri.encode()).hexdigest()[:16]

    def _fetch_model(self, model_uri: str) -> str:
        """Copy a model directory from the artifact store (a bucket) to this deployer's disk, once; return the copy."""
        from zenml.io import fileio
        from zenml.utils import io_utils

        target = self._model_copy_dir(model_uri)
        if (target / "classifier.json").is_file():
            logger.info("Serving the copy of %s made earlier: %s", model_uri, target)
            return str(target)
        if not fileio.exists(f"{model_uri.rstrip('/')}/classifier.json"):
            raise FileNotFoundError(f"{model_uri} is not a classifier directory (no classifier.json)")
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        started = time.monotonic()
        io_utils.copy_dir(model_uri, str(partial), overwrite=True)
        partial.rename(target)  # whole or not at all: a copy cut short is never served
        size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        logger.info("Fetched %s (%.1f MB) to %s in %.1f s", model_uri, size / 1e6, target, time.monotonic() - started)
        return str(target)

    def wait_until_ready(self, service: LocalSeldonDeploymentService, timeout: int) -> None:
        """Wait for /health/status; fail fast (with the server's log) if the daemon dies while loading.

        Raises:
            RuntimeError: the server exited, or was not ready in time (it is then stopped).
        """
        try:
            wait_until(
                lambda: service.is_running and service.answers_as_itself(),
                timeout,
                f"the model server at {service.base_url}",
                interval=0.5,
                give_up=_exited(service),
            )
        except TimeoutError as exc:
            log = self._tail(service)
            if service.status.pid is not None:
                service.stop(timeout=30, force=True)
            raise RuntimeError(f"{exc}. Last log lines:\n{log}") from None

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
            "MODEL_URI": svc.config.model_uri or None,
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
        model_uri = getattr(svc.config, "model_uri", "")
        if model_uri and not any(
            getattr(other.config, "model_uri", "") == model_uri
            for other in self.find_model_server()
            if other.uuid != svc.uuid
        ):
            shutil.rmtree(self._model_copy_dir(model_uri), ignore_errors=True)  # no other deployment serves it
