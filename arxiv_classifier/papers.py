"""Incoming papers, read the way the model sees them: the data loader of drift checks and batch inference.

Unlike `data.prepare_dataset` (which builds labelled train/validation/test splits), this reads papers
to *score*: a date window, feed boilerplate stripped, optionally restricted to the model's labels,
then a seeded sample. The text is joined exactly as training joins it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import pandas as pd

from arxiv_classifier.config import CurrentDataConfig
from arxiv_classifier.constants import COL_DATE, COL_ID, COL_LABEL, COL_TEXT
from arxiv_classifier.data import (
    DataError,
    _join_columns,
    _normalise_column,
    parse_dates,
    read_table,
    widened_start,
)

logger = logging.getLogger(__name__)


def sample_rows(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """A seeded sample of at most `max_rows` rows, in the frame's order, re-indexed 0..n-1.

    The one sampler of the drift check's two sides: with different seeds, two samples of the same
    rows are independent draws; with the same seed and the same rows they are identical.
    """
    if max_rows is not None and len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).sort_index()
    return frame.reset_index(drop=True)


def _strip_start(col: pd.Series, pattern: str) -> pd.Series:
    """Remove `pattern` where it matches at the very start of each value (feed boilerplate)."""
    anchored = re.compile(rf"^(?:{pattern})")
    return col.str.replace(anchored, "", n=1, regex=True)


def naive_utc(dates: pd.Series) -> pd.Series:
    """Dates as naive UTC timestamps (tz-aware ones converted), comparable with plain days."""
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        return dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates


def _newest(raw: pd.DataFrame, dates: pd.Series, cfg: CurrentDataConfig) -> tuple[pd.DataFrame, pd.Series]:
    """The rows of the last `cfg.newest_months` before the newest dated row, widened to hold `cfg.max_rows`."""
    valid = dates.dropna()
    if valid.empty:
        raise DataError(f"no paper of {cfg.source} has a parseable date in column {cfg.date_field!r}")
    end = valid.max().normalize() + pd.Timedelta(days=1)
    assert cfg.newest_months is not None  # nosec B101  # invariant, for mypy
    start = widened_start(end - pd.DateOffset(months=cfg.newest_months), end, valid, cfg.max_rows)
    keep = dates >= start
    logger.info(
        "newest papers of %s: %d dated %s .. %s (newest_months %d)",
        cfg.source,
        int(keep.sum()),
        f"{start:%Y-%m-%d}",
        f"{valid.max():%Y-%m-%d}",
        cfg.newest_months,
    )
    return raw[keep], dates[keep]


def load_papers(cfg: CurrentDataConfig, model_labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Read incoming papers as the model sees them.

    Returns a frame (index 0..n-1) with columns `id` (when `cfg.id_field`), every text field under
    its own name (whitespace-normalised, `strip_pattern` removed), `text` (the fields joined the way
    training joins them), `date` (when `cfg.date_field`) and `label` (when `cfg.label_field`).
    Rows: inside the date window [start, end) (with `newest_months`: only its newest months), label
    aliased and restricted to `model_labels` when `cfg.restrict_to_model_labels`, non-empty text, then
    a seeded sample of at most `cfg.max_rows`.

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
    dates = naive_utc(parse_dates(raw[cfg.date_field])) if cfg.date_field else None
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
    if dates is not None and cfg.newest_months:
        raw, dates = _newest(raw, dates, cfg)

    labels = None
    if cfg.label_field:
        labels = _normalise_column(raw[cfg.label_field])
        if cfg.label_aliases:
            labels = labels.replace(cfg.label_aliases)
    if cfg.restrict_to_model_labels:
        if not model_labels:
            raise DataError("restrict_to_model_labels is set but the model's labels were not given")
        assert labels is not None  # nosec B101  # invariant, for mypy; the config requires label_field with restrict_to_model_labels
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
    out = sample_rows(out[keep], cfg.max_rows, cfg.seed)
    logger.info("loaded %d of %d papers from %s", len(out), rows_read, cfg.source)
    return out
