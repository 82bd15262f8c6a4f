"""The team stack for real: a ZenML server on MariaDB, an MLflow server on PostgreSQL with authentication,
a bucket; the same commands as on the local stack, and nothing written locally by accident.

The tests of this module share the servers and run in order: the pipelines first, then what a team
breaks (credentials, servers, bucket), each put back afterwards.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import psutil
import pytest

from arxiv_classifier import localhost
from arxiv_classifier.endpoint import predict
from tests.team.conftest import PYTHON, Team

pytestmark = [pytest.mark.slow, pytest.mark.team]

ZENML = str(Path(PYTHON).with_name("zenml"))
MODEL = "arxiv-classifier"
PIPELINES = ("training_pipeline", "deployment_pipeline", "batch_inference_pipeline")
PAPER = {
    "title": "Masked autoencoders for video object segmentation",
    "summary": "We propose a self-supervised vision transformer that segments objects in video frames.",
}

#: What the team client sees of the last runs: status and every output artifact's URI.
RUNS_QUERY = f"""
import json
from zenml.client import Client
c = Client()
out = {{"store": str(c.zen_store.url), "stack": c.active_stack_model.name, "runs": {{}}}}
for name in {PIPELINES!r}:
    try:
        run = c.get_pipeline(name).last_run
    except KeyError:
        continue
    uris = [a.uri for s in run.steps.values() for arts in s.outputs.values() for a in arts]
    out["runs"][name] = {{"status": run.status.value, "name": run.name, "id": str(run.id), "uris": uris,
                         "stack": run.stack.name if run.stack else None}}
mv = c.get_model_version({MODEL!r}, "production")
out["version"] = mv.number
out["deployment"] = mv.run_metadata.get("deployment")
out["n_runs"] = c.list_pipeline_runs(size=1).total
out["n_versions"] = c.list_model_versions({MODEL!r}, size=1).total
out["secrets"] = sorted(s.name for s in c.list_secrets(size=50).items)
print("JSON " + json.dumps(out, default=str))
"""


def _server_pids(team: Team) -> dict[str, list[int]]:
    """Every process of each team server (the process group `up` started, or PostgreSQL's postmaster tree)."""
    found: dict[str, list[int]] = {}
    for name in ("mariadb", "postgres", "gcs", "zenml", "mlflow"):
        pid = team.servers._pid(name)
        assert pid is not None, f"the team {name} server is not running"
        root = psutil.Process(pid)
        found[name] = [pid, *(c.pid for c in root.children(recursive=True))]
    return found


def test_the_servers_are_real_authenticated_and_listen_on_loopback_only(team: Team) -> None:
    settings = team.settings
    status, info = localhost.request(f"{settings.zenml_url}/api/v1/info")
    assert status == 200 and info["database_type"] == "mysql", info
    assert info["auth_scheme"] == "OAUTH2_PASSWORD_BEARER", info  # a real user and password, not NO_AUTH
    assert localhost.request(f"{settings.zenml_url}/api/v1/runs")[0] == 401
    wrong = localhost.request(f"{settings.zenml_url}/api/v1/login", form={"username": "admin", "password": "nope"})
    assert wrong[0] == 401

    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert localhost.request(f"{settings.mlflow_url}{search}")[0] == 401
    assert team.mlflow(search, auth=(team.credentials["mlflow_username"], "wrong"))[0] == 401
    assert team.mlflow(search)[0] == 200

    # The sockets, from the system's table: every listening one of every server process is on loopback.
    listening = []
    for name, pids in _server_pids(team).items():
        for pid in pids:
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    listening.append((name, conn.laddr.ip, conn.laddr.port))
    assert {name for name, _, _ in listening} == {"mariadb", "postgres", "gcs", "zenml", "mlflow"}, listening
    assert all(ip == "127.0.0.1" for _, ip, _ in listening), listening

    # Idempotent: a second `up` starts nothing and logs in again.
    again = team.command([PYTHON, "-m", "stacks.team_servers", "up"])
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("running") == 5 and "started" not in again.stdout, again.stdout


def test_the_same_commands_run_on_the_team_stack_and_nothing_is_local(team: Team) -> None:
    started = time.monotonic()
    train = team.run("--pipeline", "train", "--config", "configs/train_quick.yaml")
    assert train.returncode == 0, train.stderr[-5000:]
    trained = time.monotonic()
    deploy = team.run("--pipeline", "deploy", "--config", "configs/deploy_same_period.yaml")
    assert deploy.returncode == 0, deploy.stderr[-5000:]
    deployed = time.monotonic()
    batch = team.run(
        "--pipeline", "batch-inference", "--set", "papers.max_rows=200", "--set", "drift.current.max_rows=200",
        "--set", f"output_dir={team.client_dir.parent / 'predictions'}",
    )  # fmt: skip
    assert batch.returncode == 0, batch.stderr[-5000:]
    (team.client_dir.parent / "pipelines-output.txt").write_text(
        "\n".join(proc.stdout + proc.stderr for proc in (train, deploy, batch))
    )
    print(
        f"train {trained - started:.0f} s, deploy {deployed - trained:.0f} s, "
        f"batch inference {time.monotonic() - deployed:.0f} s on the team stack"
    )

    seen = team.query(RUNS_QUERY)
    assert seen["store"].rstrip("/") == team.settings.zenml_url and seen["stack"] == "team"
    bucket = f"gs://{team.settings.bucket}/zenml/"
    for name in PIPELINES:
        run = seen["runs"][name]
        assert run["status"] == "completed" and run["stack"] == "team", run
        assert run["uris"], f"{name} stored no artifact"
        assert all(uri.startswith(bucket) for uri in run["uris"]), [u for u in run["uris"] if not u.startswith(bucket)]

    # The team dashboard's server renders the visualizations, reading them from the bucket itself.
    train_run = seen["runs"]["training_pipeline"]["id"]
    versions = team.zenml_get("/artifact_versions", pipeline_run=train_run, hydrate="true", size=100)["items"]
    shown = [v for v in versions if (v.get("resources") or {}).get("visualizations") or
             (v.get("metadata") or {}).get("visualizations")]  # fmt: skip
    assert shown, "no artifact of the training run has a visualization"
    for version in shown[:3]:
        assert version["body"]["uri"].startswith(bucket)
        view = team.zenml_get(f"/artifact_versions/{version['id']}/visualize", index=0)
        assert view["value"], view

    # Nothing in a local artifact store or a local MLflow store: not the client's, not the server's.
    for root in (team.client_dir, team.settings.home / "zenml-server"):
        stores = root / "local_stores"
        written = [p for p in stores.rglob("*") if p.is_file()] if stores.exists() else []
        # The local Seldon deployer keeps its daemons' runtime files and its model copies here: that is
        # the deployer's disk, not an artifact store. Anything else would be an artifact written locally.
        artifacts = [
            p for p in written if not re.search(r"/local_stores/[0-9a-f-]{36}/(models/|[0-9a-f-]{36}/)", str(p))
        ]
        assert artifacts == [], artifacts[:10]
        assert not list(root.rglob("mlruns")), "a local MLflow store was created"

    # The MLflow server has the training run's params, metrics and models (read over its REST API).
    status, body = team.mlflow("/api/2.0/mlflow/experiments/get-by-name?experiment_name=training_pipeline")
    assert status == 200, body
    experiment = body["experiment"]["experiment_id"]
    status, body = team.mlflow("/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment], "max_results": 10})
    assert status == 200, body
    runs = body["runs"]
    trainer = next(r for r in runs if any(p["key"] == "learning_rate" for p in r["data"].get("params", [])))
    metrics = {m["key"] for r in runs for m in r["data"].get("metrics", [])}
    assert {"test_accuracy", "test_macro_f1"} <= metrics, sorted(metrics)[:40]
    assert trainer["info"]["status"] == "FINISHED"
    status, body = team.mlflow("/api/2.0/mlflow/logged-models/search", {"experiment_ids": [experiment]})
    assert status == 200, body
    logged = {m["info"]["name"] for m in body.get("models", [])}
    assert {"model", "onnx_int8"} <= logged, logged

    # The MLflow artifacts are in the bucket too (proxied by the server), seen with a plain GCS client.
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = team.settings.gcs_url
    try:
        gcs = storage.Client(project=team.settings.project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        names = [b.name for b in gcs.list_blobs(team.settings.bucket, prefix="mlflow/")]
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST")
    assert any(n.endswith("model.onnx") for n in names), names[:20]

    # The endpoint serves the version it pulled from the bucket.
    deployment = seen["deployment"]
    assert deployment["artifact_uri"].startswith(bucket), deployment
    endpoint = team.run("--endpoint")
    assert endpoint.returncode == 0, endpoint.stderr
    url = endpoint.stdout.strip().splitlines()[-1]
    answer = predict(url, [PAPER])["jsonData"]
    assert answer["model_version"] == str(seen["version"]) and answer["predictions"][0]["category"], answer
    info = team.query(
        "import json\nfrom zenml.client import Client\n"
        f"found = Client().active_stack.model_deployer.find_model_server(model_name={MODEL!r})\n"
        "s = [s for s in found if s.is_running]\n"
        "print('JSON ' + json.dumps({'uri': s[0].config.model_uri, 'dir': s[0].config.model_dir}))"
    )
    assert info["uri"].startswith(bucket) and Path(info["dir"]).is_dir(), info
    assert (Path(info["dir"]) / "classifier.json").is_file()


def _bucket_blobs(team: Team) -> dict[str, bytes]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = team.settings.gcs_url
    try:
        gcs = storage.Client(project=team.settings.project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        return {b.name: b.download_as_bytes() for b in gcs.list_blobs(team.settings.bucket)}
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST")


def _secret_leaks(team: Team, secret: str) -> list[str]:
    """Where `secret` appears: the bucket (artifacts, step logs, MLflow's artifacts), MLflow's params and tags,
    the pipelines' output and the servers' logs."""
    found = [
        f"gs://{team.settings.bucket}/{name}" for name, data in _bucket_blobs(team).items() if secret.encode() in data
    ]
    status, body = team.mlflow(
        "/api/2.0/mlflow/runs/search", {"experiment_ids": _experiment_ids(team), "max_results": 500}
    )
    assert status == 200, body
    for run in body.get("runs", []):
        for kind in ("params", "tags"):
            found += [f"MLflow run {run['info']['run_id']} {kind} {p['key']}" for p in run["data"].get(kind, [])
                      if secret in str(p.get("value"))]  # fmt: skip
    for path in [team.client_dir.parent / "pipelines-output.txt", *(team.settings.home / "logs").glob("*.log")]:
        if path.is_file() and secret in path.read_text(errors="replace"):
            found.append(str(path))
    return found


def _experiment_ids(team: Team) -> list[str]:
    status, body = team.mlflow("/api/2.0/mlflow/experiments/search", {"max_results": 100})
    assert status == 200, body
    return [e["experiment_id"] for e in body.get("experiments", [])]


def test_no_secret_value_is_in_logs_artifacts_or_mlflow_and_a_planted_one_is_found(team: Team) -> None:
    """The MLflow password (a ZenML secret the runs resolve) and the ZenML admin password appear nowhere."""
    creds = team.credentials
    for name in ("mlflow_password", "zenml_admin_password", "mlflow_admin_password", "zenml_db_password"):
        assert _secret_leaks(team, creds[name]) == [], name
    # The scanner finds a value that is logged on purpose: an MLflow param and a blob in the bucket.
    planted = "planted-" + creds["mlflow_password"][:8]
    status, body = team.mlflow("/api/2.0/mlflow/experiments/create", {"name": "secret-scan-check"})
    assert status == 200, body
    status, run = team.mlflow("/api/2.0/mlflow/runs/create", {"experiment_id": body["experiment_id"]})
    assert status == 200, run
    run_id = run["run"]["info"]["run_id"]
    assert (
        team.mlflow("/api/2.0/mlflow/runs/log-parameter", {"run_id": run_id, "key": "oops", "value": planted})[0] == 200
    )
    leaks = _secret_leaks(team, planted)
    assert leaks == [f"MLflow run {run_id} params oops"], leaks


def test_doctor_and_runs_name_wrong_mlflow_credentials(team: Team) -> None:
    before = team.query(RUNS_QUERY)["n_runs"]
    try:
        updated = team.command([ZENML, "secret", "update", "arxiv_team_mlflow", "--password=not-the-password"])
        assert updated.returncode == 0, updated.stderr
        doctor = team.run("--doctor")
        assert doctor.returncode == 1
        assert "refuses the credentials" in doctor.stdout and "arxiv_team_mlflow" in doctor.stdout, doctor.stdout
        started = time.monotonic()
        run = team.run("--pipeline", "train", "--config", "configs/train_quick.yaml")
        assert run.returncode == 2 and "nothing was run" in run.stderr, run.stderr[-3000:]
        assert "team_mlflow" in run.stderr and "zenml secret update arxiv_team_mlflow" in run.stderr
        assert time.monotonic() - started < 60
    finally:
        team.run("--setup-stack", "team", check=True)  # stores the generated credentials again
    assert team.query(RUNS_QUERY)["n_runs"] == before, "a run was started with the wrong credentials"
    assert team.run("--doctor").returncode == 0


def test_doctor_and_runs_name_a_stopped_mlflow_server(team: Team) -> None:
    assert team.servers._stop_group("mlflow")
    try:
        doctor = team.run("--doctor")
        assert doctor.returncode == 1 and "is not reachable" in doctor.stdout and "make team-up" in doctor.stdout
        run = team.run("--pipeline", "train", "--config", "configs/train_quick.yaml")
        assert run.returncode == 2 and "nothing was run" in run.stderr and team.settings.mlflow_url in run.stderr
    finally:
        up = team.command([PYTHON, "-m", "stacks.team_servers", "up", "--no-login"])
        assert up.returncode == 0, up.stderr
    assert team.run("--doctor").returncode == 0


def test_doctor_and_runs_name_a_missing_bucket(team: Team) -> None:
    """A stack whose artifact store's bucket does not exist (a typo, a deleted bucket)."""
    script = (
        "from zenml.client import Client\nfrom zenml.enums import StackComponentType as T\nc = Client()\n"
        "c.create_stack_component(name='team_gcs_missing', flavor='gcp', component_type=T.ARTIFACT_STORE, "
        "configuration={'path': 'gs://no-such-team-bucket/zenml'})\n"
        "team = c.get_stack('team')\n"
        "c.create_stack(name='team_missing_bucket', components={t: cs[0].name for t, cs in team.components.items()} "
        "| {T.ARTIFACT_STORE: 'team_gcs_missing'})\n"
        "c.activate_stack('team_missing_bucket')\nprint('JSON {}')"
    )
    team.query(script)
    try:
        doctor = team.run("--doctor")
        assert (
            doctor.returncode == 1 and "gs://no-such-team-bucket" in doctor.stdout and "does not exist" in doctor.stdout
        )
        run = team.run("--pipeline", "batch-inference", "--set", "papers.max_rows=10")
        assert run.returncode == 2 and "no-such-team-bucket" in run.stderr and "nothing was run" in run.stderr
    finally:
        team.command([ZENML, "stack", "set", "team"], check=True)
    assert team.run("--doctor").returncode == 0


def test_a_stopped_zenml_server_is_named_and_a_restart_loses_nothing(team: Team) -> None:
    before = team.query(RUNS_QUERY)
    assert team.servers._stop_group("zenml")
    try:
        started = time.monotonic()
        doctor = team.run("--doctor", timeout=120)
        assert doctor.returncode == 1, doctor.stdout
        assert team.settings.zenml_url in doctor.stdout and "make team-up" in doctor.stdout, doctor.stdout
        run = team.run("--pipeline", "train", "--config", "configs/train_quick.yaml", timeout=120)
        assert run.returncode == 2 and "ZenML server" in run.stderr and "nothing was run" in run.stderr, run.stderr
        assert time.monotonic() - started < 90
    finally:
        up = team.command([PYTHON, "-m", "stacks.team_servers", "up"])
        assert up.returncode == 0, up.stderr
    after = team.query(RUNS_QUERY)
    for key in ("n_runs", "n_versions", "version", "secrets"):
        assert after[key] == before[key], (key, before[key], after[key])
    assert {n: r["id"] for n, r in after["runs"].items()} == {n: r["id"] for n, r in before["runs"].items()}
    assert "arxiv_team_mlflow" in after["secrets"]
    assert json.dumps(after["deployment"], sort_keys=True) == json.dumps(before["deployment"], sort_keys=True)


def test_the_team_dashboard_shows_the_run_after_logging_in(team: Team) -> None:
    """The server's own dashboard, in headless Chromium: the login page, then the training run's page."""
    from tests.dashboard.test_dashboard import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (install Debian's `chromium` package); the browser check needs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
    run = team.query(RUNS_QUERY)["runs"]["training_pipeline"]
    creds = team.credentials
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{team.settings.zenml_url}/projects/default/runs/{run['id']}", timeout=PAGE_TIMEOUT_MS)
            page.wait_for_url("**/login**", timeout=PAGE_TIMEOUT_MS)  # a real user: no page without logging in
            page.locator("input[name=username]").fill(creds["zenml_admin_user"])
            page.locator("input[name=password]").fill(creds["zenml_admin_password"])
            page.locator("button[type=submit]").click()
            page.wait_for_url(lambda u: "/login" not in u, timeout=PAGE_TIMEOUT_MS)
            page.goto(f"{team.settings.zenml_url}/projects/default/runs/{run['id']}", timeout=PAGE_TIMEOUT_MS)
            try:
                page.get_by_text(run["name"]).first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
                page.get_by_text("model_trainer").first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
            except sync_api.TimeoutError:
                pytest.fail(
                    f"the run page at {page.url} did not show the run; page text:\n{page.inner_text('body')[:1000]}"
                )
            assert "/login" not in page.url and "/survey" not in page.url
        finally:
            browser.close()
