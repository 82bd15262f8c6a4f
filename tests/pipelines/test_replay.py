"""The quick replay (configs/replay_quick.yaml) end to end in the isolated store: the loop's mechanics.

A first version as of 2024-01-01; at 2026-01-01 the monitor reads papers of 2024-2025, which the gate's
drift check blocks for a model of the 2020-2023 window, so the loop retrains as of 2026-01-01 and,
if that version is promoted, deploys it through the gate. Asserted: versions created, links between
runs, gate verdicts, the table and the files, not the models' quality (quick sizes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from zenml.client import Client
from zenml.enums import ExecutionStatus

from arxiv_classifier.config import ReplayConfig, load_config
from arxiv_classifier.constants import PREPARED_DATASET
from arxiv_classifier.monitoring import ACTIONABLE, ACTIONS_KEY, RECORD_KEY
from pipelines.replay import ReplayResult, replay
from tests.conftest import REPO_ROOT, requires_arxiv

pytestmark = [pytest.mark.slow, pytest.mark.pipeline, pytest.mark.timeout(3600), requires_arxiv]

QUICK = REPO_ROOT / "configs" / "replay_quick.yaml"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplayConfig, ReplayResult, Path]:
    cfg = load_config(QUICK, None, ReplayConfig)
    out = tmp_path_factory.mktemp("replay")
    return cfg, replay(cfg, out), out


def test_the_first_date_trains_the_first_version_on_its_window(replayed) -> None:  # type: ignore[no-untyped-def]
    cfg, result, _ = replayed
    first = result.rows[0]
    assert first.as_of == "2024-01-01" and first.verdict == "first version"
    assert first.served_version == first.first_version == first.retrained_version
    version = Client().get_model_version(cfg.model_name, first.first_version)
    window = version.get_artifact(PREPARED_DATASET).run_metadata["data_window"]
    assert window["as_of"] == "2024-01-01" and window["observed"]["test"][1] < "2024-01-01"
    # the period scored is the one after the as-of date, up to the next date
    assert first.period == ("2024-01-01", "2026-01-01") and first.papers == 300


def test_the_next_date_runs_the_loop_and_links_its_runs(replayed) -> None:  # type: ignore[no-untyped-def]
    cfg, result, _ = replayed
    row = result.rows[1]
    assert row.period == ("2026-01-01", "2026-03-01")
    assert row.verdict in ACTIONABLE and row.monitor_gate in ("PASSED", "BLOCKED")
    assert row.retrained_version is not None and row.retrained_version > row.first_version
    retrained = Client().get_model_version(cfg.model_name, row.retrained_version)
    assert retrained.get_artifact(PREPARED_DATASET).run_metadata["data_window"]["as_of"] == "2026-01-01"
    assert row.promoted is bool(retrained.run_metadata["promotion"]["promote"])
    monitoring = Client().list_pipeline_runs(pipeline_name="monitoring_pipeline", sort_by="desc:created", size=20)
    mine = [
        r
        for r in monitoring.items
        if r.run_metadata.get(RECORD_KEY, {}).get("model_name") == cfg.model_name
        and r.run_metadata.get(ACTIONS_KEY, {}).get("retrained_version") == row.retrained_version
    ]
    assert len(mine) == 1
    actions = mine[0].run_metadata[ACTIONS_KEY]
    # the monitor judged the version served over the previous period, not whatever production became
    assert mine[0].run_metadata[RECORD_KEY]["model_version"] == result.rows[0].served_version
    assert actions["monitored"] == f"version {result.rows[0].served_version}, as configured"
    assert Client().get_pipeline_run(actions["training_run"]["id"]).status == ExecutionStatus.COMPLETED
    if row.promoted:
        # blocked: the gate's own message (recorded on its step), not ZenML's "failure in step(s)"
        assert row.deployment == "deployed" or row.deployment.startswith(
            "blocked: Deployment blocked by the drift gate"
        )
        gate = Client().get_pipeline_run(actions["deployment_run"]["id"]).steps["deployment_gate"]
        expected = ExecutionStatus.COMPLETED if row.deployment == "deployed" else ExecutionStatus.FAILED
        assert gate.status == expected
        assert row.served_version == (row.retrained_version if row.deployment == "deployed" else row.first_version)
    else:
        assert row.deployment == "not run (not promoted)" and row.served_version == row.first_version


def test_every_row_scores_the_three_contenders_and_the_files_hold_the_table(replayed) -> None:  # type: ignore[no-untyped-def]
    cfg, result, out = replayed
    for row in result.rows:
        assert set(row.scores) == {"first", "loop", "tfidf"}
        for scores in row.scores.values():
            assert 0.0 <= scores["accuracy"] <= 1.0 and 0.0 <= scores["macro_f1"] <= 1.0
        if row.served_version == row.first_version:
            assert row.scores["loop"] == row.scores["first"]
    table = (out / "replay.md").read_text()
    assert table.count("\n| 20") == len(result.rows) and "TF-IDF" in table
    frame = pd.read_csv(out / "replay.csv")
    assert list(frame["as_of"]) == [d.isoformat() for d in cfg.dates]
    assert {"first_accuracy", "loop_macro_f1", "tfidf_accuracy"} <= set(frame.columns)
    # the configs each date ran are kept, and the monitor's reads papers since the previous date
    monitor = (out / "configs" / "monitor_2026-01-01.yaml").read_text()
    assert "since: '2024-01-01'" in monitor and "as_of: '2026-01-01'" in monitor
    # the gate's feed at a date is the newest papers before it (feed_months: 3)
    deploy = (out / "configs" / "deploy_2026-01-01.yaml").read_text()
    assert "start: '2025-10-01'" in deploy and "end: '2026-01-01'" in deploy
    # the replay cleans up its servers
    deployer = Client().active_stack.model_deployer
    assert not [s for s in deployer.find_model_server() if s.config.model_name == cfg.model_name]


def test_the_command_refuses_a_bad_config_with_the_field_named() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "replay.py"), "--set", "dates=[2025-01-01, 2024-01-01]"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "strictly increasing" in done.stderr
