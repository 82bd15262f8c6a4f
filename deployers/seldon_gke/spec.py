"""The SeldonDeployment spec that serves a model directory from the serving image (no ZenML here).

How the model gets to /mnt/models. In Seldon Core 1.x the operator injects its storage initializer only
for prepackaged servers (`graph.implementation` = a server registered in the `seldon-config` ConfigMap);
for a custom container, `graph.modelUri` is ignored. ZenML's `SeldonDeployment.build(is_custom_deployment=True)`
also drops `modelUri`, `implementation` and `envSecretRefName` from the graph. So the pod spec carries the
storage initializer itself: an init container running Seldon's own storage initializer image
(`seldonio/rclone-storage-initializer`, args `<modelUri> /mnt/models`, as the operator would add it) that
copies the model directory into an `emptyDir` volume, which the model container mounts read-only at
/mnt/models. Credentials: GKE Workload Identity through the pod's service account (rclone `env_auth`), or
a Kubernetes secret of rclone variables (`storage_secret`, mounted with `envFrom`, optional).

The pod spec is assembled from the `kubernetes` client's typed models (a misspelt field is a TypeError
here, not a silently pruned key on the cluster) and serialised with the client's own serializer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kubernetes.client import (
    ApiClient,
    V1Capabilities,
    V1Container,
    V1ContainerPort,
    V1EmptyDirVolumeSource,
    V1EnvFromSource,
    V1EnvVar,
    V1HTTPGetAction,
    V1PodSpec,
    V1Probe,
    V1ResourceRequirements,
    V1SecretEnvSource,
    V1SecurityContext,
    V1Volume,
    V1VolumeMount,
)
from kubernetes.utils import parse_quantity

from deployers.serving_class import RequestLogSettings, seldon_parameters

#: ZenML's `SeldonDeployment.build(is_custom_deployment=True)` names the graph node "classifier"; Seldon
#: matches graph nodes to containers by name, so the model container must carry the same name.
GRAPH_NODE = "classifier"
#: Seldon's model mount path (where its storage initializer puts `modelUri`); the serving class's default.
MODEL_MOUNT = "/mnt/models"
MODEL_VOLUME = "model-provision-location"
#: Seldon Core's default ports for the first graph node: REST and Prometheus metrics.
HTTP_PORT = 9000
METRICS_PORT = 6000
#: The storage initializer image Seldon Core 1.18 injects for prepackaged servers.
STORAGE_INITIALIZER_IMAGE = "seldonio/rclone-storage-initializer:1.18.2"
#: The serving image's non-root user (numeric, so `runAsNonRoot` can be verified by the kubelet).
SERVING_UID = 1000
DEFAULT_NAMESPACE = "seldon"
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "1", "memory": "2Gi"},
    "limits": {"cpu": "2", "memory": "3Gi"},
}

_REMOTE_URI = re.compile(r"^(gs|s3)://[^/]+(/.*)?$")


def k8s_name(value: str, max_len: int = 63) -> str:
    """A DNS-1123 label from any name (`arxiv_classifier` -> `arxiv-classifier`)."""
    name = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:max_len].strip("-")
    if not name:
        raise ValueError(f"cannot make a Kubernetes name from {value!r}")
    return name


def is_quantity(value: Any) -> bool:
    """Whether `value` is a Kubernetes resource quantity (`500m`, `2Gi`, `1`), finite and not negative."""
    if isinstance(value, bool):
        return False
    try:
        number = parse_quantity(value)
    except (ValueError, TypeError, ArithmeticError):
        return False
    return bool(number.is_finite() and number >= 0)


def _check_resources(resources: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    unknown = set(resources) - {"requests", "limits"}
    if unknown:
        raise ValueError(f"resources: only 'requests' and 'limits' are allowed, got {sorted(unknown)}")
    checked: dict[str, dict[str, str]] = {}
    for section, values in resources.items():
        if not isinstance(values, Mapping):
            raise ValueError(f"resources.{section} must be a mapping like {{'cpu': '1', 'memory': '2Gi'}}")
        checked[section] = {}
        for key, quantity in values.items():
            if not is_quantity(quantity):
                raise ValueError(f"resources.{section}.{key}: {quantity!r} is not a Kubernetes quantity")
            checked[section][str(key)] = str(quantity)
    return checked


def _env(**values: str) -> list[V1EnvVar]:
    return [V1EnvVar(name=name, value=value) for name, value in values.items()]


def _http_probe(path: str, **timing: int) -> V1Probe:
    return V1Probe(http_get=V1HTTPGetAction(path=path, port=HTTP_PORT, scheme="HTTP"), **timing)


def model_container(
    image: str, resources: Mapping[str, Any], *, workers: int, threads: int, image_pull_policy: str
) -> V1Container:
    """The serving container: the graph node's name, Seldon's ports, probes that know model loading."""
    return V1Container(
        name=GRAPH_NODE,
        image=image,
        image_pull_policy=image_pull_policy,
        env=_env(
            MODEL_DIR=MODEL_MOUNT,
            GUNICORN_WORKERS=str(workers),
            GUNICORN_THREADS=str(threads),
            PERSISTENCE="0",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        ),
        ports=[
            V1ContainerPort(name="http", container_port=HTTP_PORT, protocol="TCP"),
            V1ContainerPort(name="metrics", container_port=METRICS_PORT, protocol="TCP"),
        ],
        resources=V1ResourceRequirements(**_check_resources(resources)),
        volume_mounts=[V1VolumeMount(name=MODEL_VOLUME, mount_path=MODEL_MOUNT, read_only=True)],
        # /health/ping answers as soon as the server is up; /health/status only once the model is loaded.
        startup_probe=_http_probe("/health/ping", period_seconds=5, failure_threshold=60),
        readiness_probe=_http_probe(
            "/health/status", initial_delay_seconds=5, period_seconds=5, timeout_seconds=5, failure_threshold=3
        ),
        liveness_probe=_http_probe("/health/ping", period_seconds=10, timeout_seconds=5, failure_threshold=3),
        security_context=V1SecurityContext(
            run_as_non_root=True,
            run_as_user=SERVING_UID,
            allow_privilege_escalation=False,
            capabilities=V1Capabilities(drop=["ALL"]),
        ),
    )


def storage_initializer(model_uri: str, image: str, storage_secret: str | None) -> V1Container:
    """The init container that copies `model_uri` into the model volume, as Seldon's operator would."""
    init = V1Container(
        name="model-initializer",
        image=image,
        args=[model_uri, MODEL_MOUNT],
        volume_mounts=[V1VolumeMount(name=MODEL_VOLUME, mount_path=MODEL_MOUNT)],
        resources=V1ResourceRequirements(requests={"cpu": "100m", "memory": "100Mi"}, limits={"memory": "1Gi"}),
    )
    if storage_secret:
        # rclone's remote configured by the secret's RCLONE_CONFIG_* variables; `env` would override them.
        init.env_from = [V1EnvFromSource(secret_ref=V1SecretEnvSource(name=storage_secret, optional=True))]
    elif model_uri.startswith("gs://"):
        # rclone's GCS remote authenticated as the pod (GKE Workload Identity through the service account).
        init.env = _env(
            RCLONE_CONFIG_GS_TYPE="google cloud storage",
            RCLONE_CONFIG_GS_ANONYMOUS="false",
            RCLONE_CONFIG_GS_ENV_AUTH="true",
        )
    return init


def _positive_int(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{field} must be an integer >= 1, got {value!r}")


def seldon_deployment_spec(
    *,
    name: str,
    image: str,
    model_uri: str,
    model_name: str,
    model_version: str,
    replicas: int,
    resources: Mapping[str, Any],
    max_batch: int,
    top_k: int,
    service_account: str | None = None,
    inference_threads: int | None = None,
    workers: int = 1,
    threads: int = 1,
    storage_secret: str | None = None,
    storage_initializer_image: str = STORAGE_INITIALIZER_IMAGE,
    image_pull_policy: str = "IfNotPresent",
    request_log: RequestLogSettings | None = None,
    max_text_chars: int | None = None,
    max_request_bytes: int | None = None,
) -> dict[str, Any]:
    """The `spec` of a SeldonDeployment serving `model_uri` from the serving image.

    Args:
        name: the SeldonDeployment name (ZenML's deployer replaces it with `zenml-<service uuid>`).
        image: the serving image (Dockerfile target `serving`), e.g. `REGION-docker.pkg.dev/P/R/arxiv-serving:TAG`.
        model_uri: the model directory in object storage (`gs://...`); copied to /mnt/models at pod start.
        model_name: the Model Control Plane name served (echoed by every answer).
        model_version: the version served.
        replicas: pod replicas of the predictor.
        resources: the model container's `{"requests": {...}, "limits": {...}}` (cpu, memory, ...).
        max_batch: the serving class's largest batch.
        top_k: categories per paper.
        service_account: Kubernetes service account of the pod (e.g. bound to a GCP service account
            through Workload Identity, which is how the storage initializer reads a private bucket).
        inference_threads: the model runtime's intra-op threads per worker.
        workers: gunicorn workers (each loads the model).
        threads: threads per gunicorn worker.
        storage_secret: a Kubernetes secret of `RCLONE_CONFIG_*` variables for the storage initializer
            (ZenML's Seldon deployer creates one named `deployer.kubernetes_secret_name`); optional.
        storage_initializer_image: the init container that copies `model_uri` to /mnt/models.
        image_pull_policy: of the serving image.
        request_log: the serving class's request log; its URI must be a gs:// prefix the pods may write
            (a path would be inside the pod, lost with it).

    Raises:
        ValueError: an input Kubernetes or the serving class would refuse, with the reason.
    """
    for field, value in (("replicas", replicas), ("max_batch", max_batch), ("top_k", top_k)):
        _positive_int(field, value)
    for field, value in (("workers", workers), ("threads", threads)):
        _positive_int(field, value)
    if not _REMOTE_URI.match(model_uri):
        raise ValueError(
            f"model_uri must be a gs:// or s3:// URI, got {model_uri!r}: Seldon's storage initializer copies from "
            "object storage and cannot read a local artifact store (use the local stack's deployer for that)"
        )
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"image must be an image reference, got {image!r}")
    if request_log is not None and request_log.enabled and request_log.uri and not request_log.uri.startswith("gs://"):
        raise ValueError(
            f"request_log_uri must be a gs:// prefix on Kubernetes, got {request_log.uri!r}: a path would be inside "
            "the pod and lost with it (set serving.request_log_uri, or run on a stack with a GCS artifact store)"
        )
    pod = V1PodSpec(
        containers=[
            model_container(image, resources, workers=workers, threads=threads, image_pull_policy=image_pull_policy)
        ],
        init_containers=[storage_initializer(model_uri, storage_initializer_image, storage_secret)],
        volumes=[V1Volume(name=MODEL_VOLUME, empty_dir=V1EmptyDirVolumeSource())],
        termination_grace_period_seconds=30,
        service_account_name=service_account or None,
    )
    params = seldon_parameters(
        model_dir=MODEL_MOUNT,
        model_name=model_name,
        model_version=model_version,
        max_batch=max_batch,
        top_k=top_k,
        inference_threads=inference_threads,
        request_log=request_log,
        max_text_chars=max_text_chars,
        max_request_bytes=max_request_bytes,
    )
    graph: dict[str, Any] = {"name": GRAPH_NODE, "type": "MODEL", "parameters": params}
    if service_account:
        graph["serviceAccountName"] = service_account
    predictor = {
        "name": k8s_name(model_name),
        "replicas": replicas,
        "graph": graph,
        "componentSpecs": [{"spec": ApiClient().sanitize_for_serialization(pod)}],
    }
    return {"name": k8s_name(name), "replicas": replicas, "predictors": [predictor]}


def predictor_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The one predictor of `spec` (ZenML's custom deployment has exactly one)."""
    predictors = spec.get("predictors") or []
    if len(predictors) != 1:
        raise ValueError(f"expected exactly one predictor (ZenML's custom deployment has one), got {len(predictors)}")
    return dict(predictors[0])


def pod_spec_of(predictor: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec of the predictor's one component."""
    components = predictor.get("componentSpecs") or []
    if len(components) != 1 or "spec" not in components[0]:
        raise ValueError("expected exactly one componentSpecs entry with a pod spec")
    return dict(components[0]["spec"])


def model_uri_of(spec: Mapping[str, Any]) -> str:
    """The model URI the storage initializer of `spec` copies to /mnt/models."""
    for init in pod_spec_of(predictor_of(spec)).get("initContainers", []):
        args = init.get("args") or []
        if len(args) == 2 and args[1] == MODEL_MOUNT:
            return str(args[0])
    raise ValueError("the pod spec has no storage initializer copying a model to /mnt/models")


def graph_parameter(graph: Mapping[str, Any], name: str) -> str:
    """The value of the graph's parameter `name` ('' when absent)."""
    for p in graph.get("parameters") or []:
        if p.get("name") == name:
            return str(p.get("value", ""))
    return ""
