"""The loop end to end on quick configs, in the isolated store: monitor -> retrain -> (promoted) deploy.

The session's quick model (trained on papers before 2023) is monitored on labelled 2025 papers
(`configs/monitor_quick.yaml`): the gate's drift check blocks them, so the monitor says `drifted`
(or `decayed`) and triggers a retraining as of 2026-01-01 on the recent window; a promoted version
is then deployed through the gate. The tests assert the loop's mechanics (runs, links, metadata,
report), not the retrained model's quality. Every server started here is deleted at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from zenml.client import Client
from zenml.enums import ExecutionStatus

import run
from arxiv_classifier.constants import MONITORING_PIPELINE, MONITORING_REPORT, PREPARED_DATASET
from arxiv_classifier.monitoring import ACTIONABLE, ACTIONS_KEY, RECORD_KEY
from tests.conftest import REPO_ROOT

# Four pipeline runs (monitor, retrain, deploy, monitor again) after the session's quick training.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.pipeline,
    pytest.mark.timeout(3600),
    pytest.mark.usefixtures("delete_servers_afterwards"),
]

MONITOR_QUICK = REPO_ROOT / "configs" / "monitor_quick.yaml"


def monitoring_runs() -> list[Any]:
    return list(Client().list_pipeline_runs(pipeline_name=MONITORING_PIPELINE, sort_by="asc:created", size=50).items)


def training_runs() -> list[Any]:
    return list(Client().list_pipeline_runs(pipeline_name="training_pipeline", size=50).items)


@dataclass
class Loop:
    """The module's one triggered loop: the monitored version, the exit code and the monitoring run."""

    returncode: int
    monitored_version: int
    run_id: str
    training_runs_before: int


@pytest.fixture(scope="module")
def loop(training_run) -> Loop:  # type: ignore[no-untyped-def]
    monitored = Client().get_model_version(training_run.model_name, "production").number
    before = len(training_runs())
    returncode = run.main(["--pipeline", "monitor", "--config", str(MONITOR_QUICK)])
    return Loop(returncode, monitored, str(monitoring_runs()[-1].id), before)


def test_the_monitor_records_its_verdict_and_checks(loop: Loop, training_run) -> None:  # type: ignore[no-untyped-def]
    monitoring = Client().get_pipeline_run(loop.run_id)
    assert monitoring.status == ExecutionStatus.COMPLETED
    version = Client().get_model_version(training_run.model_name, loop.monitored_version)
    record = version.run_metadata[RECORD_KEY]
    assert record == monitoring.run_metadata[RECORD_KEY]
    assert record["model_version"] == loop.monitored_version
    # nothing of this model runs when the loop starts (the deployment tests deleted their servers)
    judged = monitoring.run_metadata[ACTIONS_KEY]["monitored"]
    assert judged == f"the production version: no deployment of {training_run.model_name} is running"
    assert record["source"] == "arrived" and record["window"] == {"since": "2025-07-01", "until": "2026-01-01"}
    assert record["rows"] == 300
    # the gate's own check ran on these papers: one row per drift check plus the gate's share rule
    assert record["drift"]["status"] in ("PASSED", "BLOCKED") and record["drift"]["error"] is None
    assert sum(c["name"].startswith("drift: ") for c in record["checks"]) >= 5
    # labelled papers: decay measured against the version's own test figures, in points
    decay = record["decay"]
    test = version.run_metadata["test"]
    assert decay["n_labelled"] == 300 and decay["test_accuracy"] == pytest.approx(test["accuracy"])
    assert decay["accuracy_drop"] == pytest.approx(100 * (test["accuracy"] - decay["accuracy"]))
    # top-5 labels of the pre-2023 quick model: 2025 papers of other categories exist and count as errors
    assert decay["n_out_of_label_space"] > 0 and decay["out_of_label_space"]
    assert decay["accuracy"] <= 1 - decay["n_out_of_label_space"] / decay["n_labelled"] + 1e-9
    report = monitoring.steps["monitor_reporter"].outputs[MONITORING_REPORT][0].load()
    assert "<script" not in report.lower() and "Checks over time" in report and record["verdict"] in report


def test_papers_from_a_new_era_trigger_a_retraining_as_of_the_monitors_date(loop: Loop, training_run) -> None:  # type: ignore[no-untyped-def]
    monitoring = Client().get_pipeline_run(loop.run_id)
    record, actions = monitoring.run_metadata[RECORD_KEY], monitoring.run_metadata[ACTIONS_KEY]
    assert record["verdict"] in ACTIONABLE, record["reasons"]
    assert actions["triggered"] is True and actions["as_of"] == "2026-01-01"
    # linked from the monitored version too
    version = Client().get_model_version(training_run.model_name, loop.monitored_version)
    assert version.run_metadata[ACTIONS_KEY] == actions

    train = Client().get_pipeline_run(actions["training_run"]["id"])
    assert train.status == ExecutionStatus.COMPLETED and len(training_runs()) == loop.training_runs_before + 1
    retrained = Client().get_model_version(training_run.model_name, actions["retrained_version"])
    assert retrained.number > loop.monitored_version
    window = retrained.get_artifact(PREPARED_DATASET).run_metadata["data_window"]
    assert window["strategy"] == "window" and window["as_of"] == "2026-01-01"
    assert window["observed"]["test"][1] < "2026-01-01"
    promotion = retrained.run_metadata["promotion"]
    assert actions["promoted"] is bool(promotion["promote"])


def test_a_promoted_retrained_version_goes_through_the_gate(loop: Loop, training_run) -> None:  # type: ignore[no-untyped-def]
    actions = Client().get_pipeline_run(loop.run_id).run_metadata[ACTIONS_KEY]
    if not actions["promoted"]:
        assert "deployment_run" not in actions and loop.returncode == 0
        pytest.skip(f"the retrained version was not promoted ({actions['promotion_reason']}): nothing to deploy")
    deploy = Client().get_pipeline_run(actions["deployment_run"]["id"])
    gate = deploy.steps["deployment_gate"]
    if actions["deployed"]:
        assert deploy.status == ExecutionStatus.COMPLETED and loop.returncode == 0
        production = Client().get_model_version(training_run.model_name, "production")
        assert production.number == actions["retrained_version"]
        assert production.run_metadata["smoke_test"]["passed"] is True
    else:
        assert gate.status == ExecutionStatus.FAILED and "blocked" in actions["deployment_message"].lower()
        assert loop.returncode == 1


def test_no_trigger_reports_and_shows_the_checks_over_time(loop: Loop, training_run, capsys) -> None:  # type: ignore[no-untyped-def]
    trainings = len(training_runs())
    first = Client().get_pipeline_run(loop.run_id).run_metadata[RECORD_KEY]
    assert run.main(["--pipeline", "monitor", "--config", str(MONITOR_QUICK), "--no-trigger"]) == 0
    latest = monitoring_runs()[-1]
    assert str(latest.id) != loop.run_id and len(training_runs()) == trainings
    assert latest.run_metadata[ACTIONS_KEY]["triggered"] is False
    assert "Monitoring verdict:" in capsys.readouterr().out
    report = latest.steps["monitor_reporter"].outputs[MONITORING_REPORT][0].load()
    assert first["time"][:19] in report  # the earlier run is a row of the history


def test_served_papers_are_monitored_without_the_smoke_test(loop: Loop, training_run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What the deployed version answered is read back from its request log; the smoke test's requests are not."""
    from arxiv_classifier.endpoint import predict
    from arxiv_classifier.request_log import read_request_log
    from deployers.deployments import running_endpoint

    actions = Client().get_pipeline_run(loop.run_id).run_metadata[ACTIONS_KEY]
    if not actions.get("deployed"):
        pytest.skip("the loop deployed nothing: no served traffic to monitor")
    version = Client().get_model_version(training_run.model_name, "production")
    log_uri = version.run_metadata["deployment"]["request_log_uri"]
    papers = [
        {"title": f"Paper {i} on graph neural networks", "summary": f"We study message passing, variant {i}."}
        for i in range(40)
    ]
    predict(running_endpoint(training_run.model_name), papers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the log is written off the request path
        log = read_request_log(log_uri, model_version=version.number)
        if (~log["request_id"].str.startswith("smoke-")).sum() >= len(papers):
            break
        time.sleep(1)
    assert log["request_id"].str.startswith("smoke-").any()  # the smoke test's requests are tagged

    config = tmp_path / "served.yaml"
    config.write_text(
        yaml.safe_dump({"extends": str(MONITOR_QUICK), "monitor": {"source": "served", "as_of": None, "since": None}})
    )
    assert run.main(["--pipeline", "monitor", "--config", str(config), "--no-trigger"]) == 0
    record = monitoring_runs()[-1].run_metadata[RECORD_KEY]
    assert record["source"] == "served" and record["model_version"] == version.number
    assert record["rows"] == len(papers)
    assert record["decay"] is None and "decay not judged: the papers carry no labels" in record["reasons"]


def test_the_monitor_judges_the_served_version_not_a_production_one_that_never_served(  # type: ignore[no-untyped-def]
    loop: Loop, training_run
) -> None:
    """After a deployment the gate blocked, `production` names a version that never served: the monitor judges
    the one the running deployment answers with (`version: served`); `version: stage` judges production."""
    actions = Client().get_pipeline_run(loop.run_id).run_metadata[ACTIONS_KEY]
    if not actions.get("deployed"):
        pytest.skip("the loop deployed nothing: no served version to tell from production")
    served, other = actions["retrained_version"], loop.monitored_version
    name = training_run.model_name
    Client().get_model_version(name, other).set_stage("production", force=True)  # promoted, never deployed
    try:
        assert run.main(["--pipeline", "monitor", "--config", str(MONITOR_QUICK), "--no-trigger"]) == 0
        latest = monitoring_runs()[-1]
        assert latest.run_metadata[RECORD_KEY]["model_version"] == served
        judged = latest.run_metadata[ACTIONS_KEY]["monitored"]
        assert judged == f"version {served}: the newest running deployment serves it"
        config = ["--config", str(MONITOR_QUICK), "--set", "version=stage", "--no-trigger"]
        assert run.main(["--pipeline", "monitor", *config]) == 0
        assert monitoring_runs()[-1].run_metadata[RECORD_KEY]["model_version"] == other
    finally:
        Client().get_model_version(name, served).set_stage("production", force=True)


def test_the_model_history_shows_the_loop(loop: Loop, training_run) -> None:  # type: ignore[no-untyped-def]
    from arxiv_classifier.constants import MODEL_HISTORY

    monitoring = Client().get_pipeline_run(loop.run_id)
    actions = monitoring.run_metadata[ACTIONS_KEY]
    verdict = monitoring.run_metadata[RECORD_KEY]["verdict"]
    page = monitoring.steps["model_history_reporter"].outputs[MODEL_HISTORY][0]
    assert page.visualizations, "the model history must render in the dashboard"
    text = page.load()
    assert "<script" not in text.lower() and f"v{loop.monitored_version}" in text and verdict in text
    # the retraining run's own history has the retrained version, its window and decision, and the
    # monitored version's verdict
    train = Client().get_pipeline_run(actions["training_run"]["id"])
    text = train.steps["model_history_reporter"].outputs[MODEL_HISTORY][0].load()
    retrained = actions["retrained_version"]
    assert f">v{retrained}</td>" in text and "as of 2026-01-01" in text and verdict in text
    assert "promoted" in text and "<svg" in text
    # a later monitoring run's history links the verdict to the version it triggered
    later = monitoring_runs()[-1]
    assert str(later.id) != loop.run_id
    text = later.steps["model_history_reporter"].outputs[MODEL_HISTORY][0].load()
    assert f"{verdict}</span> → v{retrained}" in text


def test_versions_of_other_windows_compare_their_label_spaces(loop: Loop, training_run) -> None:  # type: ignore[no-untyped-def]
    from arxiv_classifier.constants import CLASSIFIER
    from steps.deployment._common import label_space, label_space_change

    actions = Client().get_pipeline_run(loop.run_id).run_metadata[ACTIONS_KEY]
    old = Client().get_model_version(training_run.model_name, loop.monitored_version)
    new = Client().get_model_version(training_run.model_name, actions["retrained_version"])
    old_labels, new_labels = (v.get_artifact(CLASSIFIER).load().labels for v in (old, new))
    assert label_space(new) == list(new_labels)
    assert label_space_change(new, loop.monitored_version) == {
        "previous_version": loop.monitored_version,
        "added": sorted(set(new_labels) - set(old_labels)),
        "dropped": sorted(set(old_labels) - set(new_labels)),
    }
    assert label_space_change(new, None) is None
    if actions.get("deployed"):
        assert new.run_metadata["deployment"]["labels"] == list(new_labels)
