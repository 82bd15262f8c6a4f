"""The gate: deploy only when the drift check passed, or when an override names its reason."""

from __future__ import annotations

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from arxiv_classifier.constants import GATE_DECISION

logger = get_logger(__name__)


class DeploymentBlocked(RuntimeError):
    """The drift gate failed: nothing was deployed and the running deployment is untouched."""


def describe_failure(result: dict[str, Any]) -> str:
    if result.get("error"):
        return f"the drift check itself failed ({result['error']})"
    drifted = [c for c in result.get("checks", []) if c.get("drifted")]
    parts = [f"{c['name']} ({c['method']} {c['score']:.3g} vs threshold {c['threshold']:.3g})" for c in drifted]
    return (
        f"{len(drifted)} of {len(result.get('checks', []))} checks drifted "
        f"(share {result.get('drifted_share', 0):.2f} >= {result.get('max_drifted_share', 0):.2f}): " + ", ".join(parts)
    )


@step(enable_cache=False)
def deployment_gate(
    drift_result: dict[str, Any], override_reason: str | None = None
) -> Annotated[dict[str, Any], GATE_DECISION]:
    """Fail closed: raise unless the check passed or `drift.override_reason` is set; record the decision."""
    if drift_result.get("passed") is True and not drift_result.get("error"):
        decision = {"deploy": True, "override": False, "reason": "the drift check passed"}
    elif override_reason:
        decision = {
            "deploy": True,
            "override": True,
            "reason": override_reason,
            "overridden_failure": describe_failure(drift_result),
        }
        logger.warning("Drift gate OVERRIDDEN (%s): %s", override_reason, decision["overridden_failure"])
    else:
        decision = {"deploy": False, "override": False, "reason": describe_failure(drift_result)}
        log_metadata(metadata={"deployment_gate": decision}, infer_model=True)
        raise DeploymentBlocked(
            f"Deployment blocked by the drift gate: {decision['reason']}. Nothing was deployed; the running "
            "deployment (if any) is untouched. Read the drift_summary artifact of this run in the dashboard. "
            "To deploy anyway, set drift.override_reason in the deploy config to the reason (it is recorded)."
        )
    log_metadata(metadata={"deployment_gate": decision}, infer_model=True)
    return decision
