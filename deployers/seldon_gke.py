"""Seldon Core on GKE: the SeldonDeployment that serves the promoted model from the serving image.

The serving image (Dockerfile target `serving`) runs `seldon-core-microservice arxiv_model.ArxivClassifier`
and reads its model directory from `/mnt/models`. On the `gcp` stack, ZenML's Seldon model deployer applies
a *custom* SeldonDeployment built here; the same functions generate the manifest for `kubectl`, and the
offline tests validate that manifest against Seldon Core's own CRD schema.

How the model gets to /mnt/models. In Seldon Core 1.x the operator injects its storage initializer only
for prepackaged servers (`graph.implementation` = a server registered in the `seldon-config` ConfigMap);
for a custom container, `graph.modelUri` is ignored. ZenML's `SeldonDeployment.build(is_custom_deployment=True)`
also drops `modelUri`, `implementation` and `envSecretRefName` from the graph. So the pod spec carries the
storage initializer itself: an init container running Seldon's own storage initializer image
(`seldonio/rclone-storage-initializer`, args `<modelUri> /mnt/models`, as the operator would add it) that
copies the model directory into an `emptyDir` volume, which the model container mounts read-only at
/mnt/models. Credentials: GKE Workload Identity through the pod's service account (rclone `env_auth`), or
the Kubernetes secret of rclone variables that ZenML's Seldon deployer creates from the artifact store's
credentials (`storage_secret`, mounted with `envFrom`, optional).

What ZenML applies. `SeldonDeploymentConfig.spec` is the *pod spec* of `componentSpecs[0]` (not the
SeldonDeployment spec), the graph node is always named `classifier`, `SeldonDeploymentConfig.resources`
becomes the predictor's `engineResources` (the Seldon executor, not the model container), and `replicas`
is set on the spec and the predictor. `seldon_deployment_spec` builds the whole SeldonDeployment spec
within those rules, `seldon_deployment_config` turns it into ZenML's config, and `zenml_applied_manifest`
runs ZenML's own `SeldonDeploymentService.provision()` against a capturing client, so a test sees exactly
the object ZenML would send to the cluster.

CLI (prints the manifest for `kubectl apply --dry-run=server -f -`):

    python -m deployers.seldon_gke --model-uri gs://BUCKET/path/to/model \\
        --image REGION-docker.pkg.dev/PROJECT/REPO/arxiv-serving:TAG --namespace seldon --replicas 2 --out manifest.yaml
"""

from __future__ import annotations

import argparse
import copy
import functools
import gzip
import json
import re
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

if TYPE_CHECKING:  # pragma: no cover
    from zenml.integrations.seldon.services import SeldonDeploymentConfig

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
#: Recorded as the deployment's `zenml.model_type` label (not used by Seldon for a custom graph).
IMPLEMENTATION = "custom"
#: The serving image's non-root user (numeric, so `runAsNonRoot` can be verified by the kubelet).
SERVING_UID = 1000
DEFAULT_NAMESPACE = "seldon"
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "1", "memory": "2Gi"},
    "limits": {"cpu": "2", "memory": "3Gi"},
}
#: Seldon Core 1.18.2's SeldonDeployment CRD, when the shared specs are next to the repository.
DEFAULT_CRD = (
    Path(__file__).resolve().parent.parent.parent / "shared/specs/seldon-core-1.18.2/seldondeployments-crd.yaml.gz"
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$")
_REMOTE_URI = re.compile(r"^(gs|s3)://[^/]+(/.*)?$")
_MAX_ANNOTATIONS_BYTES = 256 * 1024


def k8s_name(value: str, max_len: int = 63) -> str:
    """A DNS-1123 label from any name (`arxiv_classifier` -> `arxiv-classifier`)."""
    name = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:max_len].strip("-")
    if not name:
        raise ValueError(f"cannot make a Kubernetes name from {value!r}")
    return name


def seldon_parameters(
    *,
    model_name: str,
    model_version: str,
    max_batch: int,
    top_k: int,
    torch_threads: int | None = None,
    quantize: bool = False,
) -> list[dict[str, str]]:
    """The serving class's parameters, as the local deployer passes them, with the model at /mnt/models."""
    params = [
        ("model_dir", MODEL_MOUNT, "STRING"),
        ("model_name", model_name, "STRING"),
        ("model_version", model_version, "STRING"),
        ("max_batch", str(max_batch), "INT"),
        ("top_k", str(top_k), "INT"),
    ]
    if torch_threads:
        params.append(("torch_threads", str(torch_threads), "INT"))
    if quantize:
        params.append(("quantize", "true", "BOOL"))
    return [{"name": n, "value": v, "type": t} for n, v, t in params]


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
            text = str(quantity)
            if isinstance(quantity, bool) or not _QUANTITY.match(text):
                raise ValueError(f"resources.{section}.{key}: {quantity!r} is not a Kubernetes quantity")
            checked[section][str(key)] = text
    return checked


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
    torch_threads: int | None = None,
    workers: int = 1,
    threads: int = 1,
    storage_secret: str | None = None,
    storage_initializer_image: str = STORAGE_INITIALIZER_IMAGE,
    image_pull_policy: str = "IfNotPresent",
    quantize: bool = False,
) -> dict[str, Any]:
    """The `spec` of a SeldonDeployment serving `model_uri` from the serving image.

    Args:
        name: the SeldonDeployment name (ZenML's deployer replaces it with `zenml-<service uuid>`).
        image: the serving image (Dockerfile target `serving`), e.g. `REGION-docker.pkg.dev/P/R/arxiv-serving:TAG`.
        model_uri: the model directory in object storage (`gs://...`); copied to /mnt/models at pod start.
        model_name / model_version: the Model Control Plane version served (echoed by every answer).
        replicas: pod replicas of the predictor.
        resources: the model container's `{"requests": {...}, "limits": {...}}` (cpu, memory, ...).
        max_batch / top_k / torch_threads / quantize: the serving class's parameters.
        service_account: Kubernetes service account of the pod (e.g. bound to a GCP service account
            through Workload Identity, which is how the storage initializer reads a private bucket).
        workers / threads: gunicorn workers (each loads the model) and threads per worker.
        storage_secret: a Kubernetes secret of `RCLONE_CONFIG_*` variables for the storage initializer
            (ZenML's Seldon deployer creates one named `deployer.kubernetes_secret_name`); optional.
        storage_initializer_image: the init container that copies `model_uri` to /mnt/models.
        image_pull_policy: of the serving image.
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas must be an integer >= 1, got {replicas!r}")
    for field, value in (("max_batch", max_batch), ("top_k", top_k), ("workers", workers), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{field} must be an integer >= 1, got {value!r}")
    if not _REMOTE_URI.match(model_uri):
        raise ValueError(
            f"model_uri must be a gs:// or s3:// URI, got {model_uri!r}: Seldon's storage initializer copies from "
            "object storage and cannot read a local artifact store (use the local stack's deployer for that)"
        )
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"image must be an image reference, got {image!r}")
    container_resources = _check_resources(resources)
    params = seldon_parameters(
        model_name=model_name,
        model_version=model_version,
        max_batch=max_batch,
        top_k=top_k,
        torch_threads=torch_threads,
        quantize=quantize,
    )
    http_get = {"port": HTTP_PORT, "scheme": "HTTP"}
    container: dict[str, Any] = {
        "name": GRAPH_NODE,
        "image": image,
        "imagePullPolicy": image_pull_policy,
        "env": [
            {"name": "MODEL_DIR", "value": MODEL_MOUNT},
            {"name": "GUNICORN_WORKERS", "value": str(workers)},
            {"name": "GUNICORN_THREADS", "value": str(threads)},
            {"name": "PERSISTENCE", "value": "0"},
            {"name": "HF_HUB_OFFLINE", "value": "1"},
            {"name": "TRANSFORMERS_OFFLINE", "value": "1"},
            {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
        ],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": container_resources,
        "volumeMounts": [{"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True}],
        # /health/ping answers as soon as the server is up; /health/status only once the model is loaded.
        "startupProbe": {
            "httpGet": {"path": "/health/ping", **http_get},
            "periodSeconds": 5,
            "failureThreshold": 60,
        },
        "readinessProbe": {
            "httpGet": {"path": "/health/status", **http_get},
            "initialDelaySeconds": 5,
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health/ping", **http_get},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVING_UID,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    initializer: dict[str, Any] = {
        "name": "model-initializer",
        "image": storage_initializer_image,
        "args": [model_uri, MODEL_MOUNT],
        "volumeMounts": [{"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT}],
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"memory": "1Gi"}},
    }
    if storage_secret:
        # rclone's remote configured by the secret's RCLONE_CONFIG_* variables (ZenML's deployer writes them
        # from the artifact store's credentials); `env` would override them, so none is set.
        initializer["envFrom"] = [{"secretRef": {"name": storage_secret, "optional": True}}]
    elif model_uri.startswith("gs://"):
        # rclone's GCS remote authenticated as the pod (GKE Workload Identity through `service_account`).
        initializer["env"] = [
            {"name": "RCLONE_CONFIG_GS_TYPE", "value": "google cloud storage"},
            {"name": "RCLONE_CONFIG_GS_ANONYMOUS", "value": "false"},
            {"name": "RCLONE_CONFIG_GS_ENV_AUTH", "value": "true"},
        ]
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "initContainers": [initializer],
        "volumes": [{"name": MODEL_VOLUME, "emptyDir": {}}],
        "terminationGracePeriodSeconds": 30,
    }
    graph: dict[str, Any] = {"name": GRAPH_NODE, "type": "MODEL", "parameters": params}
    if service_account:
        pod_spec["serviceAccountName"] = service_account
        graph["serviceAccountName"] = service_account
    predictor = {
        "name": k8s_name(model_name),
        "replicas": replicas,
        "graph": graph,
        "componentSpecs": [{"spec": pod_spec}],
    }
    return {"name": k8s_name(name), "replicas": replicas, "predictors": [predictor]}


def _predictor(spec: Mapping[str, Any]) -> dict[str, Any]:
    predictors = spec.get("predictors") or []
    if len(predictors) != 1:
        raise ValueError(f"expected exactly one predictor (ZenML's custom deployment has one), got {len(predictors)}")
    return dict(predictors[0])


def _pod_spec(predictor: Mapping[str, Any]) -> dict[str, Any]:
    components = predictor.get("componentSpecs") or []
    if len(components) != 1 or "spec" not in components[0]:
        raise ValueError("expected exactly one componentSpecs entry with a pod spec")
    return dict(components[0]["spec"])


def model_uri_of(spec: Mapping[str, Any]) -> str:
    """The model URI the storage initializer of `spec` copies to /mnt/models."""
    for init in _pod_spec(_predictor(spec)).get("initContainers", []):
        args = init.get("args") or []
        if len(args) == 2 and args[1] == MODEL_MOUNT:
            return str(args[0])
    raise ValueError("the pod spec has no storage initializer copying a model to /mnt/models")


def _param(graph: Mapping[str, Any], name: str) -> str:
    for p in graph.get("parameters") or []:
        if p.get("name") == name:
            return str(p.get("value", ""))
    return ""


def seldon_deployment_config(
    spec: Mapping[str, Any],
    *,
    model_name: str | None = None,
    model_version: str | None = None,
    pipeline_name: str = "",
    pipeline_step_name: str = "",
    deployed_by_run: str = "",
    service_name: str = "",
    secret_name: str | None = None,
    engine_resources: Mapping[str, Any] | None = None,
) -> SeldonDeploymentConfig:
    """ZenML's `SeldonDeploymentConfig` for a custom deployment of `spec` (from `seldon_deployment_spec`).

    `model_uri`, `replicas`, the graph parameters and the service account come from `spec`. `secret_name`
    left None lets ZenML's deployer create its rclone secret from the artifact store's credentials.
    `model_name` (default: the graph's `model_name` parameter) is what `find_model_server` filters on and
    links the service to the Model Control Plane version. The model version and `deployed_by_run` also
    become labels of the SeldonDeployment (`zenml.model_version`, `zenml.deployed_by_run`).
    """
    from zenml.integrations.seldon.seldon_client import SeldonDeploymentPredictorParameter, SeldonResourceRequirements
    from zenml.integrations.seldon.services import SeldonDeploymentConfig

    predictor = _predictor(spec)
    graph = predictor["graph"]
    if graph.get("name") != GRAPH_NODE:
        raise ValueError(f"ZenML names the graph node {GRAPH_NODE!r}; the spec's is {graph.get('name')!r}")
    name = model_name or _param(graph, "model_name") or predictor["name"]
    version = model_version if model_version is not None else _param(graph, "model_version")
    if k8s_name(name) != predictor["name"]:
        raise ValueError(f"ZenML names the predictor after the model: {k8s_name(name)!r} != {predictor['name']!r}")
    return SeldonDeploymentConfig(
        model_uri=model_uri_of(spec),
        model_name=predictor["name"],
        model_version=version,
        implementation=IMPLEMENTATION,
        parameters=[SeldonDeploymentPredictorParameter(**p) for p in graph.get("parameters") or []],
        resources=SeldonResourceRequirements(**engine_resources) if engine_resources else None,
        replicas=int(predictor.get("replicas", spec.get("replicas", 1))),
        secret_name=secret_name,
        is_custom_deployment=True,
        spec=copy.deepcopy(_pod_spec(predictor)),
        serviceAccountName=graph.get("serviceAccountName"),
        pipeline_name=pipeline_name,
        pipeline_step_name=pipeline_step_name,
        service_name=service_name,
        extra_args={k: v for k, v in (("model_version", version), ("deployed_by_run", deployed_by_run)) if v},
    )


def _check_zenml_kept(spec: Mapping[str, Any], built: Mapping[str, Any]) -> None:
    """Raise if ZenML's model of a SeldonDeployment dropped or changed anything of `spec`'s predictor."""
    want, got = _predictor(spec), _predictor(built)
    problems = [
        f"predictor.{key}" for key in want if key not in ("componentSpecs", "graph") and want[key] != got.get(key)
    ]
    problems += [f"graph.{key}" for key in want["graph"] if want["graph"][key] != got["graph"].get(key)]
    if _pod_spec(want) != _pod_spec(got):
        problems.append("componentSpecs[0].spec")
    if problems:
        raise ValueError(f"ZenML's SeldonDeployment model does not carry {problems}; it would not deploy this spec")


def seldon_deployment_manifest(
    spec: Mapping[str, Any],
    name: str,
    namespace: str = DEFAULT_NAMESPACE,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The full `machinelearning.seldon.io/v1` SeldonDeployment, built with ZenML's own model of it.

    Goes through `zenml.integrations.seldon.seldon_client.SeldonDeployment.build(is_custom_deployment=True)`,
    as ZenML's deployer does, so anything ZenML would silently drop is an error here. Not marked as
    managed by ZenML (no `app: zenml` label): a hand-applied deployment has no ZenML service behind it.
    """
    from zenml.integrations.seldon.seldon_client import SeldonDeployment, SeldonDeploymentPredictorParameter

    predictor = _predictor(spec)
    graph = predictor["graph"]
    deployment = SeldonDeployment.build(
        name=k8s_name(name),
        model_name=predictor["name"],
        implementation=IMPLEMENTATION,
        parameters=[SeldonDeploymentPredictorParameter(**p) for p in graph.get("parameters") or []],
        engineResources=None,
        secret_name=None,
        labels=dict(labels or {}),
        annotations=dict(annotations or {}),
        is_custom_deployment=True,
        spec=copy.deepcopy(_pod_spec(predictor)),
        serviceAccountName=graph.get("serviceAccountName"),
    )
    deployment.spec.replicas = int(spec.get("replicas", 1))
    deployment.spec.predictors[0].replicas = int(predictor.get("replicas", 1))
    manifest: dict[str, Any] = deployment.model_dump(mode="json", exclude_none=True)
    _check_zenml_kept(spec, manifest["spec"])
    manifest["metadata"]["namespace"] = namespace
    return manifest


def zenml_applied_manifest(
    config: SeldonDeploymentConfig, namespace: str = DEFAULT_NAMESPACE, service_uuid: UUID | None = None
) -> dict[str, Any]:
    """The SeldonDeployment ZenML's deployer would create for `config`, captured instead of sent.

    Runs ZenML's `SeldonDeploymentService.provision()` with a client that records the object its
    `create_deployment` receives (marked as managed by ZenML, as the real client does).
    """
    from zenml.integrations.seldon.seldon_client import SeldonDeployment, SeldonDeploymentNotFoundError
    from zenml.integrations.seldon.services import SeldonDeploymentService

    captured: list[dict[str, Any]] = []

    class _CapturingClient:
        def __init__(self) -> None:
            self.namespace = namespace

        def get_deployment(self, name: str) -> SeldonDeployment:
            raise SeldonDeploymentNotFoundError(name)

        def create_deployment(self, deployment: SeldonDeployment, poll_timeout: int = 0) -> SeldonDeployment:
            deployment.mark_as_managed_by_zenml()
            captured.append(deployment.model_dump(mode="json", exclude_none=True))
            return deployment

    service = SeldonDeploymentService(uuid=service_uuid or uuid4(), config=config)
    client = _CapturingClient()
    # An instance attribute shadows the method: no subclass (which would re-register the service type).
    object.__setattr__(service, "_get_client", lambda: client)
    service.provision()
    if len(captured) != 1:
        raise RuntimeError(f"ZenML's provision() created {len(captured)} deployments, expected 1")
    manifest = captured[0]
    manifest["metadata"]["namespace"] = namespace
    return manifest


# --- validation -------------------------------------------------------------------------------------------


def load_crd(crd_path: Path) -> dict[str, Any]:
    """The CustomResourceDefinition in `crd_path` (YAML, optionally gzipped)."""
    path = Path(crd_path).resolve()
    return copy.deepcopy(_load_crd(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _load_crd(path: str, mtime_ns: int) -> dict[str, Any]:
    import yaml

    raw = Path(path).read_bytes()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the 1 MB CRD ~10x faster
    crd = yaml.load(raw, Loader=loader)
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{path} is not a CustomResourceDefinition")
    return crd


def _to_json_schema(node: Any, *, strict: bool) -> Any:
    """OpenAPI v3 (Kubernetes structural schema) -> JSON Schema.

    `nullable` becomes a null type, `x-kubernetes-int-or-string` an integer-or-string, and with `strict`
    an object with declared properties rejects undeclared ones (as `kubectl apply --validate=strict` does;
    without it the API server silently prunes them) unless `x-kubernetes-preserve-unknown-fields` is set.
    Other `x-kubernetes-*` keys are left as unknown keywords, which JSON Schema ignores.
    """
    if isinstance(node, list):
        return [_to_json_schema(n, strict=strict) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_json_schema(v, strict=strict) for k, v in value.items()}
        elif key == "description":
            continue
        else:
            out[key] = _to_json_schema(value, strict=strict)
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        strict
        and out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        # apiVersion/kind/metadata/status of the root are the API server's; the rest is closed.
        out["additionalProperties"] = False
    return out


def crd_json_schema(crd: Mapping[str, Any], version: str, *, strict: bool = True) -> dict[str, Any]:
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema = entry["schema"]["openAPIV3Schema"]
            converted: dict[str, Any] = _to_json_schema(schema, strict=strict)
            return converted
    raise ValueError(f"the CRD has no version {version!r}")


def _path(parts: Sequence[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def _metadata_errors(metadata: Any) -> list[str]:
    """What the API server itself checks on every object's metadata (the CRD schema leaves it open)."""
    if not isinstance(metadata, dict):
        return ["metadata: must be an object"]
    errors = []
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        errors.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not _DNS_LABEL.match(namespace)):
        errors.append(f"metadata.namespace: {namespace!r} is not a DNS-1123 label")
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, label = str(key).rpartition("/")
        if len(label) > 63 or not _LABEL_NAME.match(label) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
            errors.append(f"metadata.labels: invalid key {key!r}")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            errors.append(f"metadata.labels.{key}: invalid value {value!r}")
    annotations = metadata.get("annotations") or {}
    size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
    if size > _MAX_ANNOTATIONS_BYTES:
        errors.append(f"metadata.annotations: {size} bytes, more than the 256 KiB Kubernetes allows")
    return errors


@functools.lru_cache(maxsize=8)
def _validator(path: str, mtime_ns: int, version: str, strict: bool) -> Any:
    import jsonschema

    schema = crd_json_schema(_load_crd(path, mtime_ns), version, strict=strict)
    checker = jsonschema.FormatChecker()

    @checker.checks("int32")  # type: ignore[misc]
    def _int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("int64")  # type: ignore[misc]
    def _int64(value: object) -> bool:
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_cls.check_schema(schema)
    return validator_cls(schema, format_checker=checker)


def validate_against_crd(manifest: Mapping[str, Any], crd_path: Path, *, strict: bool = True) -> list[str]:
    """Errors of `manifest` against the CRD in `crd_path` (empty when valid).

    Checks apiVersion/kind against the CRD's group, served versions and kind; the whole object against
    that version's `openAPIV3Schema` with `jsonschema` (see `_to_json_schema`; `format: int32/int64`
    ranges are checked too); and the metadata rules the API server applies to every object.
    """
    path = Path(crd_path).resolve()
    crd = _load_crd(str(path), path.stat().st_mtime_ns)
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    served = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
    errors: list[str] = []
    api_version = str(manifest.get("apiVersion", ""))
    api_group, _, version = api_version.rpartition("/")
    if api_group != group or version not in served:
        errors.append(f"apiVersion: {api_version!r} is not one of {[f'{group}/{v}' for v in served]}")
        return errors
    if manifest.get("kind") != kind:
        errors.append(f"kind: {manifest.get('kind')!r} is not {kind!r}")
    validator = _validator(str(path), path.stat().st_mtime_ns, version, strict)
    for error in sorted(validator.iter_errors(dict(manifest)), key=lambda e: list(map(str, e.absolute_path))):
        errors.append(f"{_path(list(error.absolute_path))}: {error.message}")
    errors += _metadata_errors(manifest.get("metadata"))
    return errors


def _quantity(value: Any) -> Decimal | None:
    match = _QUANTITY.match(str(value))
    if not match:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2) or ""
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    decimal = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(10**3)}
    decimal.update({"M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15)})
    decimal["E"] = Decimal(10**18)
    if suffix in binary:
        return number * binary[suffix]
    if suffix in decimal:
        return number * decimal[suffix]
    return number * Decimal(10) ** int(suffix[1:])  # exponent form, e.g. 1e3


def _container_errors(where: str, container: Mapping[str, Any], volumes: set[str]) -> list[str]:
    errors = []
    ports = container.get("ports") or []
    names = [p.get("name") for p in ports if p.get("name")]
    if len(names) != len(set(names)):
        errors.append(f"{where}.ports: duplicate port names {names}")
    for i, port in enumerate(ports):
        if port.get("name") and (len(port["name"]) > 15 or not _PORT_NAME.match(port["name"])):
            errors.append(f"{where}.ports[{i}].name: {port['name']!r} is not an IANA service name")
        if not 1 <= int(port.get("containerPort", 0)) <= 65535:
            errors.append(f"{where}.ports[{i}].containerPort: out of range")
    declared = {p.get("containerPort") for p in ports} | set(names)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        target = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
        if target is not None and target not in declared:
            errors.append(f"{where}.{probe}.httpGet.port: {target!r} is not a declared container port")
    for i, mount in enumerate(container.get("volumeMounts") or []):
        if mount.get("name") not in volumes:
            errors.append(f"{where}.volumeMounts[{i}].name: volume {mount.get('name')!r} not found")
    for i, env in enumerate(container.get("env") or []):
        if not _ENV_NAME.match(str(env.get("name", ""))):
            errors.append(f"{where}.env[{i}].name: {env.get('name')!r} is not a valid variable name")
    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        for key, value in (resources.get(section) or {}).items():
            if _quantity(value) is None:
                errors.append(f"{where}.resources.{section}.{key}: {value!r} is not a quantity")
    for key, request in (resources.get("requests") or {}).items():
        limit = (resources.get("limits") or {}).get(key)
        req_q, lim_q = _quantity(request), _quantity(limit) if limit is not None else None
        if req_q is not None and lim_q is not None and req_q > lim_q:
            errors.append(f"{where}.resources: request {key}={request} is above its limit {limit}")
    return errors


def semantic_errors(manifest: Mapping[str, Any]) -> list[str]:
    """Rules beyond the CRD schema that Seldon's webhook or Kubernetes' pod validation would reject.

    Every graph node without a prepackaged implementation needs a container of the same name; predictor
    names are unique DNS labels; container ports, probes, volume mounts, env names and resource
    quantities are consistent (requests <= limits).
    """
    errors: list[str] = []
    spec = manifest.get("spec") or {}
    predictors = spec.get("predictors") or []
    names = [p.get("name") for p in predictors]
    if len(names) != len(set(names)):
        errors.append(f"spec.predictors: duplicate names {names}")
    for i, predictor in enumerate(predictors):
        where = f"spec.predictors[{i}]"
        if not _DNS_LABEL.match(str(predictor.get("name", ""))):
            errors.append(f"{where}.name: {predictor.get('name')!r} is not a DNS-1123 label")
        containers: dict[str, str] = {}
        for j, component in enumerate(predictor.get("componentSpecs") or []):
            pod = component.get("spec") or {}
            volumes = {v.get("name") for v in pod.get("volumes") or []}
            for kind in ("initContainers", "containers"):
                for k, container in enumerate(pod.get(kind) or []):
                    cwhere = f"{where}.componentSpecs[{j}].spec.{kind}[{k}]"
                    if container.get("name") in containers:
                        errors.append(f"{cwhere}.name: duplicate container name {container.get('name')!r}")
                    containers[str(container.get("name"))] = kind
                    errors += _container_errors(cwhere, container, volumes)
        stack = [predictor.get("graph") or {}]
        while stack:
            node = stack.pop()
            stack.extend(node.get("children") or [])
            if node.get("implementation") in (None, "", "UNKNOWN_IMPLEMENTATION") and (
                containers.get(str(node.get("name"))) != "containers"
            ):
                errors.append(
                    f"{where}.graph: node {node.get('name')!r} has no implementation and no container of that name"
                )
    return errors


def validate_manifest(manifest: Mapping[str, Any], crd_path: Path = DEFAULT_CRD) -> list[str]:
    """`validate_against_crd` plus `semantic_errors`."""
    return validate_against_crd(manifest, crd_path) + semantic_errors(manifest)


# --- CLI --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deployers.seldon_gke",
        description="Print the SeldonDeployment serving a model directory from the serving image "
        "(for `kubectl apply --dry-run=server -f`).",
    )
    parser.add_argument("--model-uri", required=True, help="model directory in object storage (gs://...)")
    parser.add_argument("--image", required=True, help="serving image (Dockerfile target `serving`)")
    parser.add_argument("--name", default="arxiv-classifier", help="SeldonDeployment name")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    parser.add_argument("--model-name", default="arxiv-classifier")
    parser.add_argument("--model-version", default="")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--cpu-request", default=DEFAULT_RESOURCES["requests"]["cpu"])
    parser.add_argument("--memory-request", default=DEFAULT_RESOURCES["requests"]["memory"])
    parser.add_argument("--cpu-limit", default=DEFAULT_RESOURCES["limits"]["cpu"])
    parser.add_argument("--memory-limit", default=DEFAULT_RESOURCES["limits"]["memory"])
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--service-account", default=None, help="pod service account (Workload Identity)")
    parser.add_argument("--storage-secret", default=None, help="secret of RCLONE_CONFIG_* variables (optional)")
    parser.add_argument("--storage-initializer-image", default=STORAGE_INITIALIZER_IMAGE)
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--crd", type=Path, default=DEFAULT_CRD, help="validate against this CRD first (skipped if absent)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
    args = parser.parse_args(argv)

    import yaml

    labels = dict(item.split("=", 1) for item in args.label)
    try:
        spec = seldon_deployment_spec(
            name=args.name,
            image=args.image,
            model_uri=args.model_uri,
            model_name=args.model_name,
            model_version=args.model_version,
            replicas=args.replicas,
            resources={
                "requests": {"cpu": args.cpu_request, "memory": args.memory_request},
                "limits": {"cpu": args.cpu_limit, "memory": args.memory_limit},
            },
            max_batch=args.max_batch,
            top_k=args.top_k,
            service_account=args.service_account,
            torch_threads=args.torch_threads,
            workers=args.workers,
            threads=args.threads,
            storage_secret=args.storage_secret,
            storage_initializer_image=args.storage_initializer_image,
        )
        manifest = seldon_deployment_manifest(spec, args.name, args.namespace, labels)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.crd and args.crd.is_file():
        errors = validate_manifest(manifest, args.crd)
        if errors:
            print("the manifest does not validate:\n  " + "\n  ".join(errors), file=sys.stderr)
            return 1
        print(f"validated against {args.crd}", file=sys.stderr)
    else:
        print(f"CRD {args.crd} not found: not validated", file=sys.stderr)
    text = json.dumps(manifest, indent=2) + "\n" if args.format == "json" else yaml.safe_dump(manifest, sort_keys=False)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
