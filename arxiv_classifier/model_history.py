"""The model's history in one page: every version with its data window, test figures, stage, promotion
decision, deployments and monitoring verdicts.

The open-source ZenML dashboard's Models page is a paid feature; this page is an HTML artifact that
each training and monitoring run emits, so a team sees the loop (monitor -> retrain -> promote ->
deploy) in the run's artifacts. Built from plain records (see `version_row`), rendered with inline
styles only (the dashboard shows artifacts in a sandboxed frame without scripts or stylesheets).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arxiv_classifier.reports import inline_table

_VERDICT_COLOURS = {"healthy": "#1a7f37", "drifted": "#bc4c00", "decayed": "#cf222e", "inconclusive": "#6e7781"}


@dataclass
class VersionRow:
    """One model version, as the history shows it."""

    number: int
    created: str
    stage: str | None
    window: dict[str, Any] | None  # the prepared dataset's `data_window` (date splits), else None
    test: dict[str, float]  # accuracy, macro_f1 (empty: not evaluated)
    baseline: dict[str, float]
    promotion: dict[str, Any] | None
    deployment: dict[str, Any] | None
    monitoring: list[dict[str, Any]] = field(default_factory=list)  # oldest first


def _figure(metrics: Mapping[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) else None


def version_row(
    number: int,
    created: str,
    stage: str | None,
    metadata: Mapping[str, Any],
    window: Mapping[str, Any] | None,
    monitoring: Sequence[Mapping[str, Any]] = (),
) -> VersionRow:
    """A version's row from its run metadata (`test`, `baseline_test`, `promotion`, `deployment`)."""

    def section(key: str) -> dict[str, Any]:
        value = metadata.get(key)
        return dict(value) if isinstance(value, Mapping) else {}

    return VersionRow(
        number=number,
        created=created,
        stage=stage,
        window=dict(window) if window else None,
        test={k: v for k in ("accuracy", "macro_f1") if (v := _figure(section("test"), k)) is not None},
        baseline={k: v for k in ("accuracy", "macro_f1") if (v := _figure(section("baseline_test"), k)) is not None},
        promotion=section("promotion") or None,
        deployment=section("deployment") or None,
        monitoring=sorted((dict(m) for m in monitoring), key=lambda m: str(m.get("time") or "")),
    )


def _window_text(window: Mapping[str, Any] | None) -> str:
    if not window:
        return "—"
    as_of = f"as of {window['as_of']}: " if window.get("as_of") else ""
    train, test = window.get("train") or [None, None], window.get("test") or [None, None]
    return html.escape(
        f"{as_of}train {train[0] or '…'} .. {train[1] or '…'}; test {test[0] or '…'} .. {test[1] or '…'}"
    )


def _pair(metrics: Mapping[str, float]) -> str:
    if not metrics:
        return "—"
    return f"{metrics.get('accuracy', float('nan')):.3f} / {metrics.get('macro_f1', float('nan')):.3f}"


def _promotion_text(promotion: Mapping[str, Any] | None) -> str:
    if not promotion:
        return "—"
    verdict = "<b>promoted</b>" if promotion.get("promote") else "not promoted"
    test = promotion.get("test")
    detail = ""
    if isinstance(test, Mapping) and "p_value" in test:
        detail = f" (p={float(test['p_value']):.3g} vs v{promotion.get('previous_version')})"
    reasons = "; ".join(str(r) for r in promotion.get("reasons") or [])
    return f'{verdict}{detail}<br><span style="color:#57606a">{html.escape(reasons[:200])}</span>'


def _deployment_text(deployment: Mapping[str, Any] | None) -> str:
    if not deployment:
        return "—"
    status = html.escape(str(deployment.get("status") or ""))
    url = deployment.get("url")
    return status + (f"<br>{html.escape(str(url))}" if url else "")


def _monitoring_text(records: Sequence[Mapping[str, Any]]) -> str:
    if not records:
        return "—"
    items = []
    for m in records:
        verdict = str(m.get("verdict"))
        colour = _VERDICT_COLOURS.get(verdict, "#24292f")
        retrained = m.get("retrained_version")
        after = f" → v{retrained}" if retrained is not None else ""
        items.append(
            f"{html.escape(str(m.get('as_of') or m.get('time') or ''))}: "
            f'<span style="color:{colour};font-weight:600">{html.escape(verdict)}</span>{after}'
        )
    return "<br>".join(items)


def _chart(rows: Sequence[VersionRow], width: int = 520, height: int = 150) -> str:
    """An inline SVG of test accuracy and macro-F1 by version (each on the version's own test window)."""
    points = [(r.number, r.test) for r in sorted(rows, key=lambda r: r.number) if r.test]
    if len(points) < 2:
        return ""
    pad, lo, hi = 30, 0.0, 1.0
    step = (width - 2 * pad) / (len(points) - 1)

    def xy(i: int, value: float) -> str:
        return f"{pad + i * step:.1f},{height - pad - (value - lo) / (hi - lo) * (height - 2 * pad):.1f}"

    lines = []
    for name, colour in (("accuracy", "#0969da"), ("macro_f1", "#8250df")):
        coords = " ".join(xy(i, m[name]) for i, (_, m) in enumerate(points) if name in m)
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        lines.append(
            f'<text x="{width - pad}" y="{12 if name == "accuracy" else 26}" fill="{colour}" '
            f'font-size="11" text-anchor="end">{name.replace("_", "-")}</text>'
        )
    labels = "".join(
        f'<text x="{pad + i * step:.1f}" y="{height - 8}" font-size="11" text-anchor="middle">v{n}</text>'
        for i, (n, _) in enumerate(points)
    )
    axis = f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#d0d7de"/>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="test accuracy and macro-F1 by version">{axis}{"".join(lines)}{labels}</svg>'
    )


def model_history_html(model_name: str, rows: Sequence[VersionRow]) -> str:
    """The page: a chart of test figures by version, then one table row per version, newest first."""
    ordered = sorted(rows, key=lambda r: r.number, reverse=True)
    table = inline_table(
        [
            "version",
            "created",
            "stage",
            "data window",
            "test acc / macro-F1",
            "TF-IDF acc / macro-F1",
            "promotion",
            "deployment",
            "monitoring verdicts",
        ],
        [
            [
                f"v{r.number}",
                html.escape(r.created[:16]),
                f"<b>{html.escape(r.stage)}</b>" if r.stage and r.stage != "None" else "—",
                _window_text(r.window),
                _pair(r.test),
                _pair(r.baseline),
                _promotion_text(r.promotion),
                _deployment_text(r.deployment),
                _monitoring_text(r.monitoring),
            ]
            for r in ordered
        ],
    )
    note = (
        "Each version's test figures are on its own test window (the newest months before its as-of date), "
        "so versions of different windows are not scored on the same papers; the promotion column compares "
        "a candidate with production on the candidate's test papers."
    )
    return (
        f'<div style="font-family:system-ui,sans-serif"><h2>Model history: {html.escape(model_name)}</h2>'
        f'{_chart(rows)}<p style="color:#57606a">{note}</p>{table}</div>'
    )
