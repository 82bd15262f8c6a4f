"""The monitor's decision rule: is the production version `healthy`, `drifted` or `decayed`?

Pure functions, no ZenML. The drift side is the deployment gate's own check and rule
(`drift.run_drift_check`, `drift_result.gate_status`), so the monitor calls drifted exactly what the
gate would block. Decay is measured only where papers carry labels: the version's accuracy and
macro-F1 on them against its own test figures, as drops in points.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from arxiv_classifier.config import MonitorConfig
from arxiv_classifier.constants import COL_DATE, COL_ID, COL_TEXT, OTHER_LABEL
from arxiv_classifier.drift_result import gate_status
from arxiv_classifier.endpoint import SMOKE_REQUEST_PREFIX
from arxiv_classifier.reports import inline_table

Verdict = Literal["healthy", "drifted", "decayed", "inconclusive"]
#: Metadata keys, on the monitoring run and the monitored model version: the verdict record (written by
#: the pipeline) and what the launcher did about it (`pipelines/loop.py`: the triggered runs' links).
RECORD_KEY = "monitoring"
ACTIONS_KEY = "monitoring_actions"
#: Verdicts that trigger retraining.
ACTIONABLE: frozenset[str] = frozenset({"drifted", "decayed"})
#: Out-of-label-space labels listed by name in a decay record (the most frequent ones).
TOP_UNKNOWN = 10

_COLOURS = {"healthy": "#1a7f37", "inconclusive": "#9a6700"}  # drifted and decayed are red


@dataclass(frozen=True)
class Decay:
    """The production version's figures on labelled papers against its own test figures.

    `accuracy_drop` and `macro_f1_drop` are in points (percentage points): positive = worse than at test.
    """

    n_labelled: int
    accuracy: float
    macro_f1: float
    test_accuracy: float | None
    test_macro_f1: float | None
    #: papers whose label the model cannot predict (outside its label space): counted as errors
    n_out_of_label_space: int = 0
    out_of_label_space: dict[str, int] = field(default_factory=dict)

    @property
    def accuracy_drop(self) -> float | None:
        return None if self.test_accuracy is None else 100.0 * (self.test_accuracy - self.accuracy)

    @property
    def macro_f1_drop(self) -> float | None:
        return None if self.test_macro_f1 is None else 100.0 * (self.test_macro_f1 - self.macro_f1)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy_drop": self.accuracy_drop, "macro_f1_drop": self.macro_f1_drop}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Decay:
        """The inverse of `as_dict` (the derived drops are recomputed)."""
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})


def measure_decay(
    true_labels: Sequence[str],
    predicted: Sequence[str],
    model_labels: Sequence[str],
    test_metrics: Mapping[str, Any] | None,
) -> Decay:
    """Accuracy and macro-F1 of `predicted` against `true_labels`, next to the version's test figures.

    A label outside the model's label space cannot be predicted, so its papers count as errors (and
    as false positives of whatever was predicted); when the model has an `other` class, such labels
    are `other`, as training relabelled them. Macro-F1 averages over the model's labels, like the
    evaluator's test figure it is compared with.

    Args:
        true_labels: the papers' labels (arXiv's primary category).
        predicted: the model's arg-max label for each paper.
        model_labels: the version's label space.
        test_metrics: the version's `test` metadata (`accuracy`, `macro_f1`); None: no comparison.
    """
    from sklearn.metrics import f1_score

    if len(true_labels) != len(predicted):
        raise ValueError(f"{len(true_labels)} labels but {len(predicted)} predictions")
    known = set(model_labels)
    has_other = OTHER_LABEL in known
    truth = [t if t in known or not has_other else OTHER_LABEL for t in map(str, true_labels)]
    unknown: dict[str, int] = {}
    for label in truth:
        if label not in known:
            unknown[label] = unknown.get(label, 0) + 1
    n = len(truth)
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    accuracy = correct / n if n else float("nan")
    macro_f1 = (
        float(f1_score(truth, list(predicted), labels=list(model_labels), average="macro", zero_division=0))
        if n
        else float("nan")
    )
    top = dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_UNKNOWN])

    def figure(name: str) -> float | None:
        value = (test_metrics or {}).get(name)
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None

    return Decay(
        n_labelled=n,
        accuracy=float(accuracy),
        macro_f1=macro_f1,
        test_accuracy=figure("accuracy"),
        test_macro_f1=figure("macro_f1"),
        n_out_of_label_space=sum(unknown.values()),
        out_of_label_space=top,
    )


@dataclass(frozen=True)
class MonitorDecision:
    """The verdict, the reasons behind it, and one row per check (name, value, limit, failed)."""

    verdict: Verdict
    reasons: list[str]
    checks: list[dict[str, Any]]
    drift_status: str
    decay_judged: bool

    @property
    def triggers_retraining(self) -> bool:
        return self.verdict in ACTIONABLE

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "triggers_retraining": self.triggers_retraining}


def decide(drift_check: Mapping[str, Any], decay: Decay | None, cfg: MonitorConfig) -> MonitorDecision:
    """`decayed` beats `drifted` beats `healthy`; `inconclusive` when neither side could be judged.

    Drift: the deployment gate's rule on the same check (`gate_status`), without any override (an
    override lets a deployment through; it does not make the drift go away). A check that could not
    run (too few papers, an error) is not evidence of drift: it makes the verdict `inconclusive`
    unless decay was measured. Decay: judged with at least `cfg.min_labelled` labelled papers and the
    version's test figures; decayed when either drop passes its limit.

    Args:
        drift_check: the drift result as recorded (`DriftResult.as_dict`).
        decay: figures on labelled papers, or None when the papers had no labels.
        cfg: the thresholds.
    """
    checks = drift_check.get("checks") or []
    status = gate_status(
        passed=drift_check.get("passed") is True,
        error=drift_check.get("error"),
        checks_run=len(checks),
        override_reason=None,
    )
    reasons: list[str] = []
    rows: list[dict[str, Any]] = [
        {
            "name": f"drift: {c.get('name')}",
            "value": c.get("score"),
            "limit": c.get("threshold"),
            "failed": bool(c.get("drifted")),
        }
        for c in checks
    ]
    share = drift_check.get("drifted_share")
    rows.append(
        {
            "name": "drift: share of drifted checks (the gate's rule)",
            "value": share,
            "limit": drift_check.get("max_drifted_share"),
            "failed": status == "BLOCKED",
        }
    )
    drifted = status == "BLOCKED"
    if drifted:
        names = ", ".join(drift_check.get("drifted_checks") or [])
        reasons.append(f"drifted: the deployment gate would block these papers ({names}; share {share:.2f})")
    elif status == "ERROR":
        reasons.append(f"drift not judged: the check could not run ({drift_check.get('error') or 'no check ran'})")
    else:
        reasons.append("no drift by the gate's rule")

    decayed = False
    decay_judged = False
    if decay is None:
        reasons.append("decay not judged: the papers carry no labels")
    elif decay.n_labelled < cfg.min_labelled:
        reasons.append(
            f"decay not judged: {decay.n_labelled} labelled papers, fewer than min_labelled {cfg.min_labelled}"
        )
    elif decay.accuracy_drop is None or decay.macro_f1_drop is None:
        reasons.append("decay not judged: the version records no test accuracy / macro-F1 to compare with")
    else:
        decay_judged = True
        for name, drop, limit in (
            ("accuracy", decay.accuracy_drop, cfg.max_accuracy_drop),
            ("macro-F1", decay.macro_f1_drop, cfg.max_macro_f1_drop),
        ):
            failed = drop > limit
            rows.append({"name": f"decay: {name} drop (points)", "value": drop, "limit": limit, "failed": failed})
            if failed:
                decayed = True
                reasons.append(
                    f"decayed: {name} is {drop:.1f} points below the version's test figure (limit {limit:g})"
                )
        if not decayed:
            reasons.append("no decay beyond the limits")
        if decay.n_out_of_label_space:
            reasons.append(
                f"{decay.n_out_of_label_space} of {decay.n_labelled} labelled papers have a label outside the "
                f"model's label space (counted as errors): {', '.join(decay.out_of_label_space)}"
            )

    verdict: Verdict
    if decayed:
        verdict = "decayed"
    elif drifted:
        verdict = "drifted"
    elif status == "ERROR" and not decay_judged:
        verdict = "inconclusive"
    else:
        verdict = "healthy"
    return MonitorDecision(verdict, reasons, rows, status, decay_judged)


def decay_noise(
    truth: np.ndarray,
    predicted: np.ndarray,
    classes: np.ndarray,
    sizes: list[int],
    resamples: int,
    seed: int,
    quantiles: tuple[float, ...] = (0.95, 0.99),
) -> dict[int, dict[str, dict[str, float]]]:
    """Per monitored size n: the drop (points) of accuracy and macro-F1 where nothing decayed: its sd and quantiles.

    What the decay thresholds are calibrated on (`benchmarks/calibrate_monitor.py`). Each resample
    draws the version's test figure from a bootstrap of all its test rows and the monitored figure
    from n draws of the same rows, so the two differ by sampling alone.

    Args:
        truth / predicted: label indices of the version's test rows (-1: outside its label space).
        classes: the indices macro-F1 averages over (the version's labels).
    """
    from arxiv_classifier.metrics import prediction_metrics

    rng = np.random.default_rng(seed)
    total = len(truth)
    out: dict[int, dict[str, dict[str, float]]] = {}
    for n in sizes:
        drops: dict[str, list[float]] = {"accuracy": [], "macro_f1": []}
        for _ in range(resamples):
            test = rng.integers(0, total, total)
            monitored = rng.integers(0, total, n)
            a = prediction_metrics(truth[test], predicted[test], classes)
            b = prediction_metrics(truth[monitored], predicted[monitored], classes)
            for metric in drops:
                drops[metric].append(100.0 * (a[metric] - b[metric]))
        out[n] = {
            metric: {
                "sd": float(np.std(values)),
                **{f"q{round(q * 100)}": float(np.quantile(values, q)) for q in quantiles},
            }
            for metric, values in drops.items()
        }
    return out


def monitor_window(cfg: MonitorConfig, today: date, data_end: date | None = None) -> tuple[date | None, date]:
    """[since, until) of the papers read.

    `until`: `cfg.as_of`; else today, which 'served' includes (what was answered up to now) and
    'arrived' does not (a retraining as of today reads nothing dated today either). `since`: as
    configured; else 'served' looks back `cfg.lookback_days` and 'arrived' starts at `data_end` (the
    day after the newest paper the version was trained on: only papers it never saw).
    """
    until = cfg.as_of or (today + timedelta(days=1) if cfg.source == "served" else today)
    since = cfg.since
    if since is None:
        since = until - timedelta(days=cfg.lookback_days) if cfg.source == "served" else data_end
    if since is not None and since >= until:
        raise ValueError(
            f"the monitoring window [{since}, {until}) is empty: the version's papers run to {data_end}; "
            "set monitor.since (or monitor.as_of) to read a window"
        )
    return since, until


def served_papers(log: pd.DataFrame, text_fields: Sequence[str] = ("title", "summary")) -> pd.DataFrame:
    """The papers a request log holds, as the drift check reads papers: `id`, text fields, `text`, `date`.

    Smoke-test requests (request id `smoke-...`, sent by the deployment's own check) are not traffic
    and are dropped. The text is joined exactly as training joins it.
    """
    from arxiv_classifier.data import _join_columns, _normalise_column

    ids = log["request_id"].astype(str)
    log = log[~ids.str.startswith(SMOKE_REQUEST_PREFIX)]
    out = pd.DataFrame(index=log.index)
    out[COL_ID] = log["request_id"].astype(str) + ":" + log["index"].astype(str)
    for name in text_fields:
        out[name] = _normalise_column(log[name].fillna("").astype(str))
    out[COL_TEXT] = _join_columns(out, list(text_fields))
    out[COL_DATE] = pd.to_datetime(log["time"], utc=True).dt.tz_localize(None)
    return out[out[COL_TEXT] != ""].reset_index(drop=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def report_html(record: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> str:
    """Today's verdict and checks, then every monitoring verdict of the model over time, as static HTML.

    Script-free with inline styles only, like the drift summary: the dashboard shows artifacts in a
    sandboxed frame where JavaScript does not run.

    Args:
        record: this run's `monitoring` record.
        history: earlier runs' records, any order (shown oldest first, this run last).
    """
    esc = html.escape

    def coloured(verdict: str) -> str:
        return f'<b style="color:{_COLOURS.get(verdict, "#cf222e")}">{esc(verdict)}</b>'

    verdict = str(record.get("verdict", "?"))
    window = record.get("window") or {}
    parts = [
        '<div style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328">',
        f'<h2 style="margin:0 0 8px 0">Monitoring: {coloured(verdict)}</h2>',
        f"<p>Model <b>{esc(str(record.get('model_name', '?')))}</b> version <b>{esc(str(record.get('model_version')))}"
        f"</b> &middot; source <b>{esc(str(record.get('source')))}</b> &middot; window "
        f"[{esc(str(window.get('since') or '...'))}, {esc(str(window.get('until') or '...'))}) &middot; "
        f"<b>{record.get('rows', 0)}</b> papers &middot; checked {esc(str(record.get('time', '')))}</p>",
        "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in record.get("reasons") or []) + "</ul>",
    ]
    check_rows = [
        [
            esc(str(c.get("name"))),
            _fmt(c.get("value")),
            _fmt(c.get("limit")),
            '<b style="color:#cf222e">yes</b>' if c.get("failed") else "no",
        ]
        for c in record.get("checks") or []
    ]
    if check_rows:
        parts.append(inline_table(["check", "value", "limit", "failed"], check_rows))
    decay = record.get("decay")
    if decay:
        parts.append(
            f"<p>Labelled papers: <b>{decay.get('n_labelled')}</b>; accuracy {_fmt(decay.get('accuracy'))} "
            f"(test {_fmt(decay.get('test_accuracy'))}), macro-F1 {_fmt(decay.get('macro_f1'))} "
            f"(test {_fmt(decay.get('test_macro_f1'))}); outside the label space: "
            f"{decay.get('n_out_of_label_space', 0)}</p>"
        )

    runs = sorted([*history, record], key=lambda r: str(r.get("time", "")))
    over_time = []
    for r in runs:
        d = r.get("decay") or {}
        drift = r.get("drift") or {}
        over_time.append(
            [
                esc(str(r.get("time", ""))[:19]),
                esc(str(r.get("model_version"))),
                esc(str(r.get("source"))),
                str(r.get("rows", "")),
                esc(str(drift.get("status", "?"))),
                _fmt(drift.get("drifted_share"), 2),
                _fmt(d.get("accuracy_drop"), 1),
                _fmt(d.get("macro_f1_drop"), 1),
                coloured(str(r.get("verdict", "?"))),
                esc(str(r.get("retrained_version") or "")),
            ]
        )
    parts += [
        '<h3 style="margin:12px 0 4px 0">Checks over time</h3>',
        inline_table(
            [
                "checked (UTC)",
                "version",
                "source",
                "papers",
                "drift",
                "drifted share",
                "accuracy drop (pt)",
                "macro-F1 drop (pt)",
                "verdict",
                "retrained as",
            ],
            over_time,
        ),
        "</div>",
    ]
    return "\n".join(parts)
