"""The gate's rule: fail closed, override only measured drift, and say why."""

from __future__ import annotations

from typing import Any

from steps.deployment.deployment_gate import decide


def result(passed: bool, error: str | None = None, drifted: tuple[str, ...] = ()) -> dict[str, Any]:
    names = ["text_length", "word_count", "unk_rate", "predicted_label", "embedding"]
    checks = [
        {"name": n, "method": "m", "score": 0.5 if n in drifted else 0.01, "threshold": 0.1, "drifted": n in drifted}
        for n in names
    ]
    return {
        "passed": passed,
        "error": error,
        "checks": [] if error else checks,
        "drifted_share": None if error else len(drifted) / len(names),
        "max_drifted_share": 0.4,
    }


def test_a_clean_pass_deploys() -> None:
    decision, blocked = decide(result(True), None)
    assert decision["deploy"] is True and decision["override"] is False and blocked is None
    assert decision["status"] == "PASSED"


def test_drift_blocks_and_names_the_drifted_checks() -> None:
    decision, blocked = decide(result(False, drifted=("predicted_label", "embedding")), None)
    assert decision["deploy"] is False and blocked is not None
    assert "2 of 5 checks drifted" in blocked and "predicted_label" in blocked and "embedding" in blocked
    assert "override_reason" in blocked and "untouched" in blocked


def test_an_override_deploys_and_keeps_what_it_overrode() -> None:
    decision, blocked = decide(result(False, drifted=("embedding", "text_length")), "accepted until retrain (T-1)")
    assert blocked is None and decision["deploy"] is True and decision["override"] is True
    assert decision["status"] == "OVERRIDDEN"
    assert decision["reason"] == "accepted until retrain (T-1)" and "embedding" in decision["overridden_failure"]


def test_a_broken_check_blocks_even_with_an_override() -> None:
    for override in (None, "accepted until retrain (T-1)"):
        decision, blocked = decide(result(False, error="DataError: no-such-file.csv not found"), override)
        assert decision["deploy"] is False and blocked is not None
        assert "no-such-file.csv" in blocked and "failed to run" in blocked


def test_anything_but_an_explicit_pass_blocks() -> None:
    for weird in ({}, {"passed": None}, {"passed": "yes"}, {"passed": True, "error": "boom"}):
        assert decide(weird, None)[1] is not None


def test_an_override_needs_measured_drift() -> None:
    """A result with no scored check (malformed, or the check never ran) is not drift an override can accept."""
    for unmeasured in ({}, {"passed": False}, {"passed": False, "checks": []}):
        decision, blocked = decide(unmeasured, "accepted until retrain (T-1)")
        assert decision["deploy"] is False and decision["status"] == "ERROR" and blocked is not None
        assert "no check produced a score" in blocked
