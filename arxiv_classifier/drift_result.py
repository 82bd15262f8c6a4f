"""The verdict of a drift check, the one gate rule, and its static HTML summary.

`gate_status` is the only place that decides whether a drift result lets a deployment through: the
deployment gate step, the `drift_check` metadata (`DriftResult.as_dict`) and the `drift_summary`
shown in the dashboard (`DriftResult.summary_html`) all read it, so they cannot disagree.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from arxiv_classifier.reports import inline_table

if TYPE_CHECKING:
    from arxiv_classifier.config import DriftConfig

CheckKind = Literal["numeric", "categorical", "embedding"]
GateStatus = Literal["PASSED", "OVERRIDDEN", "BLOCKED", "ERROR"]
#: The statuses under which the gate deploys; every other one blocks.
DEPLOYING: frozenset[str] = frozenset({"PASSED", "OVERRIDDEN"})

_COLOURS = {"PASSED": "#1a7f37", "OVERRIDDEN": "#9a6700"}  # anything else is red


def gate_passes(checks: Sequence[DriftCheck], max_drifted_share: float, error: str | None = None) -> tuple[bool, float]:
    """Whether the checks pass, and the drifted share: no error and drifted share < max_drifted_share."""
    share = sum(c.drifted for c in checks) / len(checks) if checks else float("nan")
    return (error is None and bool(checks) and share < max_drifted_share), share


def gate_status(*, passed: bool, error: str | None, checks_run: int, override_reason: str | None) -> GateStatus:
    """The one gate rule. Fails closed: anything but a clean pass or an overridden measured drift blocks.

    Args:
        passed: the checks ran and passed (`gate_passes`).
        error: why the check could not run, if it could not.
        checks_run: how many checks produced a score.
        override_reason: the configured reason to deploy despite measured drift.

    Returns:
        `ERROR` when the check could not run (an error, or no check ran): blocks, and no override
        applies, since an override accepts measured drift, not an unmeasured one. `PASSED` when it
        ran and passed; `OVERRIDDEN` when it measured drift and an override reason accepts it;
        `BLOCKED` otherwise.
    """
    if error or checks_run == 0:
        return "ERROR"
    if passed:
        return "PASSED"
    return "OVERRIDDEN" if override_reason else "BLOCKED"


def _json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.1%}"


@dataclass
class DriftCheck:
    """One drift test: a feature (or the embeddings), its statistic, score and threshold."""

    name: str
    kind: CheckKind
    method: str
    score: float
    threshold: float
    drifted: bool

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "score": _json_float(self.score), "threshold": _json_float(self.threshold)}


@dataclass
class DriftResult:
    """The verdict of a drift check: `passed` = no error and drifted share below the limit.

    `status` and `blocked` are what a deployment gate acts on (`gate_status`): measured drift blocks
    unless an override reason was given (the reason is recorded); a check that could not run blocks
    whatever the override says.
    """

    passed: bool
    checks: list[DriftCheck]
    drifted_share: float
    max_drifted_share: float
    reference_rows: int
    current_rows: int
    error: str | None = None
    override_reason: str | None = None
    #: feature -> {"reference": mean, "current": mean}; `truncated` is the share of texts that fill the window
    column_means: dict[str, dict[str, float]] = field(default_factory=dict)
    #: predicted label -> {"reference": share, "current": share} (the most frequent labels)
    label_shares: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the most tokens the model reads per text (its max_length less [CLS] and [SEP])
    token_window: int | None = None

    @property
    def status(self) -> GateStatus:
        """PASSED, OVERRIDDEN (measured drift accepted), BLOCKED (measured drift) or ERROR (did not run)."""
        return gate_status(
            passed=self.passed, error=self.error, checks_run=len(self.checks), override_reason=self.override_reason
        )

    @property
    def blocked(self) -> bool:
        return self.status not in DEPLOYING

    @property
    def drifted_checks(self) -> list[str]:
        return [c.name for c in self.checks if c.drifted]

    def verdict(self) -> str:
        """One sentence saying what was decided and why."""
        status = self.status
        if status == "ERROR":
            why = f"the drift check could not run: {self.error or 'no check produced a score'}"
            if self.override_reason:
                why += " (an override accepts measured drift only, not a check that failed to run)"
            return f"Drift gate blocked deployment: {why}."
        why = (
            f"{len(self.drifted_checks)} of {len(self.checks)} checks drifted "
            f"({self.drifted_share:.0%}; the gate blocks at {self.max_drifted_share:.0%} or more)"
        )
        if self.drifted_checks:
            why += f": {', '.join(self.drifted_checks)}"
        if status == "PASSED":
            return f"Drift gate passed: {why}."
        if status == "OVERRIDDEN":
            return f"Drift gate failed but was overridden ({self.override_reason}): {why}."
        return f"Drift gate blocked deployment: {why}."

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (no NaN, numpy or dataclass values), e.g. for ZenML run metadata."""
        return {
            "status": self.status,
            "passed": bool(self.passed),
            "blocked": bool(self.blocked),
            "drifted_share": _json_float(self.drifted_share),
            "max_drifted_share": _json_float(self.max_drifted_share),
            "drifted_checks": self.drifted_checks,
            "reference_rows": int(self.reference_rows),
            "current_rows": int(self.current_rows),
            "error": self.error,
            "override_reason": self.override_reason,
            "checks": [c.as_dict() for c in self.checks],
            "column_means": {k: {s: _json_float(v) for s, v in d.items()} for k, d in self.column_means.items()},
            "label_shares": {k: {s: _json_float(v) for s, v in d.items()} for k, d in self.label_shares.items()},
            "token_window": self.token_window,
        }

    def summary_html(self) -> str:
        """Verdict, checks and reference-vs-current statistics as script-free HTML (inline styles only).

        Static on purpose: the dashboard previews artifacts in a sandboxed frame where a
        JavaScript-built report (such as Evidently's own) stays blank.
        """
        esc = html.escape
        colour = _COLOURS.get(self.status, "#cf222e")

        def heading(text: str) -> str:
            return f'<h3 style="margin:12px 0 4px 0">{esc(text)}</h3>'

        parts = [
            '<div style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328">',
            f'<h2 style="margin:0 0 8px 0">Drift check: <span style="color:{colour}">{esc(self.status)}</span></h2>',
            f"<p>{esc(self.verdict())}</p>",
            f"<p>Reference rows: <b>{self.reference_rows}</b> &middot; current rows: <b>{self.current_rows}</b></p>",
        ]
        if self.token_window is not None:
            parts.append(
                f"<p>The model reads at most <b>{self.token_window}</b> tokens of each text: lengths are "
                "counted in those tokens; the token_count score is a share of that window.</p>"
            )
        if self.checks:
            rows = [
                [
                    esc(c.name),
                    esc(c.kind),
                    esc(c.method),
                    _fmt(c.score),
                    _fmt(c.threshold),
                    '<b style="color:#cf222e">yes</b>' if c.drifted else "no",
                ]
                for c in self.checks
            ]
            parts.append(inline_table(["check", "kind", "method", "score", "threshold", "drifted"], rows))
        if self.column_means:
            rows = []
            for name, d in self.column_means.items():
                ref, cur = d.get("reference"), d.get("current")
                if name == "truncated":
                    cells = [_pct(ref), _pct(cur)]
                    name = "truncated (share filling the window)"
                else:
                    digits = 4 if name == "unk_rate" else 1
                    cells = [_fmt(ref, digits), _fmt(cur, digits)]
                rows.append([esc(name), *cells])
            parts += [heading("Feature means"), inline_table(["feature", "reference", "current"], rows)]
        if self.label_shares:
            rows = [
                [esc(label), f"{d.get('reference', 0.0):.1%}", f"{d.get('current', 0.0):.1%}"]
                for label, d in self.label_shares.items()
            ]
            parts += [heading("Predicted labels (share)"), inline_table(["label", "reference", "current"], rows)]
        parts.append("</div>")
        return "\n".join(parts)


def failed_check_result(error: str, cfg: DriftConfig, reference_rows: int = 0, current_rows: int = 0) -> DriftResult:
    """The result of a drift check that could not run: fails closed (status ERROR, blocked)."""
    return DriftResult(
        passed=False,
        checks=[],
        drifted_share=float("nan"),
        max_drifted_share=cfg.max_drifted_share,
        reference_rows=reference_rows,
        current_rows=current_rows,
        error=error,
        override_reason=cfg.override_reason,
    )
