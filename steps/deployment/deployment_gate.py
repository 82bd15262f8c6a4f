"""The gate: deploy only when the drift check passed, or when an override names its reason."""

from __future__ import annotations

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from arxiv_classifier.constants import FAILURE_KEY, GATE_DECISION
from arxiv_classifier.drift_result import gate_status

logger = get_logger(__name__)


class DeploymentBlocked(RuntimeError):
    """The drift gate failed: nothing was deployed and the running deployment is untouched."""


def describe_failure(result: dict[str, Any]) -> str:
    if result.get("error") or not result.get("checks"):
        return f"the drift check itself failed ({result.get('error') or 'no check produced a score'})"
    checks = result.get("checks") or []
    drifted = [c for c in checks if c.get("drifted")]
    parts = [f"{c['name']} ({c['method']} {c['score']:.3g} vs threshold {c['threshold']:.3g})" for c in drifted]
    share = result.get("drifted_share") or 0.0
    return (
        f"{len(drifted)} of {len(checks)} checks drifted (share {share:.2f} >= "
        f"{result.get('max_drifted_share', 0):.2f}): " + ", ".join(parts)
    )


def decide(drift_result: dict[str, Any], override_reason: str | None) -> tuple[dict[str, Any], str | None]:
    """(decision, why it is blocked or None), by the library's one gate rule (`drift_result.gate_status`).

    Fails closed: anything but a clean pass needs an override, and an override accepts measured drift
    only: a check that errored (or produced no score) blocks whatever the config says.
    """
    status = gate_status(
        passed=drift_result.get("passed") is True,
        error=drift_result.get("error"),
        checks_run=len(drift_result.get("checks") or []),
        override_reason=override_reason,
    )
    if status == "PASSED":
        return {"deploy": True, "override": False, "status": status, "reason": "the drift check passed"}, None
    failure = describe_failure(drift_result)
    if status == "OVERRIDDEN":
        decision = {"deploy": True, "override": True, "status": status, "reason": override_reason}
        return {**decision, "overridden_failure": failure}, None
    advice = (
        "Fix the check's error and re-run (an override does not apply to a check that failed to run)."
        if status == "ERROR"
        else "The papers have moved away from what this version was trained on: retrain on the recent window "
        "and deploy through this gate with `make monitor` (python run.py --pipeline monitor), or by hand with "
        "`python run.py --pipeline train --config configs/train_recent.yaml` then `make deploy`. "
        "To deploy this version anyway, set drift.override_reason in the deploy config to the reason (it is recorded)."
    )
    message = (
        f"Deployment blocked by the drift gate: {failure}. Nothing was deployed; the running deployment "
        f"(if any) is untouched. Read the drift_summary artifact of this run in the dashboard. {advice}"
    )
    return {"deploy": False, "override": False, "status": status, "reason": failure}, message


@step(enable_cache=False)
def deployment_gate(
    drift_result: dict[str, Any], override_reason: str | None = None
) -> Annotated[dict[str, Any], GATE_DECISION]:
    """Raise `DeploymentBlocked` unless the check passed or is overridden; record the decision either way."""
    decision, blocked = decide(drift_result, override_reason)
    log_metadata(metadata={"deployment_gate": decision}, infer_model=True)
    if blocked:
        log_metadata(metadata={FAILURE_KEY: blocked})  # on this step: what the launcher reports
        raise DeploymentBlocked(blocked)
    if decision["override"]:
        logger.warning("Drift gate OVERRIDDEN (%s): %s", override_reason, decision["overridden_failure"])
    return decision
