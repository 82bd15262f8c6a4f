"""The deployment pipeline end to end on the local stack: drift gate, real Seldon server, rollback.

Runs against the quick model of the session's training run, in the isolated test store. The module
deploys once (`first_deployment`); tests that need a server take the one running (`serving`), so any
test runs alone with `-k`. Every server these tests start is deleted at the end of the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from zenml.client import Client
from zenml.enums import ExecutionStatus

import run
from arxiv_classifier.constants import DRIFT_REPORT, DRIFT_SUMMARY
from arxiv_classifier.endpoint import check_contract, health, metrics, predict
from deployers.deployments import DEPLOYER_STEP, current_deployments
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.pipeline, pytest.mark.usefixtures("delete_servers_afterwards")]

QUICK_DEPLOY = REPO_ROOT / "configs" / "deploy_quick.yaml"
# the gate's reference is the version's validation split: 2023 for the fixed-date quick model
SAME_PERIOD = {
    "source": "${DATA_DIR}/arxiv/papers.csv.gz",
    "strip_pattern": None,
    "date_field": "published_date",
    "newest_months": None,
    "start": "2023-01-01",
    "end": "2024-01-01",
    "label_field": "category",
    "restrict_to_model_labels": True,
}
PAPER = {
    "title": "Masked autoencoders for video object segmentation",
    "summary": "We propose a self-supervised vision transformer that segments objects in video frames.",
}


def write_config(tmp_path: Path, name: str, **sections: Any) -> Path:
    """A deploy config that extends the quick one with the given sections."""
    body = {"extends": str(QUICK_DEPLOY), **sections}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def last_deploy_run() -> Any:
    return Client().get_pipeline("deployment_pipeline").last_run


def running_services(model_name: str) -> list[Any]:
    return [s for s in current_deployments(Client().active_stack.model_deployer, model_name) if s.is_running]


@dataclass
class Deployment:
    """The module's one same-period deployment: the gate passes and a real server starts."""

    returncode: int
    run_id: str


@pytest.fixture(scope="module")
def first_deployment(training_run, tmp_path_factory) -> Deployment:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path_factory.mktemp("deploy"), "same", drift={"current": SAME_PERIOD})
    returncode = run.main(["--pipeline", "deploy", "--config", str(config)])
    return Deployment(returncode=returncode, run_id=str(last_deploy_run().id))


@pytest.fixture
def serving(first_deployment: Deployment, training_run) -> Any:  # type: ignore[no-untyped-def]
    """The model's one running deployment, whichever deployment of this module left it."""
    assert first_deployment.returncode == 0, "the same-period deployment failed: see the test of it"
    [service] = running_services(training_run.model_name)
    return service


def test_no_production_version_says_train_first(training_run, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path, "nobody", model_name="model-that-was-never-trained")
    with pytest.raises(SystemExit) as exc:
        run.main(["--pipeline", "deploy", "--config", str(config)])
    assert "no production version" in str(exc.value) and "--pipeline train" in str(exc.value)


def test_drifted_papers_block_deployment(training_run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Recent incoming papers (the default source) vs the 1990-2022 training papers: the gate blocks."""
    serving_before = {s.uuid for s in running_services(training_run.model_name)}
    assert run.main(["--pipeline", "deploy", "--config", str(QUICK_DEPLOY)]) == 1
    pipeline_run = last_deploy_run()
    steps = pipeline_run.steps
    assert steps["drift_checker"].status == ExecutionStatus.COMPLETED
    assert steps["deployment_gate"].status == ExecutionStatus.FAILED
    assert "endpoint_deployer" not in steps or steps["endpoint_deployer"].status != ExecutionStatus.COMPLETED
    assert {s.uuid for s in running_services(training_run.model_name)} == serving_before

    version = Client().get_model_version(training_run.model_name, "production")
    drift = version.run_metadata["drift_check"]
    gate = version.run_metadata["deployment_gate"]
    assert drift["passed"] is False and drift["error"] is None
    assert drift["drifted_share"] >= drift["max_drifted_share"]
    assert gate["deploy"] is False and "checks drifted" in gate["reason"]
    summary = steps["drift_checker"].outputs[DRIFT_SUMMARY][0].load()
    report = steps["drift_checker"].outputs[DRIFT_REPORT][0].load()
    assert "<script" not in summary.lower() and "predicted_label" in summary
    assert len(report) > 100_000  # Evidently's full (JavaScript) report


def test_broken_check_blocks_deployment(training_run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path, "broken", drift={"current": {"source": str(tmp_path / "no-such-file.csv")}})
    serving_before = {s.uuid for s in running_services(training_run.model_name)}
    assert run.main(["--pipeline", "deploy", "--config", str(config)]) == 1
    assert last_deploy_run().steps["deployment_gate"].status == ExecutionStatus.FAILED
    drift = Client().get_model_version(training_run.model_name, "production").run_metadata["drift_check"]
    assert drift["passed"] is False and "no-such-file.csv" in drift["error"]
    assert {s.uuid for s in running_services(training_run.model_name)} == serving_before


def test_same_period_papers_pass_and_the_endpoint_serves(training_run, first_deployment, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert first_deployment.returncode == 0
    pipeline_run = Client().get_pipeline_run(first_deployment.run_id)
    assert pipeline_run.status == ExecutionStatus.COMPLETED
    version = Client().get_model_version(training_run.model_name, "production")
    meta = version.run_metadata
    assert meta["drift_check"]["passed"] is True
    assert meta["deployment"]["status"] == "serving" and meta["smoke_test"]["passed"] is True
    # serving.format auto: int8 only when its measured cost on the test split is within the default limits
    int8 = meta["onnx"]["onnx-int8"]
    within = int8["accuracy_drop_points"] <= 1.0 and int8["macro_f1_drop_points"] <= 1.5
    assert meta["deployment"]["format"] == ("onnx-int8" if within else "onnx-fp32")
    assert "int8 on the test split" in meta["deployment"]["format_reason"]
    assert meta["smoke_test"]["format"] == meta["deployment"]["format"]

    [service] = running_services(training_run.model_name)
    url = service.base_url
    assert (health(url) or {}).get("format") == meta["deployment"]["format"]
    assert url.startswith("http://127.0.0.1:")
    labels = version.get_artifact("classifier").load().labels
    assert check_contract(url, [PAPER, PAPER], labels=labels, top_k=3, max_batch=64) == []
    answer = predict(url, [PAPER])["jsonData"]
    assert answer["model_version"] == str(version.number)
    assert answer["predictions"][0]["category"] in labels
    text = metrics(service.metrics_url)
    assert "arxiv_requests_total" in text and "arxiv_predicted_class_total" in text

    capsys.readouterr()
    assert run.main(["--endpoint"]) == 0
    assert capsys.readouterr().out.strip() == url
    assert run.main(["--infer", "--title", PAPER["title"], "--summary", PAPER["summary"]]) == 0
    out = capsys.readouterr().out
    assert any(label in out for label in labels) and f"version {version.number}" in out
    papers_file = tmp_path / "papers.json"
    papers_file.write_text(json.dumps([PAPER, {"title": "Prime gaps", "summary": "We bound gaps."}]))
    assert run.main(["--infer", "--json_file", str(papers_file)]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.strip()]) == 3


def test_zenml_cli_lists_stops_and_starts_the_deployment(serving) -> None:  # type: ignore[no-untyped-def]
    service = serving
    env = {**os.environ, "COLUMNS": "250"}  # rich folds table values to fit a narrow console

    def zenml(*args: str) -> str:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "zenml"), "model-deployer", "models", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr  # ZenML's console writes its tables to either

    assert str(service.uuid)[:8] in zenml("list")
    zenml("stop", str(service.uuid))
    assert health(service.base_url) is None
    zenml("start", str(service.uuid))
    assert health(service.base_url) is not None
    # An unknown uuid is echoed too (in a warning): look for what only a found deployment shows.
    described = zenml("describe", str(service.uuid))
    assert "No model with uuid" not in described and DEPLOYER_STEP in described, described


def _server_processes(service: Any) -> list[int]:
    """Every process of a local deployment: its daemon's session (launch_local.py detaches with setsid)."""
    import psutil

    sid = os.getsid(service.status.pid)
    alive = []
    for proc in psutil.process_iter(["pid", "status", "cmdline"]):
        if _sid(proc.info["pid"]) == sid and proc.info["status"] != psutil.STATUS_ZOMBIE:
            alive.append(f"{proc.info['pid']} {' '.join(proc.info['cmdline'] or [])[:120]}")
    return sorted(alive)


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def test_a_killed_server_is_noticed_leaves_nothing_and_comes_back(serving, training_run, capsys) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL of the serving master: `--endpoint`/`--infer`/the CLI say it is down, no process survives it,
    and the ZenML CLI's start brings back the same model version with exactly one set of processes."""
    import signal

    service, version = serving, str(serving.config.model_version)
    before = _server_processes(service)
    sid = os.getsid(service.status.pid)
    os.kill(service.status.pid, signal.SIGKILL)
    pids = [int(p.split()[0]) for p in before]
    deadline = time.monotonic() + 20
    while [p for p in pids if _sid(p) == sid] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in pids if _sid(p) == sid] == [], "processes of the killed server survived it"

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run.main(["--endpoint"])
    assert f"models start {service.uuid}" in str(exc.value) and "is not running" in str(exc.value)
    with pytest.raises(SystemExit) as exc:
        run.main(["--infer", "--title", PAPER["title"], "--summary", PAPER["summary"]])
    assert f"zenml model-deployer models start {service.uuid}" in str(exc.value)

    zenml_cli = [str(Path(sys.executable).parent / "zenml"), "model-deployer", "models"]
    listed = subprocess.run([*zenml_cli, "list"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"})
    row = next(line for line in (listed.stdout + listed.stderr).splitlines() if str(service.uuid)[:8] in line)
    assert "✅" not in row and "RUNNING" not in row.upper().replace("NOT RUNNING", ""), row

    started = subprocess.run([*zenml_cli, "start", str(service.uuid)], capture_output=True, text=True, cwd="/")
    assert started.returncode == 0, started.stdout + started.stderr
    [back] = running_services(training_run.model_name)
    assert back.uuid == service.uuid and str(back.config.model_version) == version
    assert predict(back.base_url, [PAPER])["jsonData"]["model_version"] == version
    after = _server_processes(back)
    assert len(after) == len(before), (before, after)  # one set: master, REST worker(s), metrics server, helper


def test_mixed_load_from_a_second_process_gets_no_5xx_and_no_connection_error(serving, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The CI version of `benchmarks/load_test.py` (README "Reliability" has the 5-minute figures)."""
    output = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "load_test.py"), "--url", serving.base_url, "--users", "4",
         "--duration", "15", "--warmup", "0", "--papers", "200", "--max-rss-growth", "1.0", "--output", str(output)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert output.is_file(), done.stdout + done.stderr
    result = json.loads(output.read_text())
    assert result["failures"] == 0 and result["failures_by_kind"] == {}, (result, done.stdout)
    names = {row["name"]: row for row in result["by_request"]}
    assert names["predict single"]["requests"] > 0 and names["predict batch"]["requests"] > 0, names
    assert any(name.startswith("bad request") for name in names), names  # refused as expected, counted as success
    assert result["server_rss_mb"]["start"] > 0 and done.returncode == 0, done.stdout + done.stderr


def test_redeploy_never_leaves_users_without_a_server(training_run, tmp_path, serving) -> None:  # type: ignore[no-untyped-def]
    """A second deployment (drift gate overridden, with a reason) replaces the first with no gap."""
    old = serving
    down_at: list[datetime] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            if health(old.base_url) is None and not down_at:
                down_at.append(datetime.now(UTC))
            time.sleep(0.2)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    reason = "accepted: recent cs.CV-heavy traffic, retraining is scheduled (ticket 42)"
    config = write_config(tmp_path, "override", drift={"override_reason": reason})
    try:
        assert run.main(["--pipeline", "deploy", "--config", str(config)]) == 0
    finally:
        time.sleep(0.5)
        stop.set()
        poller.join()
    smoke = last_deploy_run().steps["smoke_tester"]
    assert down_at, "the old server should have been stopped after the new one passed its smoke test"
    assert down_at[0] >= smoke.start_time.replace(tzinfo=UTC)
    [new] = running_services(training_run.model_name)
    assert new.uuid != old.uuid and health(new.base_url) is not None
    gate = Client().get_model_version(training_run.model_name, "production").run_metadata["deployment_gate"]
    assert gate["override"] is True and gate["reason"] == reason and "drifted" in gate["overridden_failure"]


def test_failed_smoke_test_rolls_back_to_the_previous_deployment(training_run, tmp_path, serving) -> None:  # type: ignore[no-untyped-def]
    """A deployment that rejects the smoke test's batch (max_batch 2 < 8 papers) is removed; the old one serves."""
    previous = serving
    config = write_config(
        tmp_path, "tiny-batch", drift={"current": SAME_PERIOD}, serving={"max_batch": 2, "smoke_papers": 8}
    )
    assert run.main(["--pipeline", "deploy", "--config", str(config)]) == 1
    pipeline_run = last_deploy_run()
    assert pipeline_run.steps["endpoint_deployer"].status == ExecutionStatus.COMPLETED
    assert pipeline_run.steps["smoke_tester"].status == ExecutionStatus.FAILED
    [serving] = running_services(training_run.model_name)
    assert serving.uuid == previous.uuid
    assert predict(serving.base_url, [PAPER])["jsonData"]["predictions"]
    meta = Client().get_model_version(training_run.model_name, "production").run_metadata
    assert meta["smoke_test"]["passed"] is False and meta["smoke_test"]["rolled_back_to"] == [str(previous.uuid)]
    new_id = pipeline_run.steps["endpoint_deployer"].outputs["deployment"][0].load()["service_id"]
    assert all(str(s.uuid) != new_id for s in Client().active_stack.model_deployer.find_model_server())


def test_a_torch_format_is_refused_by_the_torch_free_server(training_run, tmp_path, serving, capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    """serving.format: torch needs torch where the server runs; the local serving environment has none."""
    config = write_config(tmp_path, "torch-format", drift={"current": SAME_PERIOD}, serving={"format": "torch"})
    assert run.main(["--pipeline", "deploy", "--config", str(config)]) == 1
    assert "endpoint_deployer" in capsys.readouterr().err
    # the failing step's log: the server's own reason and what to deploy instead
    assert "no torch/transformers" in caplog.text and "serving.format: auto" in caplog.text, caplog.text[-2000:]
    [still] = running_services(training_run.model_name)
    assert still.uuid == serving.uuid  # the running deployment keeps serving
