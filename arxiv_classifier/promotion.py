"""The promotion rule, as a pure function: candidate vs. production vs. baseline on one test split."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PromotionDecision:
    promote: bool
    metric: str
    candidate: float
    production: float | None
    baseline: float | None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verdict = "PROMOTED" if self.promote else "NOT promoted"
        return f"{verdict}: " + "; ".join(self.reasons)


def decide_promotion(
    metric: str,
    candidate: Mapping[str, float],
    production: Mapping[str, float] | None,
    baseline: Mapping[str, float] | None,
    min_improvement: float = 0.0,
) -> PromotionDecision:
    """Promote only if the candidate beats the baseline and the current production version.

    Args:
        metric: key of the metric compared (higher is better).
        candidate: the candidate's test metrics.
        production: the production version's metrics on the *same* test rows, or None if there is none.
        baseline: the baseline's metrics on the same rows, or None if the baseline is disabled.
        min_improvement: the candidate must beat production by more than this margin.
    """
    if metric not in candidate:
        raise KeyError(f"candidate metrics lack {metric!r}; have {sorted(candidate)}")
    cand = float(candidate[metric])
    prod = float(production[metric]) if production is not None else None
    base = float(baseline[metric]) if baseline is not None else None
    reasons: list[str] = []
    ok = True
    if base is None:
        reasons.append("baseline disabled: no baseline requirement")
    elif cand > base:
        reasons.append(f"candidate {metric} {cand:.4f} beats baseline {base:.4f}")
    else:
        ok = False
        reasons.append(f"candidate {metric} {cand:.4f} does not beat baseline {base:.4f}")
    if prod is None:
        reasons.append("no production version yet")
    elif cand > prod + min_improvement:
        reasons.append(f"candidate {metric} {cand:.4f} beats production {prod:.4f} (margin {min_improvement})")
    else:
        ok = False
        reasons.append(
            f"candidate {metric} {cand:.4f} does not beat production {prod:.4f} by more than {min_improvement}"
        )
    return PromotionDecision(promote=ok, metric=metric, candidate=cand, production=prod, baseline=base, reasons=reasons)
