"""The drift verdict: the one gate rule, and the metadata, summary and gate step that all follow it."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import numpy as np
import pytest

from arxiv_classifier.config import DriftConfig
from arxiv_classifier.drift_result import (
    DriftCheck,
    DriftResult,
    failed_check_result,
    gate_passes,
    gate_status,
)
from steps.deployment.deployment_gate import decide

REASON = "hotfix approved by the on-call reviewer"


def _checks(drifted: int, total: int = 5) -> list[DriftCheck]:
    return [DriftCheck(f"c{i}", "numeric", "wasserstein", 0.5, 0.1, i < drifted) for i in range(total)]


@pytest.mark.parametrize(
    ("drifted", "max_share", "passed"),
    [(0, 0.4, True), (1, 0.4, True), (2, 0.4, False), (5, 0.4, False), (0, 0.0, False), (4, 1.0, True)],
)
def test_pass_rule(drifted: int, max_share: float, passed: bool) -> None:
    ok, share = gate_passes(_checks(drifted), max_share)
    assert share == drifted / 5
    assert ok is passed  # blocks when the drifted share is *at least* the maximum


def test_error_fails_closed() -> None:
    assert gate_passes(_checks(0), 0.4, error="boom") == (False, 0.0)
    assert gate_passes([], 0.4)[0] is False  # no checks ran: not a pass
    result = failed_check_result("could not read current papers", DriftConfig.model_validate({}), reference_rows=1000)
    assert not result.passed and result.blocked and result.status == "ERROR"
    assert "could not read current papers" in result.verdict()
    payload = json.dumps(result.as_dict(), allow_nan=False)  # NaN share becomes null
    assert json.loads(payload)["drifted_share"] is None


@pytest.mark.parametrize(
    ("passed", "error", "checks_run", "override", "status"),
    [
        (True, None, 5, None, "PASSED"),
        (True, None, 5, REASON, "PASSED"),
        (False, None, 5, None, "BLOCKED"),
        (False, None, 5, REASON, "OVERRIDDEN"),
        (False, "boom", 0, None, "ERROR"),
        (False, "boom", 0, REASON, "ERROR"),  # an override never covers a check that did not run
        (True, "boom", 5, REASON, "ERROR"),
        (False, None, 0, REASON, "ERROR"),  # no score at all is not measured drift
    ],
)
def test_gate_status(passed: bool, error: str | None, checks_run: int, override: str | None, status: str) -> None:
    assert gate_status(passed=passed, error=error, checks_run=checks_run, override_reason=override) == status


def test_an_errored_check_with_an_override_is_blocked_everywhere() -> None:
    """The metadata, the summary and the gate agree: an override does not unblock a check that errored."""
    result = failed_check_result("evidently crashed", DriftConfig.model_validate({"override_reason": REASON}))
    record = result.as_dict()
    assert result.status == "ERROR" and result.blocked
    assert record["status"] == "ERROR" and record["blocked"] is True
    page = result.summary_html()
    assert ">ERROR<" in page and "OVERRIDDEN" not in page and "blocked deployment" in page
    assert "failed to run" in result.verdict()
    decision, blocked = decide(record, REASON)
    assert decision["deploy"] is False and blocked is not None and decision["status"] == "ERROR"


def test_an_override_unblocks_measured_drift_but_does_not_pass() -> None:
    result = _result_with_stats(override_reason=REASON)
    assert not result.passed and not result.blocked and result.status == "OVERRIDDEN"
    assert REASON in result.verdict() and "OVERRIDDEN" in result.summary_html()


def _result_with_stats(**overrides: Any) -> DriftResult:
    ok, share = gate_passes(_checks(2), 0.4)
    fields: dict[str, Any] = {
        "passed": ok,
        "checks": _checks(2),
        "drifted_share": share,
        "max_drifted_share": 0.4,
        "reference_rows": 1000,
        "current_rows": 900,
        "column_means": {
            "token_count": {"reference": np.float64(124.07), "current": 125.5},
            "truncated": {"reference": 0.91, "current": np.float64(0.975)},
        },
        "token_window": 126,
        "label_shares": {"<script>alert(1)</script>": {"reference": 0.25, "current": 0.5}},
    }
    fields.update(overrides)
    return DriftResult(**fields)


def _results() -> list[DriftResult]:
    """Every kind of result: passed, drifted, errored; each with and without an override."""
    out = []
    for drifted, error, override in itertools.product((0, 2), (None, "DataError: no rows"), (None, REASON)):
        ok, share = gate_passes(_checks(drifted), 0.4, error)
        out.append(
            failed_check_result(error, DriftConfig.model_validate({"override_reason": override}))
            if error
            else _result_with_stats(passed=ok, checks=_checks(drifted), drifted_share=share, override_reason=override)
        )
    return out


@pytest.mark.parametrize("result", _results(), ids=lambda r: f"{r.status}-{bool(r.override_reason)}")
def test_gate_step_metadata_and_summary_agree(result: DriftResult) -> None:
    record = json.loads(json.dumps(result.as_dict(), allow_nan=False))  # as the artifact store returns it
    decision, blocked = decide(record, result.override_reason)
    assert decision["deploy"] is (not record["blocked"]) is (blocked is None)
    assert decision["status"] == record["status"] == result.status
    assert f">{result.status}</span>" in result.summary_html()


def test_as_dict_is_json_safe() -> None:
    payload = _result_with_stats().as_dict()
    again = json.loads(json.dumps(payload, allow_nan=False))
    assert again["status"] == "BLOCKED" and again["blocked"] is True
    assert again["drifted_checks"] == ["c0", "c1"]
    assert again["checks"][0] == {
        "name": "c0",
        "kind": "numeric",
        "method": "wasserstein",
        "score": 0.5,
        "threshold": 0.1,
        "drifted": True,
    }


def test_summary_is_static_and_escaped() -> None:
    for result in _results():
        page = result.summary_html()
        assert "<script" not in page.lower() and "javascript:" not in page.lower()
        assert not re.search(r"\son\w+=", page)  # no inline event handlers either
    page = _result_with_stats().summary_html()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # a label that looks like markup
    assert "Reference rows: <b>1000</b>" in page and "current rows: <b>900</b>" in page
    assert "Feature means" in page and "124.1" in page and "Predicted labels (share)" in page
    # the share of texts the model reads only the start of, as a percentage; and the window itself
    assert "truncated (share filling the window)" in page and "91.0%" in page and "97.5%" in page
    assert "reads at most <b>126</b> tokens" in page
    assert _result_with_stats().as_dict()["token_window"] == 126
    assert "reads at most" not in _result_with_stats(token_window=None).summary_html()
