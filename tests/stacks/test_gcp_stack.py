"""The `gcp` stack: settings, idempotent registration into the session's throw-away store, switching.

Nothing here needs credentials or a network: ZenML registers GCP components without them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from zenml.client import Client
from zenml.enums import StackComponentType

from stacks import doctor
from stacks.gcp import SETTINGS_HELP, GcpSettings, env_name, resolve_settings, setup_gcp_stack
from stacks.registry import StackError, ensure_stack, load_stack_spec, stack_variables
from tests.conftest import REPO_ROOT

GCP_COMPONENTS = {
    StackComponentType.ORCHESTRATOR: ("gcp_vertex", "vertex"),
    StackComponentType.ARTIFACT_STORE: ("gcp_gcs", "gcp"),
    StackComponentType.CONTAINER_REGISTRY: ("gcp_artifact_registry", "gcp"),
    StackComponentType.IMAGE_BUILDER: ("gcp_cloud_build", "gcp"),
    StackComponentType.EXPERIMENT_TRACKER: ("gcp_mlflow", "mlflow"),
    StackComponentType.MODEL_DEPLOYER: ("gcp_seldon", "seldon"),
}


def test_every_variable_of_the_description_is_a_documented_setting() -> None:
    required, optional = stack_variables("gcp")
    assert "ARXIV_GCP_PROJECT" in required and "ARXIV_GCP_SELDON_NAMESPACE" in optional
    assert set(required) | set(optional) <= set(SETTINGS_HELP)
    settings_required = {env_name(n) for n, field in GcpSettings.model_fields.items() if field.is_required()}
    assert settings_required == set(required), "the settings require what the description requires"
    header = (REPO_ROOT / "stacks" / "gcp.yaml").read_text()
    for name in SETTINGS_HELP:
        assert name in header, f"{name} is not documented in stacks/gcp.yaml"


def test_every_missing_setting_is_named_at_once(gcp_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ARXIV_GCP_PROJECT", "ARXIV_GCP_BUCKET", "ARXIV_GCP_MLFLOW_PASSWORD"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("ARXIV_GCP_ARTIFACT_REPO", "")  # an empty variable counts as unset
    with pytest.raises(StackError) as err:
        resolve_settings()
    message = str(err.value)
    for name in ("ARXIV_GCP_PROJECT", "ARXIV_GCP_BUCKET", "ARXIV_GCP_MLFLOW_PASSWORD", "ARXIV_GCP_ARTIFACT_REPO"):
        assert name in message
    assert "ARXIV_GCP_REGION" not in message
    monkeypatch.delenv("ARXIV_GCP_MLFLOW_USERNAME")
    with pytest.raises(StackError, match=r"ARXIV_GCP_MLFLOW_USERNAME \+ ARXIV_GCP_MLFLOW_PASSWORD \(or"):
        resolve_settings()
    monkeypatch.setenv("ARXIV_GCP_MLFLOW_TOKEN", "t0ken")  # a token alone is enough
    with pytest.raises(StackError) as err:
        resolve_settings()
    assert "MLFLOW" not in str(err.value)


def test_malformed_settings_are_explained(gcp_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARXIV_GCP_BUCKET", "gs://arxiv-test-bucket")
    monkeypatch.setenv("ARXIV_GCP_REGION", "europe-west4-a")
    with pytest.raises(StackError) as err:
        resolve_settings()
    assert "'gs://arxiv-test-bucket' is not a bucket name without gs://" in str(err.value)
    assert "'europe-west4-a' is not a region" in str(err.value)


def test_setup_without_settings_fails_before_registering(
    gcp_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, restore_active_stack: str
) -> None:
    import run

    monkeypatch.delenv("ARXIV_GCP_GKE_CONTEXT")
    stacks_before = {s.name for s in Client().list_stacks(size=100).items}
    assert run.main(["--setup-stack", "gcp"]) == 2
    assert {s.name for s in Client().list_stacks(size=100).items} == stacks_before
    assert Client().active_stack_model.name == restore_active_stack


def test_settings_file_with_short_keys_and_environment_precedence(
    tmp_path: Path, gcp_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in gcp_env:
        monkeypatch.delenv(name)
    settings = tmp_path / "gcp.yaml"
    short = {k.removeprefix("ARXIV_GCP_").lower(): v for k, v in gcp_env.items()}
    settings.write_text(json.dumps({**short, "region": "us-central1", "ARXIV_GCP_ARTIFACT_REPO": "long-form"}))
    resolved = resolve_settings(settings)
    assert (resolved["ARXIV_GCP_REGION"], resolved["ARXIV_GCP_ARTIFACT_REPO"]) == ("us-central1", "long-form")
    monkeypatch.setenv("ARXIV_GCP_SETTINGS", str(settings))
    monkeypatch.setenv("ARXIV_GCP_REGION", "europe-west1")
    resolved = resolve_settings()
    assert resolved["ARXIV_GCP_REGION"] == "europe-west1"
    assert resolved["ARXIV_GCP_PROJECT"] == gcp_env["ARXIV_GCP_PROJECT"]
    settings.write_text(json.dumps({**short, "projekt": "typo"}))
    with pytest.raises(StackError, match=r"unknown settings.*projekt"):
        resolve_settings(settings)
    with pytest.raises(StackError, match="does not exist"):
        resolve_settings(tmp_path / "missing.yaml")


def test_description_resolves_placeholders_and_secret_references(gcp_env: dict[str, str]) -> None:
    spec = load_stack_spec("gcp", gcp_env)
    config = {c.type: c.configuration for c in spec.components}
    assert config["artifact_store"] == {"path": "gs://arxiv-test-bucket/zenml"}
    assert config["container_registry"] == {"uri": "europe-west4-docker.pkg.dev/arxiv-test-project/zenml"}
    assert config["orchestrator"]["location"] == "europe-west4"
    assert config["model_deployer"]["secret"] is None and config["model_deployer"]["kubernetes_secret_name"] is None
    assert config["model_deployer"]["kubernetes_namespace"] == "seldon"
    tracker = config["experiment_tracker"]
    assert tracker["tracking_password"] == "{{arxiv_gcp_mlflow.password}}" and tracker["tracking_token"] is None
    assert [(s.name, s.values) for s in spec.secrets] == [
        ("arxiv_gcp_mlflow", {"username": "alice", "password": "not-a-real-password"})
    ]
    with_token = {k: v for k, v in gcp_env.items() if "USERNAME" not in k and "PASSWORD" not in k}
    spec = load_stack_spec("gcp", {**with_token, "ARXIV_GCP_MLFLOW_TOKEN": "t0ken"})
    tracker = next(c.configuration for c in spec.components if c.type == "experiment_tracker")
    assert tracker["tracking_username"] is None and tracker["tracking_token"] == "{{arxiv_gcp_mlflow.token}}"


def test_register_idempotently_switch_to_gcp_and_back(gcp_env: dict[str, str], restore_active_stack: str) -> None:
    import run

    client = Client()
    setup_gcp_stack(activate=False)  # may already exist: another test of the session registered it
    assert client.active_stack_model.name == restore_active_stack
    assert setup_gcp_stack(activate=False) == [], "re-running must change nothing"
    assert ensure_stack("gcp") == [], "the generic path (placeholders from the environment) agrees"

    stack = client.get_stack("gcp", allow_name_prefix_match=False)
    for ctype, (name, flavor) in GCP_COMPONENTS.items():
        comp = stack.components[ctype][0]
        assert (comp.name, comp.flavor_name) == (name, flavor)
    tracker = client.get_stack_component(StackComponentType.EXPERIMENT_TRACKER, "gcp_mlflow")
    assert "not-a-real-password" not in json.dumps(tracker.configuration), "credentials belong in a secret"
    assert client.get_secret("arxiv_gcp_mlflow").secret_values["username"] == "alice"
    deployer = client.get_stack_component(StackComponentType.MODEL_DEPLOYER, "gcp_seldon")
    assert deployer.configuration["secret"] is None
    assert deployer.configuration["kubernetes_context"] == gcp_env["ARXIV_GCP_GKE_CONTEXT"]

    assert run.main(["--setup-stack", "gcp"]) == 0  # what `python run.py --setup-stack gcp` does
    assert client.active_stack_model.name == "gcp"
    assert run.main(["--setup-stack", "local"]) == 0
    assert client.active_stack_model.name == "local"


def test_changed_settings_are_reported_not_applied(gcp_env: dict[str, str], restore_active_stack: str) -> None:
    setup_gcp_stack(activate=False)
    with pytest.raises(StackError) as err:
        ensure_stack("gcp", variables={**gcp_env, "ARXIV_GCP_REGION": "us-central1"})
    message = str(err.value)
    assert "nothing was changed" in message
    assert "location is 'europe-west4', wanted 'us-central1'" in message
    assert "zenml orchestrator update gcp_vertex --location=us-central1" in message
    assert "zenml container-registry update gcp_artifact_registry" in message
    orchestrator = Client().get_stack_component(StackComponentType.ORCHESTRATOR, "gcp_vertex")
    assert orchestrator.configuration["location"] == "europe-west4"


def test_new_credentials_update_the_secret_only(gcp_env: dict[str, str]) -> None:
    setup_gcp_stack(activate=False)
    done = ensure_stack("gcp", variables={**gcp_env, "ARXIV_GCP_MLFLOW_PASSWORD": "rotated"})
    assert done == ["secret 'arxiv_gcp_mlflow' (new values for password)"]
    assert Client().get_secret("arxiv_gcp_mlflow").secret_values["password"] == "rotated"
    assert ensure_stack("gcp", variables=gcp_env) == ["secret 'arxiv_gcp_mlflow' (new values for password)"]


def test_remote_orchestrator_runs_steps_on_the_pipeline_image(
    gcp_env: dict[str, str], restore_active_stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacks.remote import PIPELINE_IMAGE_ENV, remote_settings

    ensure_stack("local", activate=True)
    assert remote_settings() == {}, "the local orchestrator runs no containers"
    setup_gcp_stack(activate=True)
    monkeypatch.delenv(PIPELINE_IMAGE_ENV, raising=False)
    with pytest.raises(StackError, match=f"'gcp_vertex' runs steps in containers: set {PIPELINE_IMAGE_ENV}"):
        remote_settings()
    monkeypatch.setenv(PIPELINE_IMAGE_ENV, "europe-west4-docker.pkg.dev/p/r/arxiv-pipeline:1")
    docker = remote_settings()["docker"]
    assert docker.parent_image == "europe-west4-docker.pkg.dev/p/r/arxiv-pipeline:1"
    assert docker.install_stack_requirements is False


def test_local_stack_is_unaffected(restore_active_stack: str) -> None:
    ensure_stack("local")
    assert ensure_stack("local") == []
    local = Client().get_stack("local", allow_name_prefix_match=False)
    assert local.components[StackComponentType.ORCHESTRATOR][0].flavor_name == "local"


@pytest.mark.slow  # loads every component's implementation (the GCP SDKs)
def test_doctor_says_what_the_gcp_stack_lacks(
    gcp_env: dict[str, str], restore_active_stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Google credentials that need no network (an access token that has not expired), and a
    # kubeconfig without the stack's GKE context.
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "x",
                "client_secret": "x",
                "refresh_token": "x",
                "token": "fake",
                "expiry": "2999-01-01T00:00:00Z",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", gcp_env["ARXIV_GCP_PROJECT"])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: minikube\n"
        "contexts: [{name: minikube, context: {cluster: minikube, user: minikube}}]\n"
        "clusters: [{name: minikube, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: minikube, user: {}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(doctor, "_tcp_probe", lambda url: None)  # the MLflow server "answers"
    monkeypatch.setattr(doctor, "_mlflow_status", lambda url, headers: 200)  # and accepts the credentials
    monkeypatch.setattr(doctor, "_bucket_exists", lambda bucket: bucket == gcp_env["ARXIV_GCP_BUCKET"])

    setup_gcp_stack(activate=True)
    findings = doctor.diagnose(data_source="/home/me/papers.csv.gz")
    errors = [f.message for f in findings if f.severity == "error"]
    assert any("ZenML store" in e and "local" in e for e in errors), errors
    assert any("gke_arxiv-test-project_europe-west4_ml" in e and "kubeconfig" in e for e in errors), errors
    assert any("/home/me/papers.csv.gz" in e for e in errors), errors
    assert len(errors) == 3, errors
    oks = " ".join(f.message for f in findings if f.severity == "ok")
    assert "Google application-default credentials found" in oks
    assert "container registry and an image builder" in oks
    assert "accepts the credentials from the ZenML secret 'arxiv_gcp_mlflow'" in oks
    assert f"the bucket gs://{gcp_env['ARXIV_GCP_BUCKET']}" in oks
    assert doctor.print_report(findings) == 1


def test_doctor_passes_the_local_stack(
    restore_active_stack: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ensure_stack("local", activate=True)
    findings = doctor.diagnose()
    assert [f for f in findings if f.severity == "error"] == []
    assert doctor.main() == 0
    assert "ready" in capsys.readouterr().out
    papers = tmp_path / "papers.csv"
    errors = [f.message for f in doctor.diagnose(str(papers)) if f.severity == "error"]
    assert errors == [f"the data source {papers} does not exist"]
    papers.write_text("id,title\n")
    assert [f for f in doctor.diagnose(str(papers)) if f.severity == "error"] == []
