"""Data layer: read a configurable source, validate it, split it, fix the label space.

Everything here is plain pandas and knows nothing of ZenML, so the steps, the tests and the
notebooks of a user share one implementation.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from arxiv_classifier.config import ConfigError, DataConfig, SampleConfig, expand_path_vars
from arxiv_classifier.constants import (
    COL_DATE,
    COL_ID,
    COL_LABEL,
    COL_SPLIT,
    COL_TEXT,
    COL_TITLE,
    COL_TRUNCATED,
    OTHER_LABEL,
    SPLITS,
)

_WS = re.compile(r"\s+")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


class DataError(ValueError):
    """The data itself is unusable; the message says what is wrong and what to do."""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _read_file(path_or_url: str) -> pd.DataFrame:
    lower = path_or_url.lower()
    if lower.endswith((".parquet", ".pq")):
        return pd.read_parquet(path_or_url)
    if lower.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        sep = "\t" if ".tsv" in lower else ","
        # keep_default_na=False: real strings such as "NA" or "null" stay strings.
        return pd.read_csv(path_or_url, dtype=str, keep_default_na=False, sep=sep)
    raise ConfigError(f"unsupported file type for {path_or_url!r}: use .csv, .csv.gz, .tsv(.gz) or .parquet")


def _read_huggingface(spec: str) -> pd.DataFrame:
    name, _, split = spec.partition("@")
    from datasets import load_dataset  # heavy import: only when this source is used

    try:
        ds = load_dataset(name, split=split or "train")  # nosec B615  # the config's dataset
    except Exception as exc:  # the hub raises many types; the message matters to the user
        raise DataError(
            f"could not load Hugging Face dataset {name!r} (split {split or 'train'!r}): {exc}. "
            "It needs a network; offline, point data.source at a local file."
        ) from exc
    return ds.to_pandas()  # type: ignore[union-attr,return-value]


def _read_kaggle(spec: str) -> pd.DataFrame:
    owner, _, rest = spec.partition("/")
    dataset, _, file_name = rest.partition("/")
    try:
        import kagglehub  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ConfigError(
            "kaggle:// sources need the `kagglehub` package and Kaggle credentials: "
            "pip install kagglehub, then see https://github.com/Kaggle/kagglehub#authenticate"
        ) from exc
    try:
        folder = Path(kagglehub.dataset_download(f"{owner}/{dataset}"))
    except Exception as exc:
        raise DataError(f"could not download Kaggle dataset {owner}/{dataset}: {exc}") from exc
    candidates = [folder / file_name] if file_name else sorted(folder.rglob("*.csv"))
    if not candidates or not candidates[0].is_file():
        raise DataError(f"no CSV file {file_name or '*.csv'} in Kaggle dataset {owner}/{dataset} ({folder})")
    return _read_file(str(candidates[0]))


def read_table(source: str) -> pd.DataFrame:
    """Read a table from a local path, `gs://`, `hf://owner/name[@split]` or `kaggle://owner/dataset[/file]`."""
    source = expand_path_vars(source)
    if source.startswith("hf://"):
        return _read_huggingface(source[len("hf://") :])
    if source.startswith("kaggle://"):
        return _read_kaggle(source[len("kaggle://") :])
    if source.startswith("gs://"):
        try:
            return _read_file(source)
        except FileNotFoundError as exc:
            raise DataError(f"{source} does not exist or is not readable with the current credentials") from exc
    if "://" in source:
        raise ConfigError(f"unsupported data source scheme in {source!r}: use a local path, gs://, hf:// or kaggle://")
    path = Path(source)
    if not path.is_file():
        raise DataError(
            f"data file {path} not found. Point the run at your copy with `python run.py --data-source PATH` "
            "(or data.source in the config), or set DATA_DIR to the folder holding arxiv/papers.csv.gz."
        )
    return _read_file(str(path))


def source_fingerprint(source: str) -> str:
    """A cheap identity of the data behind `source`, used as a cache key for the loading step.

    Local files are hashed (sha256 of the bytes); GCS objects use their stored md5/crc and
    generation; hub sources cannot be pinned here and return the id itself.
    """
    source = expand_path_vars(source)
    if source.startswith("gs://"):
        import gcsfs

        info = gcsfs.GCSFileSystem().info(source)
        return f"gcs:{info.get('md5Hash') or info.get('crc32c')}:{info.get('generation')}"
    if "://" in source:
        return f"unpinned:{source}"
    path = Path(source)
    if not path.is_file():
        return f"missing:{source}"
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


#: The arXiv feed source cuts abstracts at this many characters (data README, `abstract_truncated`).
FEED_ABSTRACT_CHARS = 1000
#: Whitespace collapsed after the cut leaves cut abstracts 987-1,000 characters long on the real data.
_CUT_MIN_CHARS = 987


def provenance_path(source: str) -> Path | None:
    """The provenance sidecar of a local source: `papers_provenance.csv.gz` beside `papers.csv.gz`.

    None for remote sources and when no such file exists.
    """
    source = expand_path_vars(source)
    if "://" in source:
        return None
    path = Path(source)
    stem, dot, suffix = path.name.partition(".")
    sidecar = path.with_name(f"{stem}_provenance{dot}{suffix}")
    return sidecar if sidecar.is_file() else None


def attach_provenance(table: pd.DataFrame, source: str, id_field: str | None) -> pd.DataFrame:
    """Add `abstract_truncated` from the source's provenance sidecar, matched by id, when there is one.

    Rows the sidecar does not list get NA (validation then falls back to `looks_truncated`).
    """
    sidecar = provenance_path(source)
    if sidecar is None or not id_field or id_field not in table:
        return table
    provenance = _read_file(str(sidecar))
    if not {"id", COL_TRUNCATED} <= set(provenance.columns):
        return table
    flags = as_flags(provenance.drop_duplicates("id").set_index("id")[COL_TRUNCATED])
    return table.assign(**{COL_TRUNCATED: table[id_field].astype(str).str.strip().map(flags).astype("boolean")})


def as_flags(values: pd.Series) -> pd.Series:
    """Booleans read from a CSV column ('True'/'false'/'1'/'0'/bools); anything else becomes NA."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    words = values.astype(str).str.strip().str.lower()
    return words.map({"true": True, "1": True, "false": False, "0": False}).astype("boolean")


def looks_truncated(abstracts: pd.Series) -> pd.Series:
    """Whether each abstract looks cut at the feed's 1,000 characters (no provenance needed).

    987-1,000 characters long and not ending with a full stop: on the 195,484 arXiv papers this
    agrees with the provenance sidecar on 99.6% of rows (47 full abstracts flagged, 731 cut ones
    that happen to end on a sentence missed); length alone agrees on 98.9%.
    """
    text = abstracts.fillna("").astype(str).str.strip()
    length = text.str.len()
    return length.between(_CUT_MIN_CHARS, FEED_ABSTRACT_CHARS) & ~text.str.endswith(".")


# --------------------------------------------------------------------------------------------
# Validation and cleaning
# --------------------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Collapse whitespace and strip; the one text normalisation used in training and serving."""
    return _WS.sub(" ", text).strip()


def join_text(parts: list[str]) -> str:
    """Join title and abstract (or any text fields) into one model input."""
    return "\n".join(normalise_text(p) for p in parts if p and normalise_text(p))


def normalise_title(title: str) -> str:
    """Key for near-duplicate detection: lower case, alphanumerics only."""
    return _NON_ALNUM.sub(" ", title.lower()).strip()


def _normalise_column(col: pd.Series) -> pd.Series:
    return col.fillna("").astype(str).str.replace(_WS, " ", regex=True).str.strip()


def _join_columns(raw: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Vectorised `join_text` over rows (same result, ~50x faster on 200k rows)."""
    joined: pd.Series | None = None
    for column in columns:
        part = _normalise_column(raw[column])
        if joined is None:
            joined = part
            continue
        either = joined.where(part == "", part)  # whichever side is non-empty
        joined = (joined + "\n" + part).where((joined != "") & (part != ""), either)
    assert joined is not None  # nosec B101  # invariant, for mypy
    return joined


def parse_dates(col: pd.Series) -> pd.Series:
    """Parse dates; ISO first (fast), then any format pandas understands. Unparseable -> NaT."""
    parsed = pd.to_datetime(col, errors="coerce", format="ISO8601")
    if parsed.isna().mean() > 0.01:
        parsed = pd.to_datetime(col, errors="coerce", format="mixed")
    return parsed


@dataclass
class ValidationReport:
    """What validation did, for the dataset card and the artifact metadata."""

    rows_in: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    rows_out: int = 0

    def drop(self, reason: str, n: int) -> None:
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def as_dict(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out, "dropped": dict(self.dropped)}


def required_columns(cfg: DataConfig, *, need_date: bool) -> list[str]:
    cols = [*cfg.text_fields, cfg.label_field]
    if cfg.id_field:
        cols.append(cfg.id_field)
    if need_date and cfg.date_field:
        cols.append(cfg.date_field)
    return list(dict.fromkeys(cols))


def validate_and_clean(
    raw: pd.DataFrame, cfg: DataConfig, report: ValidationReport | None = None, *, need_date: bool = True
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check the schema, build the text, drop bad rows and count why.

    Returns a frame with the canonical columns `id, text, label, date, title`.

    Raises:
        DataError: required columns are missing or no usable row remains.
    """
    report = report or ValidationReport()
    report.rows_in += len(raw)
    needed = required_columns(cfg, need_date=need_date)
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise DataError(
            f"the data is missing required column(s) {missing}; it has {list(raw.columns)}. "
            "Set data.text_fields / data.label_field / data.id_field / data.date_field in the config "
            "to the columns your data uses."
        )
    texts = _join_columns(raw, cfg.text_fields)
    labels = _normalise_column(raw[cfg.label_field])
    if cfg.label_aliases:
        labels = labels.replace(cfg.label_aliases)
    out = pd.DataFrame(
        {
            COL_ID: _normalise_column(raw[cfg.id_field])
            if cfg.id_field
            else pd.Series(np.arange(len(raw)).astype(str), index=raw.index),
            COL_TEXT: texts,
            COL_LABEL: labels,
        }
    )
    out[COL_TITLE] = _normalise_column(raw[cfg.title_field]) if cfg.title_field in raw else ""
    if need_date and cfg.date_field:
        out[COL_DATE] = parse_dates(raw[cfg.date_field])
    if COL_TRUNCATED in raw:  # provenance known (`attach_provenance`); rows it lacks are judged by their text
        known = as_flags(raw[COL_TRUNCATED])
        out[COL_TRUNCATED] = known.fillna(looks_truncated(raw[cfg.text_fields[-1]])).astype(bool)

    keep = out[COL_TEXT].str.len() >= cfg.min_text_chars
    report.drop("empty_or_short_text", (~keep).sum())
    out = out[keep]
    keep = out[COL_LABEL] != ""
    report.drop("missing_label", (~keep).sum())
    out = out[keep]
    if COL_DATE in out:
        keep = out[COL_DATE].notna()
        report.drop("unparseable_date", (~keep).sum())
        out = out[keep]
    if cfg.id_field:
        keep = out[COL_ID] != ""
        report.drop("missing_id", (~keep).sum())
        out = out[keep]
        keep = ~out[COL_ID].duplicated(keep="first")
        report.drop("duplicate_id", (~keep).sum())
        out = out[keep]
    if cfg.title_field and cfg.title_field in raw:
        key = out[COL_TITLE].str.lower().str.replace(_NON_ALNUM, " ", regex=True).str.strip()
        keep = (key == "") | ~key.duplicated(keep="first")
        report.drop("duplicate_title", (~keep).sum())
        out = out[keep]
    if out.empty:
        raise DataError(f"no usable rows left after validation; dropped: {report.dropped}")
    report.rows_out = len(out)
    return out.reset_index(drop=True), report


# --------------------------------------------------------------------------------------------
# Splitting, label space, sampling
# --------------------------------------------------------------------------------------------


def _stratified_holdout(df: pd.DataFrame, fraction: float, seed: int) -> pd.Series:
    """Boolean mask of a stratified holdout of `fraction` of the rows (labels with 1 row stay out)."""
    rng = np.random.default_rng(seed)
    mask = pd.Series(False, index=df.index)
    for _, idx in sorted(df.groupby(COL_LABEL).groups.items(), key=lambda kv: str(kv[0])):
        idx = np.array(sorted(idx))
        n = round(len(idx) * fraction)
        if len(idx) > 1 and n > 0:
            mask.loc[rng.choice(idx, size=min(n, len(idx) - 1), replace=False)] = True
    return mask


_Bound: TypeAlias = pd.Timestamp | None


def _iso(day: _Bound) -> str | None:
    return None if day is None else day.date().isoformat()


@dataclass(frozen=True)
class DataWindow:
    """The dates each split may hold: half-open ranges [start, end), None for an open end.

    The 'date' strategy has open outer ends and no `as_of`; the 'window' strategy has every
    range closed and everything before `as_of`.
    """

    strategy: str
    ranges: dict[str, tuple[_Bound, _Bound]]
    as_of: _Bound = None

    def assign(self, dates: pd.Series) -> pd.Series:
        """The split of each date; "" for a date in no split's range (before train, at or after as_of)."""
        out = pd.Series("", index=dates.index, dtype=object)
        for split in SPLITS:
            out[self.contains(split, dates)] = split
        return out

    def contains(self, split: str, dates: pd.Series) -> pd.Series:
        """Mask of `dates` inside the range of `split`."""
        start, end = self.ranges[split]
        inside = pd.Series(True, index=dates.index)
        if start is not None:
            inside &= dates >= start
        if end is not None:
            inside &= dates < end
        return inside

    def describe(self, split: str) -> str:
        start, end = self.ranges[split]
        return f"[{_iso(start) or '...'}, {_iso(end) or '...'})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: strategy, as_of and each split's [start, end) as ISO days (None: open)."""
        return {
            "strategy": self.strategy,
            "as_of": _iso(self.as_of),
            **{split: [_iso(start), _iso(end)] for split, (start, end) in self.ranges.items()},
        }


def widened_start(start: pd.Timestamp, end: pd.Timestamp, dates: pd.Series, min_rows: int | None) -> pd.Timestamp:
    """`start`, moved back a month at a time until [start, end) holds `min_rows` dates (or none is older)."""
    if min_rows is None or dates.empty:
        return start
    oldest = dates.min()
    while int(((dates >= start) & (dates < end)).sum()) < min_rows and start > oldest:
        start = start - pd.DateOffset(months=1)
    return start


def data_window(df: pd.DataFrame, cfg: DataConfig) -> DataWindow | None:
    """The date ranges of the configured split; None for the strategies that do not split by date.

    For 'window', `as_of` defaults to the day after the newest dated row of `df`, so the newest
    labelled paper is in test. Test is the last `test_months` before `as_of`, validation the
    `validation_months` before test, train the `train_months` before validation (null: all before).
    With `end_at_newest_paper` (labels arrive late; the monitor retrains as of today), the windows
    end the day after the newest row before `as_of`, so test holds the newest labelled months.
    With `min_test_rows` / `min_validation_rows`, a window over a gap in the data is widened back a
    month at a time until it holds that many dated rows (arXiv here has ~15 papers a month from
    2024-05 to 2025-02, so a 3-month test window as of 2025-01-01 would hold 55 papers).

    Raises:
        DataError: the 'window' strategy without `data.as_of` on a frame with no dated row.
    """
    split = cfg.split
    if split.strategy == "date":
        train_end, test_start = pd.Timestamp(split.train_end), pd.Timestamp(split.test_start)
        return DataWindow(
            "date", {"train": (None, train_end), "validation": (train_end, test_start), "test": (test_start, None)}
        )
    if split.strategy != "window":
        return None
    if cfg.as_of is not None:
        as_of = pd.Timestamp(cfg.as_of)
    else:
        newest = df[COL_DATE].max() if COL_DATE in df else pd.NaT
        if pd.isna(newest):
            raise DataError("the window split needs dated rows to default data.as_of; set data.as_of (--as-of)")
        as_of = pd.Timestamp(newest).normalize() + pd.Timedelta(days=1)
    dates = df[COL_DATE].dropna() if COL_DATE in df else pd.Series(dtype="datetime64[ns]")
    end = as_of
    if split.end_at_newest_paper:  # labels arrive late: end the windows at the newest labelled row before as_of
        before = dates[dates < as_of]
        if len(before):
            end = min(as_of, before.max().normalize() + pd.Timedelta(days=1))
    test_start = widened_start(end - pd.DateOffset(months=split.test_months), end, dates, split.min_test_rows)
    validation_start = widened_start(
        test_start - pd.DateOffset(months=split.validation_months), test_start, dates, split.min_validation_rows
    )
    train_start = None if split.train_months is None else validation_start - pd.DateOffset(months=split.train_months)
    return DataWindow(
        "window",
        {
            "train": (train_start, validation_start),
            "validation": (validation_start, test_start),
            "test": (test_start, end),
        },
        as_of=as_of,
    )


_WINDOW_FIX = {
    "train": "widen split.train_months (null: all history before validation) or move data.as_of later",
    "validation": "widen split.validation_months or move data.as_of",
    "test": "widen split.test_months or move data.as_of (--as-of)",
}


def _empty_window_error(empty: list[str], window: DataWindow, df: pd.DataFrame, cfg: DataConfig) -> DataError:
    dates = df[COL_DATE]
    span = f"{dates.min():%Y-%m-%d} .. {dates.max():%Y-%m-%d}" if dates.notna().any() else "no dated rows"
    as_of = f"data.as_of {_iso(window.as_of)}" + ("" if cfg.as_of else " (default: the day after the newest paper)")
    lines = [f"the {s} window {window.describe(s)} holds no papers: {_WINDOW_FIX[s]}" for s in empty]
    return DataError(f"{as_of}; the data spans {span}. " + "; ".join(lines))


def split_dataset(
    df: pd.DataFrame,
    cfg: DataConfig,
    test_df: pd.DataFrame | None = None,
    report: ValidationReport | None = None,
) -> pd.DataFrame:
    """Assign the `split` column by the configured strategy.

    The 'window' strategy also drops the rows outside every window (dated at or after `as_of`,
    or before the training window), counted in `report` when one is given.
    """
    strategy = cfg.split.strategy
    df = df.copy()
    if strategy in ("date", "window"):
        window = data_window(df, cfg)
        assert window is not None  # nosec B101  # invariant, for mypy; both strategies have one
        df[COL_SPLIT] = window.assign(df[COL_DATE])
        outside = df[COL_SPLIT] == ""
        if report is not None and window.as_of is not None:
            late = df[COL_DATE] >= window.as_of
            report.drop("dated_at_or_after_as_of", (outside & late).sum())
            report.drop("before_train_window", (outside & ~late).sum())
        full = df
        df = df[~outside]
        empty = [s for s in SPLITS if not (df[COL_SPLIT] == s).any()]
        if empty and strategy == "window":
            raise _empty_window_error(empty, window, full, cfg)
    elif strategy == "given":
        if test_df is None:
            raise ConfigError("split.strategy 'given' needs data.test_source")
        df[COL_SPLIT] = "train"
        val = _stratified_holdout(df, cfg.split.validation_fraction, cfg.seed)
        df.loc[val, COL_SPLIT] = "validation"
        test = test_df.copy()
        test[COL_SPLIT] = "test"
        df = pd.concat([df, test], ignore_index=True)
    else:
        df[COL_SPLIT] = "train"
        test = _stratified_holdout(df, cfg.split.test_fraction, cfg.seed)
        df.loc[test, COL_SPLIT] = "test"
        rest = df[~test]
        val_fraction = cfg.split.validation_fraction
        val = _stratified_holdout(rest, val_fraction, cfg.seed + 1)
        df.loc[val[val].index, COL_SPLIT] = "validation"
    counts = df[COL_SPLIT].value_counts()
    empty = [s for s in SPLITS if counts.get(s, 0) == 0]
    if empty:
        hint = (
            f"check split.train_end ({cfg.split.train_end}) and split.test_start ({cfg.split.test_start}) "
            "against the dates in the data"
            if strategy == "date"
            else "the data is too small for the configured fractions"
        )
        raise DataError(f"split(s) {empty} are empty: {hint}")
    return df


def check_no_leakage(df: pd.DataFrame, window: DataWindow | None = None) -> None:
    """Raise if an id appears in more than one split, or, given the split's window, a row lies outside it.

    With a window: no row may be dated at or after `as_of`, and each split's rows must lie in its
    own date range (so no training row is as new as validation, and none of validation as test).
    """
    per_id = df.groupby(COL_ID)[COL_SPLIT].nunique()
    leaked = per_id[per_id > 1]
    if len(leaked):
        raise DataError(
            f"{len(leaked)} id(s) appear in more than one split (e.g. {list(leaked.index[:5])}); "
            "deduplicate the data or fix the split"
        )
    if window is None or COL_DATE not in df:
        return
    dates = pd.to_datetime(df[COL_DATE])
    if window.as_of is not None and (late := df[dates >= window.as_of]).shape[0]:
        raise DataError(
            f"{len(late)} row(s) dated at or after as_of {_iso(window.as_of)} are in the dataset "
            f"(e.g. {_examples(late)}): the split must read nothing from the period it is evaluated on"
        )
    for split in SPLITS:
        rows = df[COL_SPLIT] == split
        stray = df[rows & ~window.contains(split, dates)]
        if len(stray):
            raise DataError(
                f"{len(stray)} {split} row(s) lie outside the {split} window {window.describe(split)} "
                f"(e.g. {_examples(stray)}): the splits overlap in time, so the scores would leak"
            )


def _examples(rows: pd.DataFrame) -> str:
    return ", ".join(f"{i} dated {d:%Y-%m-%d}" for i, d in zip(rows[COL_ID][:3], pd.to_datetime(rows[COL_DATE][:3])))


def label_space(train_labels: pd.Series, top_n: int | None) -> list[str]:
    """The top-N labels of the training split by frequency, ties broken by name (deterministic)."""
    counts = train_labels.value_counts()
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [label for label, _ in ordered[: top_n or len(ordered)]]
    return sorted(chosen)


def apply_label_space(
    df: pd.DataFrame, labels: list[str], rule: str, report: ValidationReport
) -> tuple[pd.DataFrame, list[str]]:
    """Handle rows whose label is outside `labels` by the configured rule ('drop' or 'other')."""
    inside = df[COL_LABEL].isin(labels)
    if rule == "drop":
        report.drop("label_outside_top_n", (~inside).sum())
        return df[inside].reset_index(drop=True), labels
    df = df.copy()
    df.loc[~inside, COL_LABEL] = OTHER_LABEL
    return df, sorted({*labels, OTHER_LABEL})


def sample_splits(df: pd.DataFrame, sample: SampleConfig, seed: int) -> pd.DataFrame:
    """Cap each split's size; 'stratified' keeps each split's label proportions."""
    caps = {"train": sample.max_train, "validation": sample.max_validation, "test": sample.max_test}
    parts = []
    for split in SPLITS:
        part = df[df[COL_SPLIT] == split]
        cap = caps[split]
        if cap is not None and len(part) > cap:
            if sample.strategy == "stratified":
                frac = cap / len(part)
                picked = part.groupby(COL_LABEL, group_keys=False).sample(frac=frac, random_state=seed)
                if len(picked) > cap:
                    picked = picked.sample(n=cap, random_state=seed)
                elif len(picked) < cap:
                    rest = part.drop(picked.index)
                    picked = pd.concat([picked, rest.sample(n=cap - len(picked), random_state=seed)])
                part = picked
            else:
                part = part.sample(n=cap, random_state=seed)
        parts.append(part.sort_index())
    return pd.concat(parts).reset_index(drop=True)


def dataset_hash(df: pd.DataFrame) -> str:
    """Content hash of a prepared dataset (order-sensitive, index-free)."""
    cols = [c for c in (COL_ID, COL_TEXT, COL_LABEL, COL_SPLIT) if c in df]
    hashed = pd.util.hash_pandas_object(df[cols], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


@dataclass
class PreparedData:
    frame: pd.DataFrame
    labels: list[str]
    report: ValidationReport
    window: DataWindow | None = None

    def split(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame[COL_SPLIT] == name].reset_index(drop=True)

    def metadata(self) -> dict[str, Any]:
        """Metadata attached to the dataset artifact (hash, counts, validation report).

        Date-based splits add `data_window`: the strategy, `as_of` and each split's configured
        [start, end) as ISO days (None: open), plus `observed`, each split's first and last date.
        """
        counts = self.frame[COL_SPLIT].value_counts()
        meta: dict[str, Any] = {
            "content_hash": dataset_hash(self.frame),
            "rows": len(self.frame),
            **{f"rows_{s}": int(counts.get(s, 0)) for s in SPLITS},
            "num_labels": len(self.labels),
            "labels": list(self.labels),
            "validation": self.report.as_dict(),
        }
        if self.window is not None:
            dates = pd.to_datetime(self.frame[COL_DATE]).groupby(self.frame[COL_SPLIT])
            first, last = dates.min(), dates.max()
            observed = {s: [_iso(first[s]), _iso(last[s])] for s in SPLITS if s in first.index}
            meta["data_window"] = {**self.window.as_dict(), "observed": observed}
        return meta


def prepare_dataset(raw: pd.DataFrame, cfg: DataConfig, raw_test: pd.DataFrame | None = None) -> PreparedData:
    """Validate, split, fix the label space, sample, and check leakage."""
    need_date = cfg.split.by_date
    clean, report = validate_and_clean(raw, cfg, need_date=need_date)
    clean_test = None
    if raw_test is not None:
        clean_test, report = validate_and_clean(raw_test, cfg, report, need_date=need_date)
        if cfg.id_field:
            dup = clean_test[COL_ID].isin(set(clean[COL_ID]))
            report.drop("test_id_also_in_train_file", dup.sum())
            clean_test = clean_test[~dup]
        else:  # synthetic ids restart at "0" in each file
            clean_test = clean_test.assign(**{COL_ID: "test-" + clean_test[COL_ID]})
        report.rows_out = len(clean) + len(clean_test)
    window = data_window(clean, cfg)
    split = split_dataset(clean, cfg, clean_test, report)
    # The label space comes from the training rows alone (for 'window': the training window), so a
    # version trained on another window may have other labels; test rows outside it are dropped.
    labels = label_space(split.loc[split[COL_SPLIT] == "train", COL_LABEL], cfg.top_n_labels)
    split, labels = apply_label_space(split, labels, cfg.out_of_label_space, report)
    split = sample_splits(split, cfg.sample, cfg.seed)
    check_no_leakage(split, window)
    for s in SPLITS:
        if not (split[COL_SPLIT] == s).any():
            raise DataError(f"split {s!r} is empty after applying the label space and sampling")
    columns = [c for c in (COL_ID, COL_TEXT, COL_LABEL, COL_SPLIT, COL_DATE, COL_TRUNCATED) if c in split]
    report.rows_out = len(split)
    frame = split[columns].reset_index(drop=True)
    return PreparedData(frame=frame, labels=labels_of(frame), report=report, window=window)


def labels_of(frame: pd.DataFrame) -> list[str]:
    """The label space of a prepared dataset: the labels of its training split, sorted."""
    return sorted(frame.loc[frame[COL_SPLIT] == "train", COL_LABEL].unique().tolist())
