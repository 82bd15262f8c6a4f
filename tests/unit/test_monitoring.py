"""The monitor's decision rule, its decay figures, its window, the served-papers reader and the schedule."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import pytest

from arxiv_classifier.config import ConfigError, MonitorConfig, MonitorRunConfig, load_config
from arxiv_classifier.monitoring import (
    Decay,
    decide,
    measure_decay,
    monitor_window,
    report_html,
    served_papers,
)
from tests.conftest import REPO_ROOT

CFG = MonitorConfig(max_accuracy_drop=5.0, max_macro_f1_drop=5.0, min_labelled=100)  # type: ignore[call-arg]


def drift_record(drifted: int, total: int = 5, max_share: float = 0.4, error: str | None = None) -> dict[str, Any]:
    """A drift check as `DriftResult.as_dict` records it: `drifted` of `total` checks drifted."""
    if error:
        return {"passed": False, "error": error, "checks": [], "drifted_share": None, "max_drifted_share": max_share}
    checks = [
        {"name": f"c{i}", "score": 0.9 if i < drifted else 0.01, "threshold": 0.1, "drifted": i < drifted}
        for i in range(total)
    ]
    share = drifted / total
    return {
        "passed": share < max_share,
        "error": None,
        "checks": checks,
        "drifted_share": share,
        "max_drifted_share": max_share,
        "drifted_checks": [c["name"] for c in checks if c["drifted"]],
    }


def decay(accuracy: float, macro_f1: float, n: int = 300, test: tuple[float, float] = (0.70, 0.50)) -> Decay:
    return Decay(n_labelled=n, accuracy=accuracy, macro_f1=macro_f1, test_accuracy=test[0], test_macro_f1=test[1])


def test_no_drift_and_no_decay_is_healthy() -> None:
    decision = decide(drift_record(1), decay(0.68, 0.48), CFG)
    assert decision.verdict == "healthy" and not decision.triggers_retraining
    assert decision.drift_status == "PASSED" and decision.decay_judged


def test_drift_the_gate_would_block_is_drifted() -> None:
    """The gate's rule: 2 of 5 = 40 % is at the limit, which blocks; 1 of 5 does not."""
    decision = decide(drift_record(2), None, CFG)
    assert decision.verdict == "drifted" and decision.triggers_retraining
    assert decision.drift_status == "BLOCKED"
    assert any(r.startswith("drifted: the deployment gate would block") for r in decision.reasons)
    assert decide(drift_record(1), None, CFG).verdict == "healthy"


def test_a_drop_beyond_either_limit_is_decayed_and_beats_drift() -> None:
    accuracy = decide(drift_record(0), decay(0.64, 0.49), CFG)  # 6 points of accuracy
    assert accuracy.verdict == "decayed" and any("accuracy is 6.0 points" in r for r in accuracy.reasons)
    macro = decide(drift_record(0), decay(0.69, 0.44), CFG)  # 6 points of macro-F1
    assert macro.verdict == "decayed"
    both = decide(drift_record(5), decay(0.60, 0.40), CFG)
    assert both.verdict == "decayed" and both.drift_status == "BLOCKED"
    at_limit = decide(drift_record(0), decay(0.65, 0.45), CFG)  # exactly 5 points: not beyond the limit
    assert at_limit.verdict == "healthy"


def test_too_few_labels_is_not_decayed_and_says_so() -> None:
    decision = decide(drift_record(0), decay(0.30, 0.10, n=99), CFG)
    assert decision.verdict == "healthy" and not decision.decay_judged
    assert "decay not judged: 99 labelled papers, fewer than min_labelled 100" in decision.reasons
    assert not any(c["name"].startswith("decay") for c in decision.checks)


def test_unlabelled_papers_leave_decay_unjudged() -> None:
    decision = decide(drift_record(0), None, CFG)
    assert "decay not judged: the papers carry no labels" in decision.reasons


def test_an_errored_check_is_inconclusive_not_drifted_and_an_override_does_not_apply() -> None:
    errored = decide(drift_record(0, error="current has 3 rows"), None, CFG)
    assert errored.verdict == "inconclusive" and not errored.triggers_retraining
    assert errored.drift_status == "ERROR" and any("current has 3 rows" in r for r in errored.reasons)
    # measured decay still decides when the drift check could not run
    assert decide(drift_record(0, error="x"), decay(0.5, 0.3), CFG).verdict == "decayed"
    # an override lets a deployment through; the monitor still reports the drift
    overridden = {**drift_record(4), "override_reason": "accepted for the conference demo"}
    assert decide(overridden, None, CFG).verdict == "drifted"


def test_measure_decay_counts_labels_outside_the_label_space_as_errors() -> None:
    truth = ["cs.LG", "cs.LG", "cs.CV", "q-bio.NC", "math.ST"]
    predicted = ["cs.LG", "cs.CV", "cs.CV", "cs.LG", "cs.CV"]
    got = measure_decay(truth, predicted, ["cs.CV", "cs.LG"], {"accuracy": 0.9, "macro_f1": 0.8})
    assert got.accuracy == pytest.approx(2 / 5)
    assert got.n_out_of_label_space == 2 and got.out_of_label_space == {"math.ST": 1, "q-bio.NC": 1}
    # macro-F1 over the model's labels, by hand: cs.LG P=1/2 R=1/2 F1=1/2; cs.CV P=1/3 R=1 F1=1/2
    assert got.macro_f1 == pytest.approx(0.5)
    assert got.accuracy_drop == pytest.approx(50.0) and got.macro_f1_drop == pytest.approx(30.0)
    assert Decay.from_dict(got.as_dict()) == got


def test_measure_decay_maps_unknown_labels_to_other_when_the_model_has_it() -> None:
    got = measure_decay(["cs.LG", "math.ST"], ["cs.LG", "other"], ["cs.LG", "other"], None)
    assert got.accuracy == 1.0 and got.n_out_of_label_space == 0
    assert got.accuracy_drop is None  # no test figures to compare with


def test_monitor_window() -> None:
    today = date(2026, 11, 30)
    served = MonitorConfig(source="served", lookback_days=7)  # type: ignore[call-arg]
    assert monitor_window(served, today) == (date(2026, 11, 24), date(2026, 12, 1))  # 7 days, today included
    arrived = MonitorConfig(source="arrived")  # type: ignore[call-arg]
    assert monitor_window(arrived, today, data_end=date(2026, 8, 22)) == (date(2026, 8, 22), today)
    pinned = MonitorConfig(source="arrived", since=date(2025, 7, 1), as_of=date(2026, 1, 1))  # type: ignore[call-arg]
    assert monitor_window(pinned, today, data_end=date(2026, 8, 22)) == (date(2025, 7, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="is empty"):
        monitor_window(MonitorConfig(source="arrived", as_of=date(2026, 1, 1)), today, data_end=date(2026, 8, 22))  # type: ignore[call-arg]


def test_served_papers_drops_the_smoke_test_and_joins_text_as_training_does() -> None:
    from arxiv_classifier.data import join_text

    log = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-11-29T10:00:00Z", "2026-11-29T10:00:01Z", "2026-11-29T10:00:02Z"]),
            "request_id": ["smoke-abc", "r1", "r1"],
            "index": [0, 0, 1],
            "title": ["Smoke", "A  title", "Another"],
            "summary": ["s", "An   abstract.", None],
        }
    )
    papers = served_papers(log)
    assert papers["id"].tolist() == ["r1:0", "r1:1"]
    assert papers["text"].tolist() == [join_text(["A title", "An abstract."]), join_text(["Another", ""])]


def test_the_report_shows_earlier_verdicts_without_script() -> None:
    earlier = {"time": "2026-11-01T06:00:00+00:00", "verdict": "healthy", "model_version": 1, "drift": {}}
    now = {
        "time": "2026-11-30T06:00:00+00:00",
        "verdict": "drifted",
        "model_version": 1,
        "reasons": ["drifted: <x>"],
        "checks": decide(drift_record(3), None, CFG).checks,
        "drift": {"status": "BLOCKED", "drifted_share": 0.6},
    }
    page = report_html(now, [{**earlier, "retrained_version": 2}])
    assert "<script" not in page.lower() and "&lt;x&gt;" in page
    history = page.split("Checks over time", 1)[1]
    assert history.index("2026-11-01T06:00:00") < history.index("2026-11-30T06:00:00")  # oldest first
    assert ">2<" in history  # the retrained version of the earlier run


def test_the_shipped_configs_validate_and_a_cron_line_needs_five_fields() -> None:
    for name in ("monitor.yaml", "monitor_quick.yaml"):
        load_config(REPO_ROOT / "configs" / name, schema=MonitorRunConfig)
    with pytest.raises(ConfigError, match="5 fields"):
        load_config(REPO_ROOT / "configs" / "monitor.yaml", {"monitor.schedule_cron": "daily"}, MonitorRunConfig)


def test_the_local_orchestrator_refuses_a_schedule_with_the_crontab_line() -> None:
    from pipelines.loop import ScheduleRefused, schedule

    config = load_config(
        REPO_ROOT / "configs" / "monitor.yaml", {"monitor.schedule_cron": "0 6 * * *"}, MonitorRunConfig
    )
    with pytest.raises(ScheduleRefused) as refused:
        schedule(config, "configs/monitor.yaml")
    assert f"0 6 * * * cd {REPO_ROOT} && .venv/bin/python run.py --pipeline monitor" in str(refused.value)
    assert schedule(load_config(REPO_ROOT / "configs" / "monitor.yaml", schema=MonitorRunConfig), None) is None


def test_no_trigger_only_applies_to_the_monitor(capsys: pytest.CaptureFixture[str]) -> None:
    import run

    with pytest.raises(SystemExit) as exited:
        run.main(["--pipeline", "deploy", "--no-trigger"])
    assert exited.value.code == 2 and "--no-trigger only applies with --pipeline monitor" in capsys.readouterr().err
    args = run.build_parser().parse_args(["--pipeline", "monitor", "--no-trigger"])
    assert args.no_trigger and run.DEFAULT_CONFIGS["monitor"].name == "monitor.yaml"


def test_decay_noise_matches_the_binomial_standard_error_and_is_zero_without_errors() -> None:
    import numpy as np

    from arxiv_classifier.monitoring import decay_noise

    rng = np.random.default_rng(7)
    truth = rng.integers(0, 4, 2000)
    predicted = np.where(rng.random(2000) < 0.7, truth, (truth + 1) % 4)  # 70 % right
    noise = decay_noise(truth, predicted, np.arange(4), sizes=[500], resamples=2000, seed=1)[500]["accuracy"]
    # sd of (test figure on 2,000 rows) - (monitored figure on 500): sqrt(p(1-p)(1/500 + 1/2000)), in points
    p = float((truth == predicted).mean())
    expected = 100 * np.sqrt(p * (1 - p) * (1 / 500 + 1 / 2000))
    assert abs(noise["sd"] - expected) / expected < 0.1
    assert noise["q95"] < noise["q99"] and abs(noise["q95"] - 1.645 * expected) < 0.6
    perfect = decay_noise(truth, truth, np.arange(4), sizes=[100], resamples=50, seed=1)[100]
    assert perfect["accuracy"] == {"sd": 0.0, "q95": 0.0, "q99": 0.0} and perfect["macro_f1"]["q99"] == 0.0


def test_the_loops_gate_reads_traffic_before_the_monitors_date() -> None:
    """A deployment the loop triggers as of D reads the papers before D, the newest months before it."""
    from arxiv_classifier.config import DeployRunConfig
    from pipelines.loop import traffic_before

    deploy = load_config(REPO_ROOT / "configs" / "deploy.yaml", None, DeployRunConfig)
    bounded = traffic_before(deploy, "2026-01-01")
    assert bounded.drift.current.end == date(2026, 1, 1) and bounded.drift.current.newest_months == 3
    assert deploy.drift.current.end is None  # the loaded config is not changed
    # an explicit end (the replay's per-date configs) and an undated source (the feed) are kept as they are
    feed = load_config(REPO_ROOT / "configs" / "deploy_feed.yaml", None, DeployRunConfig)
    assert traffic_before(feed, "2026-01-01").drift.current == feed.drift.current
    same = load_config(REPO_ROOT / "configs" / "deploy_same_period.yaml", None, DeployRunConfig)
    assert traffic_before(same, date(2026, 1, 1)).drift.current.end == date(2024, 1, 1)


def test_the_judged_version_is_the_served_one_unless_configured_otherwise() -> None:
    """`version`: 'served' (default), 'stage' or a number; a schedule judges the stage at each run."""
    from pipelines.loop import monitored_version

    path = REPO_ROOT / "configs" / "monitor.yaml"
    assert load_config(path, schema=MonitorRunConfig).version == "served"
    assert monitored_version(load_config(path, {"version": 3}, MonitorRunConfig)) == ("3", "version 3, as configured")
    staged = load_config(path, {"version": "stage", "stage": "staging"}, MonitorRunConfig)
    assert monitored_version(staged) == ("staging", "the staging version, as configured")
    scheduled = load_config(path, {"monitor.schedule_cron": "0 6 * * *"}, MonitorRunConfig)
    version, why = monitored_version(scheduled)
    assert version == "production" and "schedule" in why
    for bad in ("latest", 0):
        with pytest.raises(ConfigError, match="version"):
            load_config(path, {"version": bad}, MonitorRunConfig)
