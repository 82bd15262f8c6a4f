"""The deployer interface and the deployment queries, against the test session's own ZenML store.

The local deployer's servers really start in tests/pipelines/test_deployment_pipeline.py; here the
interface's dispatch, the Seldon Core adapter's config, the service bookkeeping and the queries'
filtering and messages are checked without starting one.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from zenml.client import Client
from zenml.enums import StackComponentType

import deployers
from arxiv_classifier.config import ServingConfig
from deployers.deployments import (
    DEPLOYER_STEP,
    DeploymentError,
    NoRunningDeployment,
    active_model_deployer,
    base_url,
    current_deployments,
    running_endpoint,
)
from deployers.interface import ServerDeployer, start_new_service
from deployers.local_seldon.service import LocalSeldonDeploymentConfig, LocalSeldonDeploymentService
from deployers.seldon_gke.adapter import SeldonCoreServerDeployer, server_config, zenml_applied_manifest
from deployers.serving_env import DEFAULT_SERVING_VENV

STACK = "deployers-test"
LOCAL_DEPLOYER = "deployers-test-local-seldon"
SELDON_DEPLOYER = "deployers-test-seldon"
IMAGE = "europe-west4-docker.pkg.dev/my-project/arxiv/arxiv-serving:0.1.0"
MODEL = deployers.ModelIdentity(name="arxiv-classifier", version="7", id="")
RUN = deployers.RunContext(pipeline_name="deployment", step_name=DEPLOYER_STEP, run_name="deployment-2026_01_01")
CRD = Path(__file__).resolve().parents[3] / "shared/specs/seldon-core-1.18.2/seldondeployments-crd.yaml.gz"


def _ensure_component(name: str, flavor: str, configuration: dict[str, Any]) -> None:
    client = Client()
    try:
        client.get_stack_component(StackComponentType.MODEL_DEPLOYER, name)
    except KeyError:
        client.create_stack_component(
            name=name, flavor=flavor, component_type=StackComponentType.MODEL_DEPLOYER, configuration=configuration
        )


@pytest.fixture(scope="module")
def local_stack() -> Iterator[Any]:
    """A stack with the local Seldon deployer, active for the module; the previous stack comes back after."""
    client = Client()
    try:
        client.get_flavor_by_name_and_type("local_seldon", StackComponentType.MODEL_DEPLOYER)
    except KeyError:
        client.create_flavor(
            source="deployers.local_seldon.flavor.LocalSeldonModelDeployerFlavor",
            component_type=StackComponentType.MODEL_DEPLOYER,
        )
    _ensure_component(LOCAL_DEPLOYER, "local_seldon", {})
    try:
        client.get_stack(STACK)
    except KeyError:
        client.create_stack(
            name=STACK,
            components={
                StackComponentType.ORCHESTRATOR: "default",
                StackComponentType.ARTIFACT_STORE: "default",
                StackComponentType.MODEL_DEPLOYER: LOCAL_DEPLOYER,
            },
        )
    before = client.active_stack_model.name
    client.activate_stack(STACK)
    try:
        yield client.active_stack.model_deployer
    finally:
        Client().activate_stack(before)


@pytest.fixture
def registered(local_stack: Any, tmp_path: Path) -> Iterator[Any]:
    """Registers stopped deployments (as the deployer records them) and deletes them afterwards."""
    made: list[Any] = []

    def register(model_name: str, step: str = DEPLOYER_STEP) -> LocalSeldonDeploymentService:
        config = LocalSeldonDeploymentConfig(
            model_dir=str(tmp_path),
            model_name=model_name,
            model_version="1",
            serving_python=sys.executable,
            pipeline_name=RUN.pipeline_name,
            pipeline_step_name=step,
            service_name=f"{model_name}-v1",
            deployed_by_run=f"run-{len(made)}",  # the store refuses two services with the same config
        )
        client = Client()
        record = client.create_service(config=config, service_type=LocalSeldonDeploymentService.SERVICE_TYPE)
        service = LocalSeldonDeploymentService(uuid=record.id, config=config)
        client.update_service(
            id=record.id,
            service_source=service.model_dump().get("type"),
            admin_state=service.admin_state,
            status=service.status.model_dump(),
            endpoint=service.endpoint.model_dump(),
        )
        made.append(record.id)
        return service

    yield register
    for uuid in made:
        Client().delete_service(uuid)


def _signature(method: Any) -> list[str]:
    return [name for name in inspect.signature(method).parameters if name != "self"]


# --- the interface ----------------------------------------------------------------------------------------


def test_the_local_deployer_is_its_own_implementation(local_stack: Any) -> None:
    implementation = deployers.for_deployer(local_stack)
    assert implementation is local_stack
    for method in ("deploy_new_server", "retire_server"):
        assert _signature(getattr(type(implementation), method)) == _signature(getattr(ServerDeployer, method))


def test_zenmls_seldon_deployer_gets_the_adapter() -> None:
    _ensure_component(
        SELDON_DEPLOYER,
        "seldon",
        {
            "kubernetes_context": "gke_p_z_c",
            "kubernetes_namespace": "seldon",
            "base_url": "http://10.0.0.1",
            "secret": None,
            "kubernetes_secret_name": None,
        },
    )
    from zenml.stack import StackComponent

    model = Client().get_stack_component(StackComponentType.MODEL_DEPLOYER, SELDON_DEPLOYER)
    seldon = StackComponent.from_model(model)
    implementation = deployers.for_deployer(seldon)  # type: ignore[arg-type]
    assert isinstance(implementation, SeldonCoreServerDeployer)
    assert implementation.deployer is seldon
    for method in ("deploy_new_server", "retire_server"):
        assert _signature(getattr(SeldonCoreServerDeployer, method)) == _signature(getattr(ServerDeployer, method))


def test_an_unknown_flavor_is_refused_with_the_supported_ones() -> None:
    with pytest.raises(DeploymentError, match=r"'kserve' is not supported.*'local_seldon' or 'seldon'"):
        deployers.for_deployer(SimpleNamespace(flavor="kserve"))  # type: ignore[arg-type]


# --- Seldon Core: what the adapter deploys -----------------------------------------------------------------


def test_the_seldon_config_comes_from_the_serving_settings_and_the_run() -> None:
    serving = ServingConfig(image=IMAGE, replicas=2, service_account="arxiv-serving", inference_threads=2)
    config = server_config("gs://bucket/classifier/abc/model", MODEL, serving, RUN)
    assert config.model_uri == "gs://bucket/classifier/abc/model"
    assert config.model_name == "arxiv-classifier" and config.model_version == "7"
    assert config.service_name == "arxiv-classifier-v7"
    assert config.pipeline_step_name == DEPLOYER_STEP and config.pipeline_name == "deployment"
    assert config.replicas == 2
    assert config.extra_args["deployed_by_run"] == "deployment-2026_01_01"
    assert config.parameters is not None and config.spec is not None
    params = {p.name: p.value for p in config.parameters}
    assert params["inference_threads"] == "2" and params["max_batch"] == str(serving.max_batch)
    assert "quantize" not in params and "torch_threads" not in params
    (container,) = config.spec["containers"]
    assert container["image"] == IMAGE
    assert container["resources"] == serving.resources
    manifest = zenml_applied_manifest(config, "seldon")
    assert manifest["metadata"]["labels"]["zenml.pipeline_step_name"] == DEPLOYER_STEP
    if CRD.is_file():
        from tests.unit.seldon_schema import validate_manifest

        assert validate_manifest(manifest, CRD) == []


@pytest.mark.parametrize(
    ("model_dir", "image", "match"),
    [
        ("gs://bucket/model", None, "serving.image is not set"),
        ("/home/me/.config/zenml/local_stores/abc/model", IMAGE, "not in a bucket"),
    ],
)
def test_the_seldon_adapter_refuses_what_cannot_deploy(model_dir: str, image: str | None, match: str) -> None:
    with pytest.raises(DeploymentError, match=match):
        server_config(model_dir, MODEL, ServingConfig(image=image), RUN)  # type: ignore[call-arg]


# --- service bookkeeping ----------------------------------------------------------------------------------


def test_a_failed_start_leaves_no_service_behind(local_stack: Any, tmp_path: Path) -> None:
    config = LocalSeldonDeploymentConfig(
        model_dir=str(tmp_path),  # not a classifier directory: the deployer refuses it before starting
        model_name="failing-model",
        serving_python=sys.executable,
        pipeline_step_name=DEPLOYER_STEP,
    )
    with pytest.raises(FileNotFoundError, match="not a classifier directory"):
        start_new_service(local_stack, config, LocalSeldonDeploymentService.SERVICE_TYPE, timeout=5)
    assert current_deployments(local_stack, "failing-model") == []


@pytest.mark.skipif(not (DEFAULT_SERVING_VENV / "bin" / "python").is_file(), reason="the serving virtualenv is absent")
def test_deploy_new_server_through_the_interface_refuses_a_non_model(local_stack: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a classifier directory"):
        deployers.deploy_new_server(local_stack, str(tmp_path), MODEL, ServingConfig(), RUN)  # type: ignore[call-arg]
    assert current_deployments(local_stack, MODEL.name) == []


# --- queries ----------------------------------------------------------------------------------------------


def test_current_deployments_are_this_models_and_the_pipelines_newest_first(registered: Any, local_stack: Any) -> None:
    first = registered("model-a")
    second = registered("model-a")
    registered("model-b")
    registered("model-a", step="some_other_step")
    assert [s.uuid for s in current_deployments(local_stack, "model-a")] == [second.uuid, first.uuid]


def test_a_stopped_deployment_is_not_the_running_endpoint(registered: Any) -> None:
    registered("model-c")
    newest = registered("model-c")
    pattern = r"no running deployment of 'model-c'.*run.py --pipeline deploy"
    with pytest.raises(NoRunningDeployment, match=pattern) as exc:
        running_endpoint("model-c")
    assert f"the newest one, {newest.uuid}" in str(exc.value)  # the one to bring back, by name
    assert f"`zenml model-deployer models start {newest.uuid}`" in str(exc.value)


def test_a_stack_without_a_model_deployer_says_how_to_get_one(local_stack: Any) -> None:
    client = Client()
    client.activate_stack("default")
    try:
        with pytest.raises(DeploymentError, match=r"has no model deployer.*--setup-stack local"):
            active_model_deployer()
        with pytest.raises(DeploymentError, match="has no model deployer"):
            running_endpoint("arxiv-classifier")
    finally:
        client.activate_stack(STACK)


def test_base_url_of_each_kind_of_service() -> None:
    local = SimpleNamespace(
        base_url="http://127.0.0.1:8001", prediction_url="http://127.0.0.1:8001/api/v1.0/predictions"
    )
    seldon = SimpleNamespace(prediction_url="http://10.0.0.1/seldon/seldon/zenml-abc/api/v0.1/predictions")
    assert base_url(local) == "http://127.0.0.1:8001"
    assert base_url(seldon) == "http://10.0.0.1/seldon/seldon/zenml-abc"
    assert base_url(SimpleNamespace(prediction_url=None)) is None
