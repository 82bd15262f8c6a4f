"""Drift between the model's training data and incoming papers, checked with Evidently 0.7.

Three steps, each usable on its own (no ZenML here; torch, transformers and evidently are
imported inside the functions that need them):

1. `load_papers`: read incoming papers (a date window, feed boilerplate stripped, optionally
   restricted to the model's labels, sampled) into the canonical `id, text, <text fields>, date`.
2. `model_features`: ONE pass of the classifier over the texts gives the checked features
   (`text_length`, `word_count`, `unk_rate`, `predicted_label`), the class probabilities (so
   batch inference does not score twice) and a text embedding from the classifier's own encoder.
3. `run_drift_check`: an Evidently `Report` with one `ValueDrift` per feature and an
   `EmbeddingsDrift` (`ModelDriftMethod`: ROC AUC of a classifier told to separate reference
   from current embeddings). The share of drifted checks decides the gate.

`DriftResult` carries the verdict, every check's score and threshold, and renders a static
summary (Markdown or script-free HTML) that a sandboxed dashboard preview can show; the full
Evidently report (JavaScript, several MB) is returned beside it as an HTML string.
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from arxiv_classifier.config import CurrentDataConfig, DriftConfig
from arxiv_classifier.constants import COL_DATE, COL_ID, COL_LABEL, COL_TEXT
from arxiv_classifier.data import DataError, _join_columns, _normalise_column, parse_dates, read_table

if TYPE_CHECKING:
    from arxiv_classifier.classifier import TextClassifier

logger = logging.getLogger(__name__)

#: Numeric features checked with `DriftConfig.numeric_stattest`.
NUMERIC_FEATURES: tuple[str, ...] = ("text_length", "word_count", "unk_rate")
#: Categorical feature checked with `DriftConfig.categorical_stattest`.
PREDICTED_LABEL = "predicted_label"
#: All columns of the feature frame `model_features` returns, in order.
FEATURE_COLUMNS: tuple[str, ...] = (*NUMERIC_FEATURES, PREDICTED_LABEL)
#: Name of the embedding check (and of the embedding set in Evidently's DataDefinition).
EMBEDDING_CHECK = "embedding"
#: Optional PCA of the embeddings (fit on the reference) before the embedding check; None keeps every
#: dimension. Calibrated on arXiv: the full 384 dims separate drift best (ROC AUC 0.78 / 0.91 for recent
#: traffic / the test era, vs 0.68 / 0.84 with 32 components) at the same null spread (0.50 +- 0.02), and
#: the check costs about the same (Evidently's t-SNE plot dominates either way).
DEFAULT_EMBEDDING_COMPONENTS: int | None = None
#: Fewest rows on either side for a meaningful check (Evidently's t-SNE needs more than 30 points).
MIN_ROWS = 30
#: Most labels listed in the summary's predicted-label table.
TOP_LABELS = 8

CheckKind = Literal["numeric", "categorical", "embedding"]


# --------------------------------------------------------------------------------------------
# Loading incoming papers
# --------------------------------------------------------------------------------------------


def _strip_start(col: pd.Series, pattern: str) -> pd.Series:
    """Remove `pattern` where it matches at the very start of each value (feed boilerplate)."""
    anchored = re.compile(rf"^(?:{pattern})")
    return col.str.replace(anchored, "", n=1, regex=True)


def _naive_utc(dates: pd.Series) -> pd.Series:
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        return dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates


def load_papers(cfg: CurrentDataConfig, model_labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Read incoming papers as the model sees them.

    Returns a frame (index 0..n-1) with columns `id` (when `cfg.id_field`), every text field under
    its own name (whitespace-normalised, `strip_pattern` removed), `text` (the fields joined the way
    training joins them), `date` (when `cfg.date_field`) and `label` (when `cfg.label_field`).
    Rows: inside the date window [start, end), label aliased and restricted to `model_labels` when
    `cfg.restrict_to_model_labels`, non-empty text, then a seeded sample of at most `cfg.max_rows`.

    Raises:
        DataError: a configured column is missing, or no row survives a filter (the message names it).
    """
    raw = read_table(cfg.source)
    needed = [*cfg.text_fields]
    for extra in (cfg.id_field, cfg.date_field, cfg.label_field):
        if extra:
            needed.append(extra)
    needed = list(dict.fromkeys(needed))
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise DataError(
            f"{cfg.source} lacks column(s) {missing}; it has {list(raw.columns)}. Set the papers' text_fields / "
            "id_field / date_field / label_field in the config to the columns this source uses."
        )
    if raw.empty:
        raise DataError(f"{cfg.source} has no rows")
    rows_read = len(raw)

    # Filter on dates and labels first: normalising text is the expensive part on a large source.
    dates = _naive_utc(parse_dates(raw[cfg.date_field])) if cfg.date_field else None
    if dates is not None and (cfg.start or cfg.end):
        keep = dates.notna()
        if cfg.start:
            keep &= dates >= pd.Timestamp(cfg.start)
        if cfg.end:
            keep &= dates < pd.Timestamp(cfg.end)
        if not keep.any():
            valid = dates.dropna()
            span = f"{valid.min():%Y-%m-%d} .. {valid.max():%Y-%m-%d}" if len(valid) else "no parseable dates"
            raise DataError(
                f"no paper of {cfg.source} is dated in [{cfg.start or '-inf'}, {cfg.end or '+inf'}) "
                f"(column {cfg.date_field!r} spans {span}); widen the window or set start/end to null"
            )
        raw, dates = raw[keep], dates[keep]

    labels = None
    if cfg.label_field:
        labels = _normalise_column(raw[cfg.label_field])
        if cfg.label_aliases:
            labels = labels.replace(cfg.label_aliases)
    if cfg.restrict_to_model_labels:
        if not model_labels:
            raise DataError("restrict_to_model_labels is set but the model's labels were not given")
        assert labels is not None  # the config requires label_field with restrict_to_model_labels
        known = set(model_labels)
        keep = labels.isin(known)
        if not keep.any():
            seen = labels.value_counts().head(10).index.tolist()
            raise DataError(
                f"no paper of {cfg.source} has one of the model's labels {sorted(known)} "
                f"(most frequent labels there: {seen}); check label_field / label_aliases"
            )
        raw, labels = raw[keep], labels[keep]
        dates = dates[keep] if dates is not None else None

    out = pd.DataFrame(index=raw.index)
    if cfg.id_field:
        out[COL_ID] = _normalise_column(raw[cfg.id_field])
    for name in cfg.text_fields:
        column = _normalise_column(raw[name])
        if cfg.strip_pattern:
            column = _strip_start(column, cfg.strip_pattern).str.strip()
        out[name] = column
    out[COL_TEXT] = _join_columns(out, cfg.text_fields)
    if dates is not None:
        out[COL_DATE] = dates
    if labels is not None:
        out[COL_LABEL] = labels

    keep = out[COL_TEXT] != ""
    if not keep.any():
        raise DataError(f"every paper of {cfg.source} left has an empty text (fields {cfg.text_fields})")
    out = out[keep]

    if cfg.max_rows is not None and len(out) > cfg.max_rows:
        out = out.sample(n=cfg.max_rows, random_state=cfg.seed).sort_index()
    out = out.reset_index(drop=True)
    logger.info("loaded %d of %d papers from %s", len(out), rows_read, cfg.source)
    return out


# --------------------------------------------------------------------------------------------
# One model pass: features, probabilities, embeddings
# --------------------------------------------------------------------------------------------


def model_features(
    classifier: TextClassifier, texts: Sequence[str], batch_size: int = 64, device: str = "auto"
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Score `texts` once and derive the drift features.

    Returns:
        features: one row per text (same order), columns `FEATURE_COLUMNS`: `text_length` (characters),
            `word_count` (whitespace-separated words), `unk_rate` (share of the UNK token among the
            non-special tokens the model sees, i.e. after truncation to `max_length`; 0 for no tokens)
            and `predicted_label` (the arg-max label name).
        probabilities: shape (n, num_labels), in `classifier.labels` order.
        embeddings: shape (n, hidden), the last hidden state mean-pooled over the attention mask.
    """
    import torch

    from arxiv_classifier.classifier import pick_device

    texts = list(texts)
    labels = classifier.labels
    n = len(texts)
    dev = pick_device(device)
    model = classifier.model.to(dev).eval()  # type: ignore[arg-type]
    tokenizer = classifier.tokenizer
    unk_id = tokenizer.unk_token_id

    probs = np.zeros((n, len(labels)), dtype=np.float32)
    emb = np.zeros((n, int(getattr(model.config, "hidden_size", 0) or 0)), dtype=np.float32)
    unk_rate = np.zeros(n, dtype=np.float64)
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx],
                truncation=True,
                max_length=classifier.max_length,
                padding=True,
                return_tensors="pt",
                return_special_tokens_mask=True,
            )
            special = enc.pop("special_tokens_mask").bool()
            content = enc["attention_mask"].bool() & ~special
            if unk_id is not None:
                n_unk = ((enc["input_ids"] == unk_id) & content).sum(dim=1)
                unk_rate[idx] = (n_unk / content.sum(dim=1).clamp(min=1)).double().numpy()
            out = model(**enc.to(dev), output_hidden_states=True)
            probs[idx] = torch.softmax(out.logits.float(), dim=-1).cpu().numpy()
            last = out.hidden_states[-1].float()
            weights = enc["attention_mask"].unsqueeze(-1).to(last.dtype)
            pooled = (last * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            if start == 0 and emb.shape[1] != pooled.shape[1]:  # config without hidden_size
                emb = np.zeros((n, pooled.shape[1]), dtype=np.float32)
            emb[idx] = pooled.cpu().numpy()

    predicted = probs.argmax(axis=1) if n else np.zeros(0, dtype=int)
    features = pd.DataFrame(
        {
            "text_length": np.array([len(t) for t in texts], dtype=np.int64),
            "word_count": np.array([len(t.split()) for t in texts], dtype=np.int64),
            "unk_rate": unk_rate,
            PREDICTED_LABEL: pd.Series([labels[i] for i in predicted], dtype=object),
        }
    )
    return features, probs, emb


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------


def _json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


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

    `blocked` is what a deployment gate acts on: a failed check blocks unless an override reason
    was given (the reason is recorded; an erroring check fails closed, but can be overridden too).
    """

    passed: bool
    checks: list[DriftCheck]
    drifted_share: float
    max_drifted_share: float
    reference_rows: int
    current_rows: int
    error: str | None = None
    override_reason: str | None = None
    #: feature -> {"reference": mean, "current": mean}
    column_means: dict[str, dict[str, float]] = field(default_factory=dict)
    #: predicted label -> {"reference": share, "current": share} (the most frequent labels)
    label_shares: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        return not self.passed and not self.override_reason

    @property
    def drifted_checks(self) -> list[str]:
        return [c.name for c in self.checks if c.drifted]

    @property
    def status(self) -> str:
        """PASSED, BLOCKED, ERROR (check failed to run, blocked) or OVERRIDDEN."""
        if self.passed:
            return "PASSED"
        if self.override_reason:
            return "OVERRIDDEN"
        return "ERROR" if self.error else "BLOCKED"

    def verdict(self) -> str:
        """One sentence saying what was decided and why."""
        if self.error:
            why = f"the drift check could not run: {self.error}"
        else:
            why = (
                f"{len(self.drifted_checks)} of {len(self.checks)} checks drifted "
                f"({self.drifted_share:.0%}; the gate blocks at {self.max_drifted_share:.0%} or more)"
            )
            if self.drifted_checks:
                why += f": {', '.join(self.drifted_checks)}"
        if self.passed:
            return f"Drift gate passed: {why}."
        if self.override_reason:
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
        }

    def summary_markdown(self) -> str:
        """A static Markdown summary: verdict, the checks table and the per-feature comparison."""
        lines = [
            f"## Drift check: {self.status}",
            "",
            self.verdict(),
            "",
            f"Reference rows: {self.reference_rows} · current rows: {self.current_rows}",
        ]
        if self.checks:
            lines += ["", "| check | kind | method | score | threshold | drifted |", "|---|---|---|---|---|---|"]
            for c in self.checks:
                lines.append(
                    f"| {c.name} | {c.kind} | {c.method} | {_fmt(c.score)} | {_fmt(c.threshold)} | "
                    f"{'**yes**' if c.drifted else 'no'} |"
                )
        if self.column_means:
            lines += ["", "### Feature means", "", "| feature | reference | current |", "|---|---|---|"]
            for name, d in self.column_means.items():
                digits = 4 if name == "unk_rate" else 1
                lines.append(f"| {name} | {_fmt(d.get('reference'), digits)} | {_fmt(d.get('current'), digits)} |")
        if self.label_shares:
            lines += ["", "### Predicted labels (share)", "", "| label | reference | current |", "|---|---|---|"]
            for label, d in self.label_shares.items():
                lines.append(f"| {label} | {d.get('reference', 0.0):.1%} | {d.get('current', 0.0):.1%} |")
        return "\n".join(lines) + "\n"

    def summary_html(self) -> str:
        """The same summary as self-contained, script-free HTML (inline styles only)."""
        esc = html.escape
        colour = {"PASSED": "#1a7f37", "OVERRIDDEN": "#9a6700"}.get(self.status, "#cf222e")
        cell = "border:1px solid #d0d7de;padding:4px 8px;text-align:left"
        table = "border-collapse:collapse;margin:8px 0;font-size:14px"

        def render(headers: list[str], rows: list[list[str]]) -> str:
            head = "".join(f'<th style="{cell};background:#f6f8fa">{esc(h)}</th>' for h in headers)
            body = "".join("<tr>" + "".join(f'<td style="{cell}">{v}</td>' for v in row) + "</tr>" for row in rows)
            return f'<table style="{table}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

        def heading(text: str) -> str:
            return f'<h3 style="margin:12px 0 4px 0">{esc(text)}</h3>'

        parts = [
            '<div style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328">',
            f'<h2 style="margin:0 0 8px 0">Drift check: <span style="color:{colour}">{esc(self.status)}</span></h2>',
            f"<p>{esc(self.verdict())}</p>",
            f"<p>Reference rows: <b>{self.reference_rows}</b> &middot; current rows: <b>{self.current_rows}</b></p>",
        ]
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
            parts.append(render(["check", "kind", "method", "score", "threshold", "drifted"], rows))
        if self.column_means:
            rows = []
            for name, d in self.column_means.items():
                digits = 4 if name == "unk_rate" else 1
                rows.append([esc(name), _fmt(d.get("reference"), digits), _fmt(d.get("current"), digits)])
            parts += [heading("Feature means"), render(["feature", "reference", "current"], rows)]
        if self.label_shares:
            rows = [
                [esc(label), f"{d.get('reference', 0.0):.1%}", f"{d.get('current', 0.0):.1%}"]
                for label, d in self.label_shares.items()
            ]
            parts += [heading("Predicted labels (share)"), render(["label", "reference", "current"], rows)]
        parts.append("</div>")
        return "\n".join(parts)


def gate_passes(checks: Sequence[DriftCheck], max_drifted_share: float, error: str | None = None) -> tuple[bool, float]:
    """The gate rule: (passed, drifted share). Passed = no error and drifted share < max_drifted_share."""
    share = sum(c.drifted for c in checks) / len(checks) if checks else float("nan")
    return (error is None and bool(checks) and share < max_drifted_share), share


def failed_check_result(error: str, cfg: DriftConfig, reference_rows: int = 0, current_rows: int = 0) -> DriftResult:
    """The result of a drift check that could not run: fails closed (passed=False, error set)."""
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


# --------------------------------------------------------------------------------------------
# The Evidently check
# --------------------------------------------------------------------------------------------


def _check_inputs(features: pd.DataFrame, emb: np.ndarray, side: str) -> None:
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        raise DataError(f"{side} features lack column(s) {missing}; they have {list(features.columns)}")
    if len(features) < MIN_ROWS:
        raise DataError(f"{side} has {len(features)} rows; a drift check needs at least {MIN_ROWS}")
    if emb.ndim != 2 or emb.shape[0] != len(features):
        raise DataError(f"{side} embeddings have shape {emb.shape}; expected ({len(features)}, dim)")


def _reduce_embeddings(
    reference: np.ndarray, current: np.ndarray, components: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """PCA fit on the reference, applied to both (a no-op for None or embeddings already that small)."""
    if components is None:
        return reference, current
    n_comp = min(components, reference.shape[1], reference.shape[0] - 1)
    if n_comp >= reference.shape[1]:
        return reference, current
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n_comp, random_state=0).fit(reference)
    return pca.transform(reference), pca.transform(current)


def _label_shares(reference: pd.Series, current: pd.Series, top: int = TOP_LABELS) -> dict[str, dict[str, float]]:
    ref = reference.astype(str).value_counts(normalize=True)
    cur = current.astype(str).value_counts(normalize=True)
    both = pd.DataFrame({"reference": ref, "current": cur}).fillna(0.0)
    both = both.loc[both.max(axis=1).sort_values(ascending=False, kind="stable").index[:top]]
    return {str(k): {"reference": float(r), "current": float(c)} for k, r, c in both.itertuples()}


def _test_status(result: Any) -> bool | None:
    """Drift flag from a metric's own default test (handles p-value and distance tests alike)."""
    for test in getattr(result, "tests", None) or []:
        status = getattr(getattr(test, "status", None), "value", getattr(test, "status", None))
        if str(status).upper() in {"FAIL", "FAILED"}:
            return True
        if str(status).upper() in {"SUCCESS", "PASSED", "PASS"}:
            return False
    return None


#: Evidently stat tests whose score is a distance (drift at or above the threshold); the others give p-values.
_DISTANCE_TESTS = {"wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "ed"}


def _fallback_drifted(score: float, threshold: float, method: str) -> bool:
    """When Evidently gives no test: distances drift at or above the threshold, p-values below it."""
    return score >= threshold if method in _DISTANCE_TESTS else score < threshold


def run_drift_check(
    reference_features: pd.DataFrame,
    reference_emb: np.ndarray,
    current_features: pd.DataFrame,
    current_emb: np.ndarray,
    cfg: DriftConfig,
    embedding_components: int | None = DEFAULT_EMBEDDING_COMPONENTS,
) -> tuple[DriftResult, str]:
    """Compare current with reference features and embeddings; returns the verdict and Evidently's HTML.

    Checks: `ValueDrift` on each numeric feature (`cfg.numeric_stattest`, `cfg.numeric_threshold`) and on
    `predicted_label` (`cfg.categorical_stattest`, `cfg.categorical_threshold`); `EmbeddingsDrift` with
    `ModelDriftMethod(threshold=cfg.embedding_threshold)` on the embeddings (optionally reduced to
    `embedding_components` principal components fit on the reference).

    Raises:
        DataError: inputs are malformed or too small (fewer than `MIN_ROWS` rows on a side).
        Exception: whatever Evidently raises (e.g. an unknown stat test); wrap with `failed_check_result`.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import EmbeddingsDrift, ValueDrift
    from evidently.metrics.embeddings import ModelDriftMethod

    _check_inputs(reference_features, reference_emb, "reference")
    _check_inputs(current_features, current_emb, "current")
    ref_emb, cur_emb = _reduce_embeddings(
        np.asarray(reference_emb, dtype=np.float64), np.asarray(current_emb, dtype=np.float64), embedding_components
    )
    emb_cols = [f"emb_{i}" for i in range(ref_emb.shape[1])]

    def frame(features: pd.DataFrame, emb: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame({c: pd.to_numeric(features[c]).astype(float).to_numpy() for c in NUMERIC_FEATURES})
        out[PREDICTED_LABEL] = features[PREDICTED_LABEL].astype(str).to_numpy()
        return pd.concat([out, pd.DataFrame(emb, columns=emb_cols)], axis=1)

    ref_df, cur_df = frame(reference_features, ref_emb), frame(current_features, cur_emb)
    definition = DataDefinition(
        numerical_columns=[*NUMERIC_FEATURES, *emb_cols],
        categorical_columns=[PREDICTED_LABEL],
        embeddings={EMBEDDING_CHECK: emb_cols},
    )
    value_metrics: list[tuple[str, CheckKind, str, float, Any]] = [
        (
            name,
            "numeric",
            cfg.numeric_stattest,
            cfg.numeric_threshold,
            ValueDrift(column=name, method=cfg.numeric_stattest, threshold=cfg.numeric_threshold),
        )
        for name in NUMERIC_FEATURES
    ]
    value_metrics.append(
        (
            PREDICTED_LABEL,
            "categorical",
            cfg.categorical_stattest,
            cfg.categorical_threshold,
            ValueDrift(column=PREDICTED_LABEL, method=cfg.categorical_stattest, threshold=cfg.categorical_threshold),
        )
    )
    embedding_metric = EmbeddingsDrift(
        embeddings_name=EMBEDDING_CHECK, drift_method=ModelDriftMethod(threshold=cfg.embedding_threshold)
    )
    report = Report([*(m for *_, m in value_metrics), embedding_metric], include_tests=True)
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur_df, data_definition=definition),
        reference_data=Dataset.from_pandas(ref_df, data_definition=definition),
    )

    results = snapshot.metric_results
    checks: list[DriftCheck] = []
    for name, kind, method, threshold, metric in value_metrics:
        result = results[metric.metric_id]
        score = float(result.value)
        drifted = _test_status(result)
        if drifted is None:
            drifted = _fallback_drifted(score, threshold, method)
        checks.append(DriftCheck(name, kind, method, score, threshold, bool(drifted)))
    emb_score = float(results[embedding_metric.metric_id].value)
    checks.append(
        DriftCheck(
            EMBEDDING_CHECK,
            "embedding",
            f"model (ROC AUC, {ref_emb.shape[1]} {'PCA ' if ref_emb.shape[1] < reference_emb.shape[1] else ''}dims)",
            emb_score,
            cfg.embedding_threshold,
            # ModelDriftMethod's own rule (Evidently's v2 metric exposes only the score).
            emb_score > cfg.embedding_threshold,
        )
    )

    passed, share = gate_passes(checks, cfg.max_drifted_share)
    result = DriftResult(
        passed=passed,
        checks=checks,
        drifted_share=share,
        max_drifted_share=cfg.max_drifted_share,
        reference_rows=len(reference_features),
        current_rows=len(current_features),
        override_reason=cfg.override_reason,
        column_means={
            c: {
                "reference": float(pd.to_numeric(reference_features[c]).mean()),
                "current": float(pd.to_numeric(current_features[c]).mean()),
            }
            for c in NUMERIC_FEATURES
        },
        label_shares=_label_shares(reference_features[PREDICTED_LABEL], current_features[PREDICTED_LABEL]),
    )
    logger.info("%s", result.verdict())
    return result, snapshot.get_html_str(as_iframe=False)
