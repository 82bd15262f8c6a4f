"""One local deployment: a `seldon-core-microservice` daemon serving one model directory.

The daemon runs from the serving virtualenv through `serving/launch_local.py`, which binds loopback
(Seldon itself always binds 0.0.0.0) and detaches; ZenML tracks it by its PID file and health URL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psutil
from pydantic import Field
from zenml.logger import get_logger
from zenml.models.v2.misc.service import ServiceType
from zenml.services import (
    HTTPEndpointHealthMonitor,
    HTTPEndpointHealthMonitorConfig,
    LocalDaemonService,
    LocalDaemonServiceConfig,
    LocalDaemonServiceEndpoint,
    LocalDaemonServiceEndpointConfig,
    ServiceEndpointProtocol,
)
from zenml.services.local.local_service import LocalDaemonServiceStatus
from zenml.services.local.local_service_endpoint import LocalDaemonServiceEndpointStatus
from zenml.services.service import BaseDeploymentService
from zenml.utils.networking_utils import port_available, scan_for_available_port

from arxiv_classifier.localhost import kill_process_tree
from deployers.serving_class import SERVING_CLASS, RequestLogSettings, seldon_parameters
from deployers.serving_env import SERVING_DIR

logger = get_logger(__name__)

PREDICTION_PATH = "api/v1.0/predictions"
HEALTH_PATH = "health/status"
METRICS_PATH = "metrics"
#: Seconds a stopping server has to finish its requests before what is left of it is killed.
STOP_TIMEOUT = 20


class LocalSeldonDeploymentConfig(LocalDaemonServiceConfig):
    """What one deployment serves and how.

    Attributes:
        model_dir: the self-describing model directory (model + tokenizer + classifier.json), on this machine.
        model_uri: the artifact store's model directory when it is remote (then copied to model_dir).
        model_name / model_version: the Model Control Plane version served (answered with each prediction).
        serving_python: the serving virtualenv's python.
        host: bind address (loopback).
        workers / threads / inference_threads / max_batch / top_k: microservice settings.
        request_log: where and within which bounds the server logs what it serves.
    """

    model_dir: str
    #: Where the model came from when the artifact store is a bucket (`gs://...`); model_dir is then the
    #: deployer's local copy of it, fetched at deployment as Seldon's storage initializer does on Kubernetes.
    model_uri: str = ""
    model_name: str = ""
    model_version: str = ""
    model_version_id: str = ""
    serving_python: str
    host: str = "127.0.0.1"
    workers: int = 1
    threads: int = 1
    inference_threads: int | None = None
    #: What model_dir holds: onnx-int8, onnx-fp32 or torch (recorded; the server reads it from classifier.json).
    format: str = ""
    max_batch: int = 64
    top_k: int = 3
    #: Request limits; None: the serving class's defaults (deployments made before they existed).
    max_text_chars: int | None = None
    max_request_bytes: int | None = None
    request_log: RequestLogSettings | None = None
    #: The pipeline run that made this deployment (each run deploys anew; nothing is silently reused).
    deployed_by_run: str = ""

    def launch_command(
        self, port: int, metrics_port: int, pid_file: str, log_file: str, deployment_id: str = ""
    ) -> tuple[list[str], dict[str, str]]:
        """The daemon command (serving venv's python + loopback launcher + Seldon's arguments) and its env."""
        params = self.seldon_parameters()
        if deployment_id:
            params.append({"name": "deployment_id", "value": deployment_id, "type": "STRING"})
        command = [
            self.serving_python,
            str(SERVING_DIR / "launch_local.py"),
            "--host",
            self.host,
            "--pid-file",
            pid_file,
            "--log-file",
            log_file,
            "--daemon",
            "--",
            SERVING_CLASS,
            "--service-type",
            "MODEL",
            "--http-port",
            str(port),
            "--metrics-port",
            str(metrics_port),
            "--grpc-workers",
            "0",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--parameters",
            json.dumps(params),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "PYTHONPATH"))}
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
        env["PYTHONPATH"] = str(SERVING_DIR)
        return command, env

    def seldon_parameters(self) -> list[dict[str, str]]:
        """The serving class's parameters for this deployment."""
        return seldon_parameters(
            model_dir=self.model_dir,
            model_name=self.model_name,
            model_version=self.model_version,
            max_batch=self.max_batch,
            top_k=self.top_k,
            inference_threads=self.inference_threads,
            request_log=self.request_log,
            max_text_chars=self.max_text_chars,
            max_request_bytes=self.max_request_bytes,
        )


class LocalSeldonEndpointStatus(LocalDaemonServiceEndpointStatus):
    """Endpoint status plus the Prometheus metrics port picked at start."""

    metrics_port: int | None = None


class LocalSeldonEndpoint(LocalDaemonServiceEndpoint):
    """The REST endpoint (protocol v1) and the metrics port of a local deployment."""

    status: LocalSeldonEndpointStatus = Field(default_factory=LocalSeldonEndpointStatus)
    monitor: HTTPEndpointHealthMonitor  # type: ignore[assignment]

    def prepare_for_start(self) -> None:
        super().prepare_for_start()
        metrics = self.status.metrics_port
        if not metrics or metrics == self.status.port or not port_available(metrics, self.config.ip_address):
            metrics = scan_for_available_port(start=(self.status.port or 8000) + 1)
        self.status.metrics_port = metrics

    @property
    def base_url(self) -> str | None:
        return self.status.uri.rstrip("/") if self.status.uri else None

    @property
    def metrics_url(self) -> str | None:
        if not self.status.metrics_port:
            return None
        return f"http://{self.status.hostname}:{self.status.metrics_port}/{METRICS_PATH}"


class LocalSeldonServiceStatus(LocalDaemonServiceStatus):
    """Daemon status whose PID check knows our launcher (ZenML's expects its own entry point)."""

    @property
    def pid(self) -> int | None:
        from zenml.utils.daemon import get_daemon_pid_if_running

        if not self.pid_file or not self.runtime_path:
            return None
        pid = get_daemon_pid_if_running(self.pid_file)
        if not pid:
            return None
        try:
            cmdline = psutil.Process(pid).cmdline()
        except psutil.Error:
            return None
        # A stale PID file may name a recycled PID: it must be our launcher for this service.
        return pid if any(str(self.runtime_path) in part for part in cmdline) else None


class LocalSeldonDeploymentService(LocalDaemonService, BaseDeploymentService):
    """A Seldon Core microservice running locally as a ZenML-managed daemon."""

    SERVICE_TYPE = ServiceType(
        name="local-seldon-deployment",
        type="model-serving",
        flavor="local_seldon",
        description="Seldon Core Python microservice running locally",
        logo_url="https://public-flavor-logos.s3.eu-central-1.amazonaws.com/model_deployer/seldon.png",
    )

    config: LocalSeldonDeploymentConfig
    status: LocalSeldonServiceStatus = Field(default_factory=LocalSeldonServiceStatus)
    endpoint: LocalSeldonEndpoint

    def __init__(self, config: LocalSeldonDeploymentConfig | dict[str, Any], **attrs: Any) -> None:
        if not isinstance(config, LocalSeldonDeploymentConfig):
            config = LocalSeldonDeploymentConfig.model_validate(config)
        if "endpoint" not in attrs or attrs["endpoint"] is None:
            attrs["endpoint"] = LocalSeldonEndpoint(
                config=LocalDaemonServiceEndpointConfig(
                    protocol=ServiceEndpointProtocol.HTTP, ip_address=config.host, allocate_port=True
                ),
                monitor=HTTPEndpointHealthMonitor(
                    config=HTTPEndpointHealthMonitorConfig(healthcheck_uri_path=HEALTH_PATH, use_head_request=False)
                ),
            )
        super().__init__(config=config, **attrs)

    def _get_daemon_cmd(self) -> tuple[list[str], dict[str, str]]:
        # The parent writes the service's config file and picks the runtime paths; we swap the command.
        super()._get_daemon_cmd()
        assert self.status.pid_file and self.status.runtime_path  # nosec B101  # invariant, for mypy
        log_file = self.status.log_file or os.path.join(self.status.runtime_path, "service.log")
        Path(log_file).touch()
        port = self.endpoint.status.port
        metrics_port = self.endpoint.status.metrics_port
        return self.config.launch_command(
            port=int(port or 0),
            metrics_port=int(metrics_port or 0),
            pid_file=self.status.pid_file,
            log_file=log_file,
            deployment_id=str(self.uuid),
        )

    def _stop_daemon(self, force: bool = False) -> None:
        """SIGTERM the server (gunicorn stops its workers and the metrics server); whatever outlives it, or
        everything with `force`, gets SIGKILL, so no orphaned worker keeps the port."""
        pid = self.status.pid
        if pid:
            kill_process_tree(pid, timeout=STOP_TIMEOUT, force=force)

    def run(self) -> None:  # pragma: no cover - the launcher runs the server, never ZenML's entry point
        raise NotImplementedError("the local Seldon deployment runs through serving/launch_local.py")

    @property
    def prediction_url(self) -> str | None:
        if not self.is_running or not self.endpoint.base_url:
            return None
        return f"{self.endpoint.base_url}/{PREDICTION_PATH}"

    @property
    def base_url(self) -> str | None:
        return self.endpoint.base_url

    @property
    def metrics_url(self) -> str | None:
        return self.endpoint.metrics_url

    def answers_as_itself(self) -> bool:
        """/health/status is ready AND comes from this deployment (not another server on a reused port)."""
        from arxiv_classifier.endpoint import health

        if not self.endpoint.base_url:
            return False
        status = health(self.endpoint.base_url)
        return status is not None and status.get("deployment_id") == str(self.uuid)

    def get_healthcheck_url(self) -> str | None:
        return f"{self.endpoint.base_url}/{HEALTH_PATH}" if self.endpoint.base_url else None

    def predict(self, papers: list[dict[str, str]]) -> dict[str, Any]:
        """Send papers to the running endpoint (protocol v1 `jsonData`)."""
        from arxiv_classifier.endpoint import predict

        if not self.is_running or not self.endpoint.base_url:
            raise RuntimeError(
                f"deployment {self.uuid} is not running; start it with `zenml model-deployer models start`"
            )
        return predict(self.endpoint.base_url, papers)
