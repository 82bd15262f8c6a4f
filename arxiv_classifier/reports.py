"""Static, dependency-free reports: dataset card (HTML), model card (Markdown), confusion-matrix image.

They are plain HTML/Markdown on purpose: the ZenML dashboard shows artifacts in a sandboxed
frame where JavaScript-rendered reports stay blank.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from arxiv_classifier.constants import COL_DATE, COL_LABEL, COL_SPLIT, SPLITS

_CSS = (
    "<style>body{font-family:system-ui,sans-serif;font-size:13px}table{border-collapse:collapse;margin:8px 0}"
    "td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f8}"
    "td.l{text-align:left}.bar{background:#7a5af8;height:10px;display:inline-block}</style>"
)


_CELL = "border:1px solid #d0d7de;padding:4px 8px;text-align:left"
_TABLE = "border-collapse:collapse;margin:8px 0;font-size:14px"


def inline_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table with inline styles only, for the dashboard's sandboxed preview (no stylesheet, no script).

    Args:
        headers: column titles (escaped here).
        rows: cells, already HTML (callers escape or mark up their values).
    """
    head = "".join(f'<th style="{_CELL};background:#f6f8fa">{html.escape(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{v}</td>' for v in row) + "</tr>" for row in rows)
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _table(frame: pd.DataFrame, bar_column: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [frame.index.name or "", *frame.columns])
    rows = []
    peak = float(frame[bar_column].max()) if bar_column and len(frame) else 0.0
    for idx, row in frame.iterrows():
        cells = [f'<td class="l">{html.escape(str(idx))}</td>']
        for col in frame.columns:
            value = row[col]
            text = f"{value:,}" if isinstance(value, (int, np.integer)) else html.escape(str(value))
            if col == bar_column and peak:
                width = int(120 * float(value) / peak)
                text += f' <span class="bar" style="width:{width}px"></span>'
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def dataset_card_html(frame: pd.DataFrame, metadata: Mapping[str, Any], title: str = "Dataset card") -> str:
    """Counts per split and class, per year, and what validation dropped."""
    per_class = (
        frame.groupby([COL_LABEL, COL_SPLIT]).size().unstack(fill_value=0).reindex(columns=list(SPLITS), fill_value=0)
    )
    per_class["total"] = per_class.sum(axis=1)
    per_class = per_class.sort_values("total", ascending=False)
    per_class.index.name = "label"
    parts = [
        _CSS,
        f"<h2>{html.escape(title)}</h2>",
        f"<p>content hash <code>{html.escape(str(metadata.get('content_hash', '')))}</code> · "
        f"{metadata.get('rows', len(frame)):,} rows · {metadata.get('num_labels', '?')} labels</p>",
        "<h3>Rows per split</h3>",
        _table(frame[COL_SPLIT].value_counts().reindex(list(SPLITS), fill_value=0).rename("rows").to_frame(), "rows"),
        "<h3>Rows per class and split</h3>",
        _table(per_class, "total"),
    ]
    if COL_DATE in frame and frame[COL_DATE].notna().any():
        years = pd.to_datetime(frame[COL_DATE]).dt.year
        per_year = frame.assign(year=years).groupby(["year", COL_SPLIT]).size().unstack(fill_value=0)
        per_year = per_year.reindex(columns=[s for s in SPLITS if s in per_year.columns])
        per_year["total"] = per_year.sum(axis=1)
        per_year.index.name = "year"
        parts += ["<h3>Rows per year</h3>", _table(per_year, "total")]
    validation = metadata.get("validation") or {}
    dropped = validation.get("dropped") or {}
    parts.append("<h3>Validation</h3>")
    parts.append(f"<p>{validation.get('rows_in', '?'):,} rows read, {validation.get('rows_out', '?'):,} kept.</p>")
    if dropped:
        parts.append(_table(pd.Series(dropped, name="rows dropped").rename_axis("reason").to_frame()))
    return "\n".join(parts)


def confusion_matrix_png(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> bytes:
    """Row-normalised confusion matrix with counts, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(matrix, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.55 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=100)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if cm[i, j]:
                    color = "white" if norm[i, j] > 0.5 else "black"
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7, color=color)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def model_card_markdown(
    *,
    model_name: str,
    version: str,
    base_model: str,
    labels: Sequence[str],
    dataset_meta: Mapping[str, Any],
    train_params: Mapping[str, Any],
    test_metrics: Mapping[str, float],
    baseline_metrics: Mapping[str, float] | None,
    per_class: Mapping[str, Mapping[str, float]],
) -> str:
    """A model card in the spirit of Mitchell et al. (2019): what, on what data, how good, limits."""
    keys = [k for k in test_metrics if k != "n"]

    def base(k: str) -> str:
        return _fmt(baseline_metrics[k]) if baseline_metrics and k in baseline_metrics else "–"

    rows = "\n".join(f"| {k} | {_fmt(test_metrics[k])} | {base(k)} |" for k in keys)
    classes = "\n".join(
        f"| `{name}` | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {int(m['support'])} |"
        for name, m in per_class.items()
    )
    params = ", ".join(f"{k}={v}" for k, v in train_params.items())
    return f"""# Model card: {model_name} (version {version})

**What it does.** Classifies a text (for arXiv: title + abstract) into one of {len(labels)} labels:
{", ".join(f"`{label}`" for label in labels)}.

**Model.** `{base_model}` encoder fine-tuned with a sequence-classification head.
Training parameters: {params}.

**Data.** Prepared dataset `{dataset_meta.get("content_hash", "?")[:16]}…`: {dataset_meta.get("rows_train", "?")} train,
{dataset_meta.get("rows_validation", "?")} validation, {dataset_meta.get("rows_test", "?")} test rows.

## Test metrics (same test split for both)

| metric | transformer | TF-IDF baseline |
|---|---|---|
{rows}

## Per class

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{classes}

## Limitations

- The test split is later in time than the training split; the label mix and the vocabulary shift
  (e.g. arXiv test years are dominated by cs.CV / cs.CL / cs.AI). Expect lower scores on newer data
  than on validation, and check drift before deploying.
- Texts are truncated to the model's max length; long abstracts are judged by their beginning.
- Labels outside the label space above cannot be predicted.
"""


def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (float, int)) and not isinstance(value, bool) else "–"


def _test_table(test: Mapping[str, Any], other: str) -> str:
    """One paired test (`PairedTest.as_dict`) of the candidate against `other`, as a two-column table."""
    facts = {
        "test": test["name"],
        "metric tested": test["metric"],
        f"difference (candidate - {other})": f"{test['delta']:+.4f}",
        "statistic": f"{test['statistic']:.4g}",
        "p-value": f"{test['p_value']:.4g}",
        "alpha": test["alpha"],
        "significant": "yes" if test["significant"] else "no",
        f"b: only {other} right": test["b"],
        "c: only candidate right": test["c"],
        "paired rows": test["n"],
    }
    if test.get("ci"):
        facts[f"{1 - test['alpha']:.0%} interval of the difference"] = (
            f"[{test['ci'][0]:+.4f}, {test['ci'][1]:+.4f}] ({test['resamples']} resamples)"
        )
    return _table(pd.Series(facts, name="value").rename_axis("").to_frame())


def promotion_report_html(record: Mapping[str, Any], title: str = "Promotion decision") -> str:
    """The promotion decision as HTML: verdict, reasons, significance test, label spaces, per-class F1, slices.

    Args:
        record: the decision `model_promoter` logs (its keys: `promote`, `reasons`, `metric`, the three
            scores, `test`, `label_space`, `per_class`, `slices`, versions).
        title: the page's heading.
    """
    promoted = bool(record.get("promote"))
    verdict = "PROMOTED" if promoted else "NOT promoted"
    color = "#1a7f37" if promoted else "#cf222e"
    metric = str(record.get("metric", ""))
    parts = [
        _CSS,
        f"<h2>{html.escape(title)}</h2>",
        f'<p><b style="color:{color}">{verdict}</b> to {html.escape(str(record.get("stage", "")))} '
        f"(candidate version {html.escape(str(record.get('candidate_version')))}, production version "
        f"{html.escape(str(record.get('previous_version') or 'none'))}; {record.get('test_rows', '?')} test rows)</p>",
        "<ul>" + "".join(f"<li>{html.escape(str(r))}</li>" for r in record.get("reasons", [])) + "</ul>",
        f"<h3>{html.escape(metric)} on the candidate's test rows</h3>",
        _table(
            pd.DataFrame(
                {metric: [_score(record.get(k)) for k in ("candidate", "production", "baseline")]},
                index=pd.Index(["candidate", "production", "baseline"], name="model"),
            )
        ),
    ]
    test = record.get("test")
    if test:
        parts += ["<h3>Significance</h3>", _test_table(test, "production")]
    elif record.get("previous_version") is not None:
        parts.append("<h3>Significance</h3><p>No test (promotion.test: none): the margin alone decided.</p>")
    against_baseline = record.get("baseline_test")
    if against_baseline:
        rule = html.escape(str(record.get("baseline_rule", "")))
        parts += [
            f"<h3>Against the baseline (promotion.baseline_rule: {rule})</h3>",
            _test_table(against_baseline, "baseline"),
        ]
    space = record.get("label_space")
    if space:
        lacks_p, lacks_c = space["production_lacks"], space["candidate_lacks"]
        text = "Production lacks: " + (
            f"{html.escape(', '.join(lacks_p))} (it cannot answer those papers right)." if lacks_p else "none."
        )
        text += " Candidate lacks: " + (
            f"{html.escape(', '.join(lacks_c))} (production answered with one of them on "
            f"{space['production_predictions_outside_candidate_labels']} test rows, counted wrong)."
            if lacks_c
            else "none."
        )
        parts += ["<h3>Label spaces</h3>", f"<p>{text}</p>"]
    per_class = record.get("per_class") or {}
    if per_class:
        frame = pd.DataFrame(per_class).T
        frame.index.name = "label"
        shown = frame.copy()
        for col in ("candidate_f1", "production_f1"):
            if col in shown:
                shown[col] = frame[col].map(lambda v: f"{v:.3f}")
        if "delta_f1" in shown:
            shown["delta_f1"] = frame["delta_f1"].map(lambda v: f"{v:+.3f}")
        shown["support"] = frame["support"].astype(int)
        parts += ["<h3>Per class (F1)</h3>", _table(shown)]
    for kind, values in (record.get("slices") or {}).items():
        rows: list[dict[str, Any]] = []
        for value, models in values.items():
            row: dict[str, Any] = {kind: value, "n": int(models["candidate"]["n"])}
            for who in ("candidate", "production"):
                if who in models:
                    row[f"{who} accuracy"] = f"{models[who]['accuracy']:.3f}"
                    row[f"{who} macro-F1"] = f"{models[who]['macro_f1']:.3f}"
            rows.append(row)
        parts += [f"<h3>By {html.escape(str(kind))}</h3>", _table(pd.DataFrame(rows).set_index(kind))]
    return "\n".join(parts)
