"""What the served model answered: reading the request log the serving class writes.

`serving/arxiv_model.py` (which may not import this package) writes one JSON line per paper it answers
to `<uri>/requests-<UTC start>-<host>-<pid>-<seq>.jsonl`, appending to `<name>.part` until the file is
finished and renamed; a gs:// URI receives the finished files only. Name order is time order. The
deployers log to `request_log_uri(<artifact store path>, <model name>)` unless the serving config names
another place, and record the URI in the deployment's metadata. tests/unit/test_request_log.py writes
with the serving class itself and reads here, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from datetime import date, datetime
from typing import Any, TypeAlias

import pandas as pd

logger = logging.getLogger(__name__)

#: Folder of the request logs under the artifact store, one subfolder per model name.
REQUEST_LOG_DIR = "request_logs"
#: A log file's name: start time (UTC), host, pid, sequence number; `.part` while being written.
LOG_FILE = re.compile(r"^requests-(\d{8}T\d{6}\.\d{6}Z)-(.+)-(\d+)-(\d{6})\.jsonl(\.part)?$")
#: The fields of each logged prediction, in this order, plus `file` (the log file it came from).
COLUMNS = [
    "time",
    "request_id",
    "index",
    "model_name",
    "model_version",
    "deployment_id",
    "title",
    "summary",
    "category",
    "confidence",
    "top_k",
]

#: A pandas Timestamp is a datetime too.
TimeLike: TypeAlias = datetime | date | str


def request_log_uri(artifact_store_path: str, model_name: str) -> str:
    """Where a model's servers log by default: `<artifact store>/request_logs/<model name>`."""
    return f"{artifact_store_path.rstrip('/')}/{REQUEST_LOG_DIR}/{model_name}"


def _utc(value: TimeLike | None, name: str) -> pd.Timestamp | None:
    """`value` as a UTC timestamp; a naive time or a date is taken as UTC."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not a date or time (use e.g. 2026-01-31 or 2026-01-31T12:00Z)") from exc
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _file_start(name: str) -> pd.Timestamp:
    match = LOG_FILE.match(name)
    assert match is not None  # nosec B101  # invariant, for mypy
    return pd.Timestamp(datetime.strptime(match.group(1), "%Y%m%dT%H%M%S.%fZ")).tz_localize("UTC")


def _parse_lines(text: str, name: str) -> tuple[list[dict[str, Any]], int]:
    """The records of one file and how many lines were unreadable (a last line still being written is not)."""
    lines = text.split("\n")
    records, bad = [], 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if i == len(lines) - 1:  # no newline yet: the writer is mid-line; it is complete next time
                continue
            bad += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            bad += 1
    if bad:
        logger.warning("request log %s: skipped %d unreadable line(s)", name, bad)
    return records, bad


def read_request_log(
    uri: str,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    model_version: str | int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The predictions logged at `uri`, oldest first, one row per paper answered.

    Reads a local directory or any fsspec URL (gs:// through gcsfs), finished files and the ones still
    being written (a last line cut short is left for the next read).

    Args:
        uri: the request log's directory or bucket prefix (see `request_log_uri`).
        since: keep predictions answered at or after this time (naive times and dates are UTC).
        until: keep predictions answered before this time.
        model_version: keep only this model version's predictions.
        storage_options: passed to fsspec (e.g. `{"token": "anon"}` for a GCS emulator).

    Returns:
        The `COLUMNS` plus `file`, with `time` as UTC timestamps. `attrs` holds `files` (how many files
        were read) and `skipped_lines` (lines that were not JSON objects or had no valid time).

    Raises:
        ValueError: `since` or `until` is not a time, or `until` is not after `since`.
    """
    import fsspec

    start, end = _utc(since, "since"), _utc(until, "until")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"until ({end}) must be after since ({start})")
    fs, root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
    fs.invalidate_cache(root)  # fsspec reuses filesystem objects and their listings: the log has grown since
    try:
        names = [posixpath.basename(p.rstrip("/")) for p in fs.ls(root, detail=False)]
    except FileNotFoundError:
        names = []  # nothing served (and logged) yet
    # A file begins at its start time, so one that begins at or after `until` holds nothing wanted.
    names = sorted(n for n in names if LOG_FILE.match(n) and (end is None or _file_start(n) < end))

    records: list[dict[str, Any]] = []
    skipped = 0
    for name in names:
        found = _read(fs, root, name, names)
        if found is None:
            continue
        read_name, raw = found
        rows, bad = _parse_lines(raw.decode("utf-8", errors="replace"), read_name)
        skipped += bad
        records += [{**row, "file": read_name} for row in rows]

    frame = pd.DataFrame.from_records(records, columns=[*COLUMNS, "file"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce", format="ISO8601")
    untimed = frame["time"].isna()
    skipped += int(untimed.sum())
    frame = frame[~untimed]
    if start is not None:
        frame = frame[frame["time"] >= start]
    if end is not None:
        frame = frame[frame["time"] < end]
    if model_version is not None:
        frame = frame[frame["model_version"].astype(str) == str(model_version)]
    frame = frame.sort_values(["time", "file"], kind="stable").reset_index(drop=True)
    frame.attrs = {"files": len(names), "skipped_lines": skipped}
    return frame


def _read(fs: Any, root: str, name: str, listed: list[str]) -> tuple[str, bytes] | None:
    """(name, bytes) of a listed file; a `.part` finished since the listing is read under its new name."""
    candidates = [name]
    finished = name.removesuffix(".part")
    if finished != name and finished not in listed:
        candidates.append(finished)
    for candidate in candidates:
        try:
            return candidate, bytes(fs.cat_file(posixpath.join(root, candidate)))
        except FileNotFoundError:  # renamed, or pruned by the writer's bound, since the listing
            continue
    return None
