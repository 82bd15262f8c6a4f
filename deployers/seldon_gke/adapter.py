"""ZenML's Seldon Core model deployer (the gcp stack) behind the project's deployer interface.

What ZenML applies. `SeldonDeploymentConfig.spec` is the *pod spec* of `componentSpecs[0]` (not the
SeldonDeployment spec), the graph node is always named `classifier`, `SeldonDeploymentConfig.resources`
becomes the predictor's `engineResources` (the Seldon executor, not the model container), and `replicas`
is set on the spec and the predictor. `seldon_deployment_config` turns a spec from `spec.py` into
ZenML's config within those rules; `seldon_deployment_manifest` builds the whole object with ZenML's own
model of it (what the CLI prints); `zenml_applied_manifest` runs ZenML's own
`SeldonDeploymentService.provision()` against a capturing client, so a test sees exactly the object
ZenML would send to the cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from deployers.errors import DeploymentError
from deployers.interface import ModelIdentity, RunContext, start_new_service
from deployers.seldon_gke.spec import (
    DEFAULT_NAMESPACE,
    GRAPH_NODE,
    graph_parameter,
    k8s_name,
    model_uri_of,
    pod_spec_of,
    predictor_of,
    seldon_deployment_spec,
)
from deployers.serving_class import RequestLogSettings

if TYPE_CHECKING:  # pragma: no cover
    from zenml.integrations.seldon.model_deployers import SeldonModelDeployer
    from zenml.integrations.seldon.services import SeldonDeploymentConfig, SeldonDeploymentService

    from arxiv_classifier.config import ServingConfig

#: Recorded as the deployment's `zenml.model_type` label (not used by Seldon for a custom graph).
IMPLEMENTATION = "custom"


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

    predictor = predictor_of(spec)
    graph = predictor["graph"]
    if graph.get("name") != GRAPH_NODE:
        raise ValueError(f"ZenML names the graph node {GRAPH_NODE!r}; the spec's is {graph.get('name')!r}")
    name = model_name or graph_parameter(graph, "model_name") or predictor["name"]
    version = model_version if model_version is not None else graph_parameter(graph, "model_version")
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
        spec=copy.deepcopy(pod_spec_of(predictor)),
        serviceAccountName=graph.get("serviceAccountName"),
        pipeline_name=pipeline_name,
        pipeline_step_name=pipeline_step_name,
        service_name=service_name,
        extra_args={k: v for k, v in (("model_version", version), ("deployed_by_run", deployed_by_run)) if v},
    )


def server_config(
    model_dir: str, model: ModelIdentity, serving: ServingConfig, run: RunContext
) -> SeldonDeploymentConfig:
    """The ZenML config of a custom SeldonDeployment serving `model_dir` with the serving image.

    Raises:
        DeploymentError: no serving image is configured, or the model or the request log is not in a bucket.
    """
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
    request_log = RequestLogSettings.from_serving(serving)
    if request_log.enabled and request_log.uri and not request_log.uri.startswith("gs://"):
        raise DeploymentError(
            f"the request log {request_log.uri} is not in a bucket, so the pods would write it inside themselves; "
            "set serving.request_log_uri to gs://BUCKET/PREFIX (or serving.request_log: false)"
        )
    spec = seldon_deployment_spec(
        name=model.service_name,
        image=serving.image,
        model_uri=model_dir,
        model_name=model.name,
        model_version=model.version,
        replicas=serving.replicas,
        resources=serving.resources,
        max_batch=serving.max_batch,
        max_text_chars=serving.max_text_chars,
        max_request_bytes=serving.max_request_bytes,
        top_k=serving.top_k,
        inference_threads=serving.inference_threads,
        workers=serving.workers,
        threads=serving.threads,
        service_account=serving.service_account,
        storage_secret=serving.storage_secret,
        request_log=request_log,
    )
    return seldon_deployment_config(
        spec,
        pipeline_name=run.pipeline_name,
        pipeline_step_name=run.step_name,
        deployed_by_run=run.run_name,
        service_name=model.service_name,
    )


class SeldonCoreServerDeployer:
    """The deployer interface on ZenML's `SeldonModelDeployer` (flavor `seldon`)."""

    def __init__(self, deployer: SeldonModelDeployer) -> None:
        self.deployer = deployer

    def deploy_new_server(
        self, model_dir: str, model: ModelIdentity, serving: ServingConfig, run: RunContext, timeout: int
    ) -> SeldonDeploymentService:
        """A new SeldonDeployment of our serving image; its init container copies `model_dir` from the bucket."""
        from zenml.integrations.seldon.services import SeldonDeploymentService

        config = server_config(model_dir, model, serving, run)
        service = start_new_service(self.deployer, config, SeldonDeploymentService.SERVICE_TYPE, timeout)
        return service  # type: ignore[return-value]

    def retire_server(self, uuid: UUID, timeout: int) -> str:
        """Delete the SeldonDeployment: ZenML's Seldon deployer cannot stop one and keep it."""
        self.deployer.delete_model_server(uuid, timeout=timeout)
        return "deleted"


def _check_zenml_kept(spec: Mapping[str, Any], built: Mapping[str, Any]) -> None:
    """Raise if ZenML's model of a SeldonDeployment dropped or changed anything of `spec`'s predictor."""
    want, got = predictor_of(spec), predictor_of(built)
    problems = [
        f"predictor.{key}" for key in want if key not in ("componentSpecs", "graph") and want[key] != got.get(key)
    ]
    problems += [f"graph.{key}" for key in want["graph"] if want["graph"][key] != got["graph"].get(key)]
    if pod_spec_of(want) != pod_spec_of(got):
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

    predictor = predictor_of(spec)
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
        spec=copy.deepcopy(pod_spec_of(predictor)),
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
