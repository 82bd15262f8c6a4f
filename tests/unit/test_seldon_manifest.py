"""The SeldonDeployment for GKE, generated offline and validated against Seldon Core 1.18.2's own CRD schema.

Validated twice: the manifest the CLI prints (built with ZenML's SeldonDeployment model) and the object
ZenML's Seldon deployer would send to the cluster (its `provision()` run against a capturing client).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployers.seldon_gke import cli
from deployers.seldon_gke.adapter import seldon_deployment_config, seldon_deployment_manifest, zenml_applied_manifest
from deployers.seldon_gke.spec import GRAPH_NODE, MODEL_MOUNT, MODEL_VOLUME, is_quantity, seldon_deployment_spec
from deployers.serving_class import seldon_parameters
from tests.unit.seldon_schema import semantic_errors, validate_against_crd

REPO_ROOT = Path(__file__).resolve().parents[2]
SPECS = REPO_ROOT.parent / "shared" / "specs"
CRD = SPECS / "seldon-core-1.18.2" / "seldondeployments-crd.yaml.gz"
#: sha256 of the uncompressed CRD, from ../shared/specs/README.md (SeldonIO/seldon-core v1.18.2).
CRD_SHA256 = "94286c86a405436eb5aa1a15e229d00eea60a5dcd9b9e87550a07ec10242ff6a"

needs_crd = pytest.mark.skipif(not CRD.is_file(), reason=f"Seldon Core CRD not found at {CRD} (../shared/specs absent)")

MODEL_URI = "gs://arxiv-zenml-artifacts/endpoint/model/3f2a/model"
IMAGE = "europe-west4-docker.pkg.dev/my-project/arxiv/arxiv-serving:0.1.0"
RESOURCES = {"requests": {"cpu": "1500m", "memory": "2Gi"}, "limits": {"cpu": "3", "memory": "4Gi"}}
NAMESPACE = "models"


def make_spec(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "arxiv-classifier-v7",
        "image": IMAGE,
        "model_uri": MODEL_URI,
        "model_name": "arxiv-classifier",
        "model_version": "7",
        "replicas": 3,
        "resources": RESOURCES,
        "max_batch": 32,
        "top_k": 5,
        "service_account": "arxiv-serving",
        "inference_threads": 2,
        "workers": 2,
        "threads": 4,
    }
    fields.update(overrides)
    return seldon_deployment_spec(**fields)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return make_spec()


@pytest.fixture(scope="module")
def manifest(spec: dict[str, Any]) -> dict[str, Any]:
    return seldon_deployment_manifest(spec, "arxiv-classifier-v7", NAMESPACE, {"team": "ml"})


@pytest.fixture(scope="module")
def zenml_manifest(spec: dict[str, Any]) -> dict[str, Any]:
    config = seldon_deployment_config(spec, pipeline_name="deployment", pipeline_step_name="endpoint_deployer")
    return zenml_applied_manifest(config, NAMESPACE)


def predictor(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["predictors"][0]


def pod(manifest: dict[str, Any]) -> dict[str, Any]:
    return predictor(manifest)["componentSpecs"][0]["spec"]


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod(manifest)["containers"]
    return only


# --- against the CRD --------------------------------------------------------------------------------------


@needs_crd
def test_crd_is_seldon_core_1_18_2() -> None:
    assert hashlib.sha256(gzip.decompress(CRD.read_bytes())).hexdigest() == CRD_SHA256


@needs_crd
@pytest.mark.parametrize("which", ["manifest", "zenml_manifest"])
def test_manifest_is_valid_against_the_crd(which: str, request: pytest.FixtureRequest) -> None:
    generated = request.getfixturevalue(which)
    assert validate_against_crd(generated, CRD) == []
    assert semantic_errors(generated) == []


@needs_crd
def test_the_generated_yaml_round_trips_and_validates(manifest: dict[str, Any]) -> None:
    text = yaml.safe_dump(manifest, sort_keys=False)
    assert validate_against_crd(yaml.safe_load(text), CRD) == []


def _broken(manifest: dict[str, Any], edit: Any) -> dict[str, Any]:
    copied = copy.deepcopy(manifest)
    edit(copied)
    return copied


def _set(path: list[Any], value: Any) -> Any:
    def edit(m: dict[str, Any]) -> None:
        node = m
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


def _delete(path: list[Any]) -> Any:
    def edit(m: dict[str, Any]) -> None:
        node = m
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return edit


P0 = ["spec", "predictors", 0]
C0 = [*P0, "componentSpecs", 0, "spec", "containers", 0]

INVALID = {
    "replicas as a string": (_set([*P0, "replicas"], "3"), "spec.predictors[0].replicas"),
    "spec replicas as a string": (_set(["spec", "replicas"], "3"), "spec.replicas"),
    "replicas beyond int32": (_set([*P0, "replicas"], 2**31), "spec.predictors[0].replicas"),
    "missing graph": (_delete([*P0, "graph"]), "'graph' is a required property"),
    "missing predictors": (_delete(["spec", "predictors"]), "'predictors' is a required property"),
    "graph node without a name": (_delete([*P0, "graph", "name"]), "'name' is a required property"),
    "parameter without a value": (_delete([*P0, "graph", "parameters", 0, "value"]), "'value' is a required"),
    "parameter value not a string": (_set([*P0, "graph", "parameters", 3, "value"], 32), "parameters[3].value"),
    "container without a name": (_delete([*C0, "name"]), "'name' is a required property"),
    "pod spec without containers": (_delete([*P0, "componentSpecs", 0, "spec", "containers"]), "'containers'"),
    "misspelt graph field": (_set([*P0, "graph", "modelURI"], MODEL_URI), "'modelURI' was unexpected"),
    "misspelt container field": (_set([*C0, "imagePullpolicy"], "Always"), "'imagePullpolicy' was unexpected"),
    "bad cpu quantity": (_set([*C0, "resources", "limits", "cpu"], "2 cores"), "resources.limits.cpu"),
    "containerPort as a string": (_set([*C0, "ports", 0, "containerPort"], "9000"), "ports[0].containerPort"),
    "env entry without a name": (_delete([*C0, "env", 0, "name"]), "'name' is a required property"),
    "wrong kind": (_set(["kind"], "SeldonDeploymentX"), "kind"),
    "wrong apiVersion": (_set(["apiVersion"], "machinelearning.seldon.io/v2"), "apiVersion"),
    "uppercase name": (_set(["metadata", "name"], "Arxiv_Classifier"), "metadata.name"),
    "bad label value": (_set(["metadata", "labels", "zenml.model_uri"], "gs://bucket/x"), "metadata.labels"),
}


@needs_crd
@pytest.mark.parametrize("case", sorted(INVALID))
def test_the_validator_rejects_broken_manifests(case: str, manifest: dict[str, Any]) -> None:
    """Each single defect is caught (so a passing validation means something)."""
    edit, expected = INVALID[case]
    errors = validate_against_crd(_broken(manifest, edit), CRD)
    assert errors, f"{case}: accepted"
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("case", "edit", "expected"),
    [
        ("graph node renamed", _set([*P0, "graph", "name"], "model"), "no container of that name"),
        ("request above limit", _set([*C0, "resources", "requests", "memory"], "8Gi"), "above its limit"),
        ("probe on an undeclared port", _set([*C0, "readinessProbe", "httpGet", "port"], 8080), "readinessProbe"),
        ("mount of a missing volume", _set([*C0, "volumeMounts", 0, "name"], "nope"), "volume 'nope' not found"),
        ("predictor name with underscore", _set([*P0, "name"], "arxiv_classifier"), "DNS-1123"),
    ],
)
def test_semantic_checks_reject_what_the_webhook_or_pod_validation_would(
    case: str, edit: Any, expected: str, manifest: dict[str, Any]
) -> None:
    errors = semantic_errors(_broken(manifest, edit))
    assert any(expected in e for e in errors), (case, errors)


# --- key fields -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["manifest", "zenml_manifest"])
def test_key_fields(which: str, request: pytest.FixtureRequest) -> None:
    m = request.getfixturevalue(which)
    assert m["apiVersion"] == "machinelearning.seldon.io/v1"
    assert m["kind"] == "SeldonDeployment"
    assert m["metadata"]["namespace"] == NAMESPACE
    assert m["spec"]["replicas"] == 3
    p = predictor(m)
    assert p["replicas"] == 3
    assert p["name"] == "arxiv-classifier"
    # The graph node is a custom MODEL served by the container of the same name (no prepackaged server).
    assert p["graph"]["name"] == GRAPH_NODE == container(m)["name"]
    assert p["graph"]["type"] == "MODEL"
    assert "implementation" not in p["graph"]
    assert p["graph"]["serviceAccountName"] == "arxiv-serving"
    assert pod(m)["serviceAccountName"] == "arxiv-serving"
    c = container(m)
    assert c["image"] == IMAGE
    assert c["resources"] == RESOURCES
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["MODEL_DIR"] == MODEL_MOUNT == "/mnt/models"
    assert env["GUNICORN_WORKERS"] == "2"
    assert env["GUNICORN_THREADS"] == "4"
    assert env["PERSISTENCE"] == "0"
    assert {(port["name"], port["containerPort"]) for port in c["ports"]} == {("http", 9000), ("metrics", 6000)}
    assert c["readinessProbe"]["httpGet"] == {"path": "/health/status", "port": 9000, "scheme": "HTTP"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health/ping", "port": 9000, "scheme": "HTTP"}
    assert c["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("which", ["manifest", "zenml_manifest"])
def test_the_storage_initializer_copies_the_model_uri_to_mnt_models(which: str, request: pytest.FixtureRequest) -> None:
    m = request.getfixturevalue(which)
    (init,) = pod(m)["initContainers"]
    assert init["image"].startswith("seldonio/rclone-storage-initializer:")
    assert init["args"] == [MODEL_URI, "/mnt/models"]
    (volume,) = pod(m)["volumes"]
    assert volume == {"name": MODEL_VOLUME, "emptyDir": {}}
    writes = [v for v in init["volumeMounts"] if v["mountPath"] == "/mnt/models"]
    reads = [v for v in container(m)["volumeMounts"] if v["mountPath"] == "/mnt/models"]
    assert writes[0]["name"] == reads[0]["name"] == volume["name"]
    assert reads[0]["readOnly"] is True
    # Workload Identity without a secret: rclone authenticates as the pod.
    env = {e["name"]: e["value"] for e in init["env"]}
    assert env["RCLONE_CONFIG_GS_ENV_AUTH"] == "true"


def test_a_storage_secret_is_mounted_into_the_initializer_only() -> None:
    m = seldon_deployment_manifest(make_spec(storage_secret="zenml-seldon-core-abc"), "x", NAMESPACE)
    (init,) = pod(m)["initContainers"]
    assert init["envFrom"] == [{"secretRef": {"name": "zenml-seldon-core-abc", "optional": True}}]
    assert "env" not in init
    assert "envFrom" not in container(m)


def test_parameters_are_the_serving_class_parameters(manifest: dict[str, Any]) -> None:
    params = {p["name"]: (p["value"], p["type"]) for p in predictor(manifest)["graph"]["parameters"]}
    assert params == {
        "model_dir": ("/mnt/models", "STRING"),
        "model_name": ("arxiv-classifier", "STRING"),
        "model_version": ("7", "STRING"),
        "max_batch": ("32", "INT"),
        "top_k": ("5", "INT"),
        "inference_threads": ("2", "INT"),
    }


SERVING_PYTHON = REPO_ROOT / ".venv-serving" / "bin" / "python"


@pytest.mark.skipif(not SERVING_PYTHON.is_file(), reason="the serving virtualenv is absent (`make serving-env`)")
def test_the_serving_class_accepts_every_parameter() -> None:
    """Seldon passes the graph parameters as keyword arguments: the real class must accept each one."""
    params = seldon_parameters(
        model_dir=MODEL_MOUNT, model_name="m", model_version="7", max_batch=32, top_k=5, inference_threads=2
    )
    kwargs = json.dumps({p["name"]: p["value"] for p in params})
    bind = (
        "import inspect, json, sys; from arxiv_model import ArxivClassifier as C; "
        "inspect.signature(C).bind(**json.loads(sys.argv[1]))"
    )
    serving = REPO_ROOT / "serving"
    run = subprocess.run(
        [str(SERVING_PYTHON), "-c", bind, kwargs], cwd=serving, env={"PYTHONPATH": str(serving)}, capture_output=True
    )
    assert run.returncode == 0, run.stderr.decode()[-500:]
    refused = subprocess.run(
        [str(SERVING_PYTHON), "-c", bind, json.dumps({"no_such_option": "1"})],
        cwd=serving,
        env={"PYTHONPATH": str(serving)},
        capture_output=True,
    )
    assert refused.returncode != 0  # so the check above can fail


def test_parameters_match_the_local_deployer() -> None:
    """Same names, values and types as the local stack's deployment of the same settings."""
    from deployers.local_seldon.service import LocalSeldonDeploymentConfig

    local = LocalSeldonDeploymentConfig(
        model_dir="/mnt/models",
        model_name="arxiv-classifier",
        model_version="7",
        serving_python="/usr/bin/python3",
        max_batch=32,
        top_k=5,
        inference_threads=2,
    )
    graph = predictor(seldon_deployment_manifest(make_spec(), "x", NAMESPACE))["graph"]
    assert graph["parameters"] == local.seldon_parameters()


@pytest.mark.parametrize(("replicas", "cpu", "memory"), [(1, "500m", "1Gi"), (5, "4", "8Gi")])
def test_resources_and_replicas_come_from_the_inputs(replicas: int, cpu: str, memory: str) -> None:
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}
    spec = make_spec(replicas=replicas, resources=resources)
    for m in (
        seldon_deployment_manifest(spec, "x", NAMESPACE),
        zenml_applied_manifest(seldon_deployment_config(spec), NAMESPACE),
    ):
        assert m["spec"]["replicas"] == predictor(m)["replicas"] == replicas
        assert container(m)["resources"] == resources


def test_zenml_config_and_what_zenml_applies(spec: dict[str, Any], zenml_manifest: dict[str, Any]) -> None:
    config = seldon_deployment_config(spec, pipeline_name="deployment", pipeline_step_name="endpoint_deployer")
    assert config.is_custom_deployment is True
    assert config.model_uri == MODEL_URI
    assert config.model_name == "arxiv-classifier"
    assert config.model_version == "7"
    assert config.replicas == 3
    assert config.secret_name is None
    assert config.resources is None
    assert config.spec == pod({"spec": spec})
    labels = zenml_manifest["metadata"]["labels"]
    assert labels["app"] == "zenml"
    assert labels["zenml.pipeline_step_name"] == "endpoint_deployer"
    assert zenml_manifest["metadata"]["name"] == "zenml-" + labels["zenml.service_uuid"]
    # ZenML can recreate its service from the deployed object (what `find_model_server` does).
    from zenml.integrations.seldon.services import SeldonDeploymentConfig

    assert "zenml.service_config" in zenml_manifest["metadata"]["annotations"]
    recreated = SeldonDeploymentConfig.model_validate_json(
        zenml_manifest["metadata"]["annotations"]["zenml.service_config"]
    )
    assert recreated.spec == config.spec


def test_anything_zenml_would_drop_is_an_error() -> None:
    """ZenML's custom deployment drops graph.modelUri/implementation: putting them in the spec fails loudly."""
    spec = make_spec()
    spec["predictors"][0]["graph"]["modelUri"] = MODEL_URI
    with pytest.raises(ValueError, match=r"graph\.modelUri"):
        seldon_deployment_manifest(spec, "x", NAMESPACE)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"model_uri": "/home/me/.config/zenml/local_stores/abc/model"}, "gs:// or s3://"),
        ({"replicas": 0}, "replicas"),
        ({"replicas": "2"}, "replicas"),
        ({"resources": {"requests": {"cpu": "two"}}}, "quantity"),
        ({"resources": {"request": {"cpu": "1"}}}, "requests"),
        ({"max_batch": 0}, "max_batch"),
        ({"image": ""}, "image"),
    ],
)
def test_bad_inputs_are_refused(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_spec(**overrides)


def test_model_names_become_kubernetes_names() -> None:
    spec = make_spec(model_name="arxiv_classifier")
    assert predictor({"spec": spec})["name"] == "arxiv-classifier"
    params = {p["name"]: p["value"] for p in predictor({"spec": spec})["graph"]["parameters"]}
    assert params["model_name"] == "arxiv_classifier"  # the served name is unchanged


# --- CLI --------------------------------------------------------------------------------------------------


@needs_crd
def test_cli_writes_a_valid_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "manifest.yaml"
    argv = ["--model-uri", MODEL_URI, "--image", IMAGE, "--namespace", NAMESPACE, "--replicas", "2"]
    argv += ["--cpu-limit", "4", "--label", "team=ml", "--out", str(out)]
    assert cli.main(argv) == 0
    assert "wrote" in capsys.readouterr().err
    written = yaml.safe_load(out.read_text())
    assert validate_against_crd(written, CRD) == []
    assert written["metadata"]["labels"] == {"team": "ml"}
    assert predictor(written)["replicas"] == 2
    assert container(written)["resources"]["limits"]["cpu"] == "4"
    assert pod(written)["initContainers"][0]["args"] == [MODEL_URI, "/mnt/models"]


def test_cli_refuses_a_local_model_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--model-uri", "/tmp/model", "--image", IMAGE]) == 2
    assert "gs:// or s3://" in capsys.readouterr().err


@needs_crd
def test_the_readme_commands_print_and_check_a_manifest(tmp_path: Path) -> None:
    """`python -m deployers.seldon_gke ... --out F`, then the hand-run check `python -m tests.unit.seldon_schema F`."""
    out = tmp_path / "manifest.yaml"
    argv = ["--model-uri", MODEL_URI, "--image", IMAGE, "--service-account", "arxiv-serving", "--out", str(out)]
    printed = subprocess.run([sys.executable, "-m", "deployers.seldon_gke", *argv], cwd=REPO_ROOT, capture_output=True)
    assert printed.returncode == 0, printed.stderr.decode()
    checked = subprocess.run(
        [sys.executable, "-m", "tests.unit.seldon_schema", str(out)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{out}: valid" in checked.stdout
    broken = yaml.safe_load(out.read_text())
    broken["spec"]["predictors"][0]["replicas"] = "2"
    out.write_text(yaml.safe_dump(broken))
    failed = subprocess.run(
        [sys.executable, "-m", "tests.unit.seldon_schema", str(out)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert "spec.predictors[0].replicas" in failed.stdout


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        *[("1500m", True), ("2Gi", True), ("1", True), (2, True), ("0.5", True), ("1e3", True)],
        *[("2 cores", False), ("two", False), ("", False), ("-1", False), ("NaN", False), ("Infinity", False)],
        *[(True, False), ("1Qi", False)],
    ],
)
def test_quantities_are_what_kubernetes_accepts(value: Any, ok: bool) -> None:
    assert is_quantity(value) is ok
