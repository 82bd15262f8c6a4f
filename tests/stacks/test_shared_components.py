"""One definition per component: stacks/components.yaml, used by the local, team and gcp descriptions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from stacks import registry
from stacks.registry import StackError, load_stack_spec
from stacks.team import TeamSettings, load_credentials, stack_variables

GCP_VARIABLES = {
    "ARXIV_GCP_PROJECT": "my-project",
    "ARXIV_GCP_REGION": "europe-west4",
    "ARXIV_GCP_BUCKET": "my-bucket",
    "ARXIV_GCP_ARTIFACT_REPO": "zenml",
    "ARXIV_GCP_SERVICE_ACCOUNT": "sa@my-project.iam.gserviceaccount.com",
    "ARXIV_GCP_MLFLOW_TRACKING_URI": "https://mlflow.example.com",
    "ARXIV_GCP_MLFLOW_USERNAME": "me",
    "ARXIV_GCP_MLFLOW_PASSWORD": "pw",
    "ARXIV_GCP_GKE_CONTEXT": "gke_ctx",
    "ARXIV_GCP_SELDON_BASE_URL": "http://34.1.2.3",
}
TEAM_VARIABLES = {
    "ARXIV_TEAM_BUCKET": "arxiv-team",
    "ARXIV_TEAM_MLFLOW_TRACKING_URI": "http://127.0.0.1:5390",
    "ARXIV_TEAM_MLFLOW_USERNAME": "pipelines",
    "ARXIV_TEAM_MLFLOW_PASSWORD": "secret",
}


def _by_type(name: str, variables: dict[str, str]) -> dict[str, registry.ComponentSpec]:
    return {c.type: c for c in load_stack_spec(name, variables).components}


def test_team_and_gcp_share_the_bucket_and_mlflow_definitions_with_their_own_values() -> None:
    team, gcp = _by_type("team", TEAM_VARIABLES), _by_type("gcp", GCP_VARIABLES)
    for ctype in ("artifact_store", "experiment_tracker"):
        assert team[ctype].flavor == gcp[ctype].flavor
        assert set(team[ctype].configuration) == set(gcp[ctype].configuration)
    assert team["artifact_store"].configuration == {"path": "gs://arxiv-team/zenml"}
    assert gcp["artifact_store"].configuration == {"path": "gs://my-bucket/zenml"}
    assert team["experiment_tracker"].configuration["tracking_password"] == "{{arxiv_team_mlflow.password}}"
    assert gcp["experiment_tracker"].configuration["tracking_password"] == "{{arxiv_gcp_mlflow.password}}"
    assert (
        team["experiment_tracker"].configuration["tracking_token"] is None
    )  # no token given: null, not a dangling ref

    local = _by_type("local", {})
    assert local["model_deployer"] == team["model_deployer"]  # literally the same component
    assert local["orchestrator"] == team["orchestrator"]
    flavors = {f.source for f in load_stack_spec("team", TEAM_VARIABLES).flavors}
    assert flavors == {"deployers.local_seldon.flavor.LocalSeldonModelDeployerFlavor"}

    shared = yaml.safe_load(registry.SHARED_COMPONENTS.read_text())
    uses = [
        c.get("use")
        for name in ("local", "team", "gcp")
        for c in yaml.safe_load((registry.STACK_DIR / f"{name}.yaml").read_text())["components"].values()
    ]
    assert set(shared) <= set(uses), f"defined but used by no stack: {set(shared) - set(uses)}"


def _stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, component: dict[str, object]) -> str:
    monkeypatch.setattr(registry, "STACK_DIR", tmp_path)
    monkeypatch.setattr(registry, "SHARED_COMPONENTS", Path(registry.__file__).parent / "components.yaml")
    (tmp_path / "broken.yaml").write_text(
        yaml.safe_dump({"name": "broken", "components": {"artifact_store": component}})
    )
    return "broken"


@pytest.mark.parametrize(
    ("component", "message"),
    [
        ({"use": "nfs_store", "name": "x"}, "does not define; it has"),
        ({"use": "gcs_artifact_store", "name": "x"}, "needs `with:` values for BUCKET"),
        ({"use": "gcs_artifact_store", "name": "x", "with": {"BUCKET": "b", "REGION": "r"}}, "no parameter REGION"),
        ({"use": "gcs_artifact_store", "with": {"BUCKET": "b"}}, "gives the component no `name`"),
    ],
)
def test_a_wrong_use_of_a_shared_component_says_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, component: dict[str, object], message: str
) -> None:
    name = _stack_file(tmp_path, monkeypatch, component)
    with pytest.raises(StackError, match=message) as exc:
        load_stack_spec(name, {})
    assert "stacks/broken.yaml (artifact_store)" in str(exc.value)


def test_team_settings_are_loopback_only_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARXIV_TEAM_ZENML_PORT", "18390")
    monkeypatch.setenv("ARXIV_TEAM_HOST", "localhost")
    settings = TeamSettings()
    assert settings.zenml_url == "http://localhost:18390" and settings.mlflow_port == 5390
    monkeypatch.setenv("ARXIV_TEAM_HOST", "0.0.0.0")
    with pytest.raises(ValueError, match="loopback only"):
        TeamSettings()


def test_team_credentials_are_generated_once_private_and_fill_the_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARXIV_TEAM_HOME", str(tmp_path / "team"))
    settings = TeamSettings()
    with pytest.raises(StackError, match="make team-up"):
        load_credentials(settings)
    first = load_credentials(settings, create=True)
    assert stat.S_IMODE(settings.credentials_file.stat().st_mode) == 0o600
    assert load_credentials(settings, create=True) == first  # idempotent: never regenerated
    assert len({first["zenml_admin_password"], first["mlflow_password"], first["mlflow_admin_password"]}) == 3
    variables = stack_variables(settings)
    assert variables["ARXIV_TEAM_MLFLOW_PASSWORD"] == first["mlflow_password"]
    assert variables["ARXIV_TEAM_MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5390"
    spec = load_stack_spec("team", variables)
    assert (
        spec.secrets[0].name == "arxiv_team_mlflow" and spec.secrets[0].values["password"] == first["mlflow_password"]
    )
    assert first["mlflow_password"] not in str([c.configuration for c in spec.components])  # only in the secret
