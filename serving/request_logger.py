"""The serving class's request log: every served prediction as JSON Lines, written off the request path.

A sibling module of `arxiv_model.py` (the Dockerfile's `serving` target copies both into /microservice,
which is on PYTHONPATH; the local launcher puts serving/ on sys.path). Like it, this file runs in the
serving environment and imports nothing from the project. Named `request_logger`, not `request_log`,
so it never shadows `arxiv_classifier/request_log.py`, the reader, when both directories are importable.

Each paper answered becomes one JSON line {"time" (UTC, ISO 8601), "request_id", "index" (the paper's
place in the request), "model_name", "model_version", "deployment_id", "title", "summary" (as sent),
"category", "confidence", "top_k"}, handed to a bounded queue and written by a background thread
(`RequestLog`), so logging never delays or fails an answer: a full queue drops the lines and a failed
write loses them, both counted in the counters
`arxiv_request_log_records_total{outcome="written"|"dropped"|"failed"}`, `arxiv_request_log_errors_total`
(reported with the worker's next answer) and in /health/status's "request_log" (that worker's counts).
Files are `requests-<UTC start>-<host>-<pid>-<seq>.jsonl`, written as `<name>.part` and renamed when
finished, and kept within the bounds `RequestLog` is given; a gs:// URI spools them locally and uploads
finished files. `arxiv_classifier.request_log.read_request_log` reads them back.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import queue
import re
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Finished files are `requests-<UTC start>-<host>-<pid>-<seq>.jsonl`; the file a worker is appending to
#: carries `.part` after that. The start time comes first, so name order is time order across workers,
#: pods and restarts; host and pid keep the workers that share a directory (gunicorn) or a bucket prefix
#: (replicas) from ever writing the same file.
REQUEST_LOG_FILE = re.compile(r"^requests-(\d{8}T\d{6}\.\d{6}Z)-(.+)-(\d+)-(\d{6})\.jsonl(\.part)?$")
PART_SUFFIX = ".part"
DEFAULT_LOG_FILE_BYTES = 16 * 2**20
DEFAULT_LOG_FILES = 2000
DEFAULT_LOG_TOTAL_BYTES = 512 * 2**20
DEFAULT_LOG_ROTATE_SECONDS = 900
DEFAULT_LOG_QUEUE = 1000
#: Seconds between upload attempts while the bucket fails.
UPLOAD_RETRY_SECONDS = 60.0
#: Queue items one write takes at most (a busy server appends many requests per open/close).
WRITE_BATCH = 256


class RequestLogError(ValueError):
    """The request log's settings cannot work (unknown URI scheme, missing GCS client, bad limits)."""


def utc_now() -> str:
    """ISO 8601 UTC time with milliseconds and a Z, the request log's `time` field."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Bucket:
    """The gs:// prefix finished files are uploaded to (google-cloud-storage, made in the writer thread)."""

    def __init__(self, uri: str) -> None:
        bucket, _, prefix = uri[len("gs://") :].partition("/")
        if not bucket:
            raise RequestLogError(f"request_log_uri {uri!r} names no bucket; use gs://BUCKET/PREFIX")
        if importlib.util.find_spec("google.cloud.storage") is None:
            raise RequestLogError(
                f"request_log_uri {uri!r} needs google-cloud-storage, which this environment lacks: install "
                "serving/requirements.lock (it pins it), or set request_log_uri to a local directory"
            )
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self._bucket: Any = None

    def _client_bucket(self) -> Any:
        if self._bucket is None:  # not at construction: Seldon forks its workers after building the model
            from google.cloud import storage

            self._bucket = storage.Client().bucket(self.bucket_name)
        return self._bucket

    def _object(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    # retry=None throughout: the client's default retries for up to two minutes, holding up the writer
    # (and so filling the queue) through an outage; the writer retries a failed upload itself.
    def upload(self, path: Path) -> None:
        blob = self._client_bucket().blob(self._object(path.name))
        blob.upload_from_filename(str(path), content_type="application/x-ndjson", timeout=60, retry=None)

    def finished_files(self) -> list[tuple[str, int]]:
        """(object name, size) of the finished log files under the prefix, oldest first."""
        prefix = self._object("requests-")
        found = []
        for blob in self._client_bucket().client.list_blobs(self.bucket_name, prefix=prefix, timeout=60, retry=None):
            name = blob.name.rsplit("/", 1)[-1]
            if (m := REQUEST_LOG_FILE.match(name)) and not m.group(5):
                found.append((blob.name, int(blob.size or 0)))
        return sorted(found, key=lambda item: item[0].rsplit("/", 1)[-1])

    def delete(self, object_name: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):  # another replica pruned it first
            self._client_bucket().blob(object_name).delete(timeout=60, retry=None)


class _Flush:
    """A marker put on the queue: everything before it is written (and, if asked, rotated) when it is set."""

    def __init__(self, rotate: bool) -> None:
        self.rotate = rotate
        self.done = threading.Event()


_STOP = object()


class RequestLog:
    """Writes served predictions as JSON Lines files, in a background thread, within size bounds.

    Requests hand their records to `submit`, which never blocks and never raises: a full queue drops
    the records (counted) and a failed write loses them (counted), but the answer goes out either way.
    The writer thread appends to `requests-<UTC>-<host>-<pid>-<seq>.jsonl.part` and renames it to
    `.jsonl` (atomically) once it holds `max_file_bytes` or is `rotate_seconds` old, or at exit. A
    reader lists the directory in name order and may read the `.part` files too (their last line may be
    incomplete). After each rotation the oldest finished files of the directory (all workers' files) are
    deleted until at most `max_files` files and `max_total_bytes` bytes remain; each worker's open file
    adds at most `max_file_bytes` to that.

    A `gs://bucket/prefix` URI spools the files in a local directory first and uploads each finished
    file (then deletes the local copy); the bucket prefix is pruned to the same bounds. While the bucket
    fails, uploads are retried every minute and the spool stays within the bounds (oldest files go
    first, counted as lost).
    """

    COUNTERS = (
        "records_written",
        "records_dropped",
        "records_failed",
        "errors",
        "files_finished",
        "files_deleted",
        "files_uploaded",
        "upload_failures",
        "files_lost",
    )

    def __init__(
        self,
        uri: str,
        *,
        max_file_bytes: int = DEFAULT_LOG_FILE_BYTES,
        max_files: int = DEFAULT_LOG_FILES,
        max_total_bytes: int = DEFAULT_LOG_TOTAL_BYTES,
        rotate_seconds: float = DEFAULT_LOG_ROTATE_SECONDS,
        queue_size: int = DEFAULT_LOG_QUEUE,
        spool_dir: str | None = None,
    ) -> None:
        limits = {
            "max_file_bytes": max_file_bytes,
            "max_files": max_files,
            "max_total_bytes": max_total_bytes,
            "rotate_seconds": rotate_seconds,
            "queue_size": queue_size,
        }
        bad = {k: v for k, v in limits.items() if not v > 0}
        if bad:
            raise RequestLogError(f"the request log's limits must be positive, got {bad}")
        self.uri = str(uri)
        self.max_file_bytes = int(max_file_bytes)
        self.max_files = int(max_files)
        self.max_total_bytes = int(max_total_bytes)
        self.rotate_seconds = float(rotate_seconds)
        self.queue_size = int(queue_size)
        self.bucket: _Bucket | None = None
        if self.uri.startswith("gs://"):
            self.bucket = _Bucket(self.uri)
            default_spool = Path(tempfile.gettempdir(), "arxiv-request-log-spool", self.bucket.bucket_name)
            self.directory = Path(spool_dir) if spool_dir else default_spool / self.bucket.prefix
        elif "://" in self.uri and not self.uri.startswith("file://"):
            raise RequestLogError(
                f"request_log_uri {self.uri!r}: only a local directory or gs://BUCKET/PREFIX is supported"
            )
        else:
            self.directory = Path(self.uri.removeprefix("file://")).expanduser()
        self._counts = dict.fromkeys(self.COUNTERS, 0)
        self._reported = dict.fromkeys(self.COUNTERS, 0)
        self._counts_lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.queue_size)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._host = re.sub(r"[^A-Za-z0-9.]+", "_", socket.gethostname()) or "host"
        self._seq = 0
        self._part: Path | None = None
        self._part_bytes = 0
        self._part_started = 0.0
        self._retry_at: float | None = None
        self._last_error = ""

    # -- the request side -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread of this process (again after a fork); finish files dead workers left."""
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._queue = queue.Queue(maxsize=self.queue_size)  # a forked copy's queue belongs to the parent
        self._part, self._seq = None, 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._finish_orphans()
        except OSError as exc:  # the writer retries on every write; serving goes on regardless
            self._failed(f"preparing {self.directory}: {exc}")
        if self.bucket is not None:
            self._retry_at = time.monotonic()  # files an earlier worker left in the spool go up first
        self._thread = threading.Thread(target=self._run, name="request-log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def submit(self, records: list[dict[str, Any]]) -> None:
        """Queue one request's records for writing; never blocks, never raises."""
        try:
            self._queue.put_nowait(records)
        except queue.Full:
            self._count(records_dropped=len(records))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, finish the open file (and upload it), stop the thread."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        thread.join(timeout)

    def flush(self, rotate: bool = False, timeout: float = 10.0) -> bool:
        """Wait until what was submitted before is written (and, with `rotate`, finished and shipped)."""
        marker = _Flush(rotate)
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def stats(self) -> dict[str, Any]:
        """Counters since start (this worker's), the queue's length and the last error, for /health/status."""
        with self._counts_lock:
            counts: dict[str, Any] = {"enabled": True, "uri": self.uri, **self._counts}
        counts.update(queued=self._queue.qsize(), last_error=self._last_error)
        if self.bucket is not None:
            counts["spool_dir"] = str(self.directory)
        return counts

    def metrics(self) -> list[dict[str, Any]]:
        """Seldon COUNTER increments since the last call (the writer's counts reach the next answer)."""
        with self._counts_lock:
            delta = {k: self._counts[k] - self._reported[k] for k in self.COUNTERS}
            self._reported = dict(self._counts)
        metrics = [
            {"type": "COUNTER", "key": "arxiv_request_log_records_total", "value": n, "tags": {"outcome": outcome}}
            for outcome, n in (
                ("written", delta["records_written"]),
                ("dropped", delta["records_dropped"]),
                ("failed", delta["records_failed"]),
            )
            if n
        ]
        for key in ("errors", "files_uploaded", "upload_failures", "files_lost"):
            if delta[key]:
                metrics.append({"type": "COUNTER", "key": f"arxiv_request_log_{key}_total", "value": delta[key]})
        return metrics

    def _count(self, **increments: int) -> None:
        with self._counts_lock:
            for key, n in increments.items():
                self._counts[key] += n

    def _failed(self, what: str, **increments: int) -> None:
        self._count(errors=1, **increments)
        self._last_error = f"{utc_now()} {what}"
        logger.warning("request log: %s", what)

    # -- the writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._wait_seconds())
            except queue.Empty:
                item = None
            items = [item] if item is not None else []
            while items and len(items) < WRITE_BATCH and isinstance(items[-1], list):
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            control = items[-1] if items and not isinstance(items[-1], list) else None
            try:
                records = [r for batch in items if isinstance(batch, list) for r in batch]
                if records:
                    self._write(records)
                self._rotate_if_due(force=control is _STOP or (isinstance(control, _Flush) and control.rotate))
                retry_due = self._retry_at is not None and (control is _STOP or time.monotonic() >= self._retry_at)
                if self.bucket is not None and retry_due:
                    self._ship()
            except Exception as exc:  # the writer must outlive any surprise; serving never waits on it
                self._failed(f"unexpected {type(exc).__name__}: {exc}")
            if isinstance(control, _Flush):
                control.done.set()
            if control is _STOP:
                return

    def _wait_seconds(self) -> float:
        deadlines = [60.0]
        now = time.monotonic()
        if self._part is not None:
            deadlines.append(self._part_started + self.rotate_seconds - now)
        if self._retry_at is not None:
            deadlines.append(self._retry_at - now)
        return max(0.05, min(deadlines))

    def _new_part(self) -> Path:
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self._part_bytes, self._part_started = 0, time.monotonic()
        return self.directory / f"requests-{stamp}-{self._host}-{self._pid}-{self._seq:06d}.jsonl{PART_SUFFIX}"

    def _write(self, records: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()
        if self._part is None:
            self._part = self._new_part()
        try:
            # Opened per batch, not kept open: a directory removed under us is made again, and a path
            # that cannot be written fails here, where it is counted, instead of going on unnoticed.
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self._part, "ab") as out:
                out.write(data)
        except OSError as exc:
            self._part = None  # a fresh file next time; what this one holds is left as is
            self._failed(f"writing {len(records)} records: {exc}", records_failed=len(records))
            return
        self._part_bytes += len(data)
        self._count(records_written=len(records))

    def _rotate_if_due(self, force: bool = False) -> None:
        if self._part is None:
            return
        full = self._part_bytes >= self.max_file_bytes
        if force or full or time.monotonic() - self._part_started >= self.rotate_seconds:
            self._finish(self._part)
            self._part = None
            self._prune_directory()
            if self.bucket is not None:
                self._ship()

    def _finish(self, part: Path) -> None:
        try:
            os.replace(part, part.with_name(part.name.removesuffix(PART_SUFFIX)))
        except OSError as exc:
            self._failed(f"finishing {part.name}: {exc}")
            return
        self._count(files_finished=1)

    def _finish_orphans(self) -> None:
        """Finish the `.part` files of this host's workers that died without closing (killed, crashed)."""
        for path in self.directory.glob(f"requests-*.jsonl{PART_SUFFIX}"):
            m = REQUEST_LOG_FILE.match(path.name)
            if m and m.group(2) == self._host and int(m.group(3)) != self._pid and not _pid_alive(int(m.group(3))):
                self._finish(path)

    def _finished_files(self) -> list[tuple[Path, int]]:
        found = []
        for path in self.directory.glob("requests-*.jsonl"):
            try:
                found.append((path, path.stat().st_size))
            except FileNotFoundError:  # another worker pruned or shipped it meanwhile
                continue
        return sorted(found, key=lambda item: item[0].name)

    def _over_bounds(self, files: list[tuple[Any, int]]) -> int:
        """How many of the oldest `files` must go to bring them within max_files and max_total_bytes."""
        total, excess = sum(size for _, size in files), max(0, len(files) - self.max_files)
        total -= sum(size for _, size in files[:excess])
        while excess < len(files) and total > self.max_total_bytes:
            total -= files[excess][1]
            excess += 1
        return excess

    def _prune_directory(self) -> None:
        try:
            files = self._finished_files()
        except OSError as exc:
            self._failed(f"listing {self.directory}: {exc}")
            return
        for path, _ in files[: self._over_bounds(files)]:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                self._failed(f"deleting {path.name}: {exc}")
                continue
            # In a spool the files were never uploaded: lost, not just expired.
            self._count(**({"files_lost": 1} if self.bucket is not None else {"files_deleted": 1}))

    def _ship(self) -> None:
        """Upload the spool's finished files, oldest first; stop at the first failure and retry later."""
        assert self.bucket is not None  # nosec B101  # invariant, for mypy
        self._retry_at = time.monotonic() + UPLOAD_RETRY_SECONDS
        try:
            with open(self.directory / ".upload.lock", "a") as lock:
                try:  # one worker uploads at a time; one that finds it busy leaves its files to that one
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
                for path, _ in self._finished_files():
                    try:
                        self.bucket.upload(path)
                    except Exception as exc:  # any client or network error: the file stays for the retry
                        self._failed(f"uploading {path.name} to {self.uri}: {exc}", upload_failures=1)
                        return
                    path.unlink(missing_ok=True)
                    self._count(files_uploaded=1)
        except OSError as exc:
            self._failed(f"shipping the spool {self.directory}: {exc}")
            return
        self._retry_at = None
        try:
            remote = self.bucket.finished_files()
            for name, _ in remote[: self._over_bounds(remote)]:
                self.bucket.delete(name)
                self._count(files_deleted=1)
        except Exception as exc:  # pruning is retried after the next upload
            self._failed(f"pruning {self.uri}: {exc}")
