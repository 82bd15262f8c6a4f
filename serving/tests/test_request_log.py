"""The request log: every served prediction is logged, within bounds, and logging never fails a request."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from arxiv_model import ArxivClassifier
from request_logger import REQUEST_LOG_FILE, RequestLog, RequestLogError

PAPER = {"title": "Attention for image models", "summary": "A vision network learning attention of the image."}
OTHER = {"title": "A language agent", "summary": "The agent model of language learning."}
FIELDS = {
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
}


def _lines(directory: Path, pattern: str = "requests-*.jsonl*") -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(directory.glob(pattern)) for line in path.read_text().splitlines()]


def _finished(directory: Path) -> list[Path]:
    return sorted(directory.glob("requests-*.jsonl"))


def _model(model_dir: Path, log_dir: Path, **kwargs: Any) -> ArxivClassifier:
    model = ArxivClassifier(
        model_dir=str(model_dir),
        model_name="arxiv-classifier",
        model_version="7",
        deployment_id="dep-1",
        request_log_uri=str(log_dir),
        **kwargs,
    )
    model.load()
    return model


def _counted(answers: list[dict[str, Any]], key: str, outcome: str | None = None) -> int:
    """What the answers' Seldon metrics added to counter `key` (with tag outcome=`outcome`)."""
    return sum(
        m["value"]
        for answer in answers
        for m in answer["meta"]["metrics"]
        if m["key"] == key and m["type"] == "COUNTER" and m.get("tags", {}).get("outcome") == outcome
    )


RECORDS = "arxiv_request_log_records_total"


def _records(n: int, size: int = 100) -> list[dict[str, Any]]:
    return [{"i": i, "text": "x" * size} for i in range(n)]


def test_every_prediction_is_logged_with_its_inputs_and_answer(model_dir: Path, tmp_path: Path) -> None:
    model = _model(model_dir, tmp_path / "log")
    batch = model.predict_raw({"jsonData": [PAPER, OTHER], "meta": {"puid": "req-1"}})
    single = model.predict_raw({"data": {"names": ["summary", "title"], "ndarray": [[OTHER["summary"], "T"]]}})
    assert batch["meta"]["puid"] == "req-1"
    assert model.request_log is not None and model.request_log.flush(rotate=True)

    [path] = _finished(tmp_path / "log")
    assert REQUEST_LOG_FILE.match(path.name)
    assert f"-{os.getpid()}-" in path.name  # gunicorn workers sharing the directory never share a file
    lines = _lines(tmp_path / "log")
    assert [set(line) for line in lines] == [FIELDS] * 3
    assert [(r["request_id"], r["index"], r["title"], r["summary"]) for r in lines] == [
        ("req-1", 0, PAPER["title"], PAPER["summary"]),
        ("req-1", 1, OTHER["title"], OTHER["summary"]),
        (single["meta"]["puid"], 0, "T", OTHER["summary"]),
    ]
    answered = [
        *batch["jsonData"]["predictions"],
        *({"category": c, "confidence": p, "top_k": k} for c, p, k in single["data"]["ndarray"]),
    ]
    assert [(r["category"], r["confidence"], r["top_k"]) for r in lines] == [
        (p["category"], p["confidence"], p["top_k"]) for p in answered
    ]
    for r in lines:
        assert (r["model_name"], r["model_version"], r["deployment_id"]) == ("arxiv-classifier", "7", "dep-1")
        assert r["time"].endswith("Z") and datetime.fromisoformat(r["time"]).utcoffset() is not None
    assert len(single["meta"]["puid"]) == 32  # a new id for a request that brought none
    health = model.health_status()["request_log"]
    assert health["enabled"] is True and health["uri"] == str(tmp_path / "log")
    assert (health["records_written"], health["records_dropped"], health["records_failed"]) == (3, 0, 0)
    # Counted as the writer gets to them: Prometheus sees them with the worker's next answers.
    answers = [batch, single, model.predict_raw({"jsonData": PAPER})]
    assert _counted(answers, RECORDS, "written") == 3


def test_a_bad_request_is_not_logged(model_dir: Path, tmp_path: Path) -> None:
    from seldon_core.flask_utils import SeldonMicroserviceException

    model = _model(model_dir, tmp_path / "log")
    with pytest.raises(SeldonMicroserviceException):
        model.predict_raw({"jsonData": {"title": "only a title"}})
    assert model.request_log is not None and model.request_log.flush(rotate=True)
    assert _lines(tmp_path / "log") == []


def test_rotation_keeps_the_file_count_bound_and_the_newest_records(tmp_path: Path) -> None:
    log = RequestLog(str(tmp_path), max_file_bytes=1000, max_files=3, max_total_bytes=10**9)
    log.start()
    for i in range(12):  # ~400 bytes per request: a file is finished every third request
        log.submit([{"request": i, "text": "x" * 380}])
        assert log.flush()
    assert log.flush(rotate=True)
    files = _finished(tmp_path)
    assert len(files) == 3
    assert all(path.stat().st_size <= 1000 + 400 for path in files)
    assert [r["request"] for r in _lines(tmp_path)] == list(range(12))[-len(_lines(tmp_path)) :]
    assert _lines(tmp_path)[-1]["request"] == 11  # the oldest go first
    stats = log.stats()
    assert stats["files_deleted"] == stats["files_finished"] - 3 > 0
    assert not list(tmp_path.glob("*.part"))
    log.close()


def test_rotation_keeps_the_byte_bound(tmp_path: Path) -> None:
    log = RequestLog(str(tmp_path), max_file_bytes=500, max_files=1000, max_total_bytes=2000)
    log.start()
    for _ in range(20):
        log.submit(_records(4, size=100))  # ~500 bytes
        assert log.flush()
    assert log.flush(rotate=True)
    sizes = [path.stat().st_size for path in _finished(tmp_path)]
    assert 0 < sum(sizes) <= 2000
    assert log.stats()["files_deleted"] > 0
    log.close()


def test_the_bound_covers_other_workers_files(tmp_path: Path) -> None:
    """Gunicorn workers share the directory: a worker prunes the oldest finished files whoever wrote them."""
    other = tmp_path / "requests-20000101T000000.000000Z-otherhost-1-000001.jsonl"
    other.write_text('{"old": true}\n')
    log = RequestLog(str(tmp_path), max_files=1)
    log.start()
    log.submit(_records(1))
    assert log.flush(rotate=True)
    assert not other.exists()
    assert len(_finished(tmp_path)) == 1
    log.close()


def test_a_failing_write_is_counted_and_the_request_still_succeeds(model_dir: Path, tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    model = _model(model_dir, log_dir)
    assert model.request_log is not None
    model.predict_raw({"jsonData": PAPER})
    assert model.request_log.flush()
    shutil.rmtree(log_dir)
    log_dir.write_text("a file where the log directory was")  # no write can succeed (root ignores chmod)

    answer = model.predict_raw({"jsonData": [PAPER, OTHER]})
    assert [p["category"] for p in answer["jsonData"]["predictions"]]  # answered all the same
    assert model.request_log.flush(rotate=True)
    stats = model.health_status()["request_log"]
    assert (stats["records_written"], stats["records_failed"]) == (1, 2)
    assert stats["errors"] >= 1 and "log" in stats["last_error"]
    answers = [answer, model.predict_raw({"jsonData": PAPER})]
    assert _counted(answers, RECORDS, "failed") == 2
    assert _counted(answers, "arxiv_request_log_errors_total") >= 1

    log_dir.unlink()  # the writer makes the directory again: logging resumes without a restart
    model.predict_raw({"jsonData": OTHER})
    assert model.request_log.flush(rotate=True)
    assert [r["title"] for r in _lines(log_dir)][-1] == OTHER["title"]


def test_a_full_queue_drops_and_counts_without_blocking_the_request(model_dir: Path, tmp_path: Path) -> None:
    model = _model(model_dir, tmp_path / "log", request_log_queue=1)
    log = model.request_log
    assert log is not None
    entered, release = threading.Event(), threading.Event()
    write = log._write

    def slow_write(records: list[dict[str, Any]]) -> None:  # a disk that stalls
        entered.set()
        release.wait(30)
        write(records)

    log._write = slow_write  # type: ignore[method-assign]
    try:
        model.predict_raw({"jsonData": PAPER})  # taken by the writer, which stalls on it
        assert entered.wait(10)
        model.predict_raw({"jsonData": OTHER})  # waits in the queue (size 1)
        answer = model.predict_raw({"jsonData": [PAPER, OTHER]})  # no room: dropped, answered anyway
        assert len(answer["jsonData"]["predictions"]) == 2
        assert log.stats()["records_dropped"] == 2
    finally:
        release.set()
    assert log.flush(rotate=True)
    assert [r["title"] for r in _lines(tmp_path / "log")] == [PAPER["title"], OTHER["title"]]
    stats = log.stats()
    assert (stats["records_written"], stats["records_dropped"]) == (2, 2)
    assert _counted([answer, model.predict_raw({"jsonData": PAPER})], RECORDS, "dropped") == 2


def test_switched_off_writes_nothing(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUEST_LOG_URI", str(tmp_path / "env-log"))
    model = _model(model_dir, tmp_path / "log", request_log=False)
    model.predict_raw({"jsonData": [PAPER, OTHER]})
    assert model.request_log is None
    assert model.health_status()["request_log"] == {"enabled": False}
    assert not (tmp_path / "log").exists() and not (tmp_path / "env-log").exists()
    assert not any(
        m["key"].startswith("arxiv_request_log") for m in model.predict_raw({"jsonData": PAPER})["meta"]["metrics"]
    )


def test_the_log_is_on_by_default(model_dir: Path, request_log_home: Path) -> None:
    model = ArxivClassifier(model_dir=str(model_dir), model_name="default-on")
    model.load()
    model.predict_raw({"jsonData": PAPER})
    assert model.request_log is not None and model.request_log.flush(rotate=True)
    assert model.request_log.uri == str(request_log_home)  # $REQUEST_LOG_URI (set by conftest)
    assert any(r["model_name"] == "default-on" for r in _lines(request_log_home))


def test_settings_that_cannot_work_fail_at_start(tmp_path: Path) -> None:
    with pytest.raises(RequestLogError, match="only a local directory or gs://"):
        ArxivClassifier(request_log_uri="s3://bucket/logs")
    with pytest.raises(RequestLogError, match="must be positive"):
        ArxivClassifier(request_log_uri=str(tmp_path), request_log_max_files=0)
    with pytest.raises(RequestLogError, match="names no bucket"):
        RequestLog("gs:///logs")


def test_files_of_a_dead_worker_are_finished_at_start(tmp_path: Path) -> None:
    probe = subprocess.Popen(["true"])
    probe.wait()
    host = RequestLog(str(tmp_path))._host
    orphan = tmp_path / f"requests-20260101T000000.000000Z-{host}-{probe.pid}-000001.jsonl.part"
    orphan.write_text('{"a": 1}\n')
    alive = tmp_path / f"requests-20260101T000001.000000Z-{host}-{os.getppid()}-000001.jsonl.part"
    alive.write_text('{"b": 1}\n')
    log = RequestLog(str(tmp_path))
    log.start()
    assert orphan.with_name(orphan.name.removesuffix(".part")).exists() and not orphan.exists()
    assert alive.exists()  # a live worker's open file is left alone
    log.close()


# -- gs:// destinations, against an in-process GCS emulator ---------------------------------------

BUCKET = "request-logs"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A function that starts gcp-storage-emulator (in memory, on one loopback port) and stops it at the end."""
    from gcp_storage_emulator.server import create_server

    port = _free_port()
    servers: list[Any] = []
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")

    def start() -> Any:
        server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
        server.start()
        servers.append(server)
        from google.cloud import storage

        return storage.Client().bucket(BUCKET)

    yield start
    for server in servers:
        server.stop()


def _objects(bucket: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        blob.name: [json.loads(line) for line in blob.download_as_text().splitlines()]
        for blob in bucket.client.list_blobs(BUCKET)
    }


def test_finished_files_are_uploaded_to_the_bucket_prefix(gcs: Any, tmp_path: Path) -> None:
    bucket = gcs()
    log = RequestLog(f"gs://{BUCKET}/logs/arxiv", spool_dir=str(tmp_path / "spool"), max_files=2)
    log.start()
    for _ in range(3):
        log.submit(_records(2))
        assert log.flush(rotate=True)
    objects = _objects(bucket)
    assert len(objects) == 2  # the prefix keeps the bound too: the oldest object went
    assert all(name.startswith("logs/arxiv/requests-") and name.endswith(".jsonl") for name in objects)
    assert all(len(lines) == 2 for lines in objects.values())
    assert not list((tmp_path / "spool").glob("requests-*"))  # uploaded files leave the spool
    stats = log.stats()
    assert (stats["files_uploaded"], stats["files_deleted"], stats["upload_failures"]) == (3, 1, 0)
    log.close()


def test_a_bucket_outage_only_delays_the_upload(gcs: Any, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    log = RequestLog(f"gs://{BUCKET}/logs", spool_dir=str(spool))
    log.start()
    log.submit(_records(2))
    assert log.flush(rotate=True)  # nothing listens yet: the upload fails
    stats = log.stats()
    assert stats["upload_failures"] == 1 and stats["errors"] >= 1 and stats["records_written"] == 2
    assert len(_finished(spool)) == 1  # kept for the retry

    bucket = gcs()  # the bucket is back; the next finished file takes the backlog with it
    log.submit(_records(1))
    assert log.flush(rotate=True)
    assert sorted(len(lines) for lines in _objects(bucket).values()) == [1, 2]
    assert _finished(spool) == []
    assert log.stats()["files_uploaded"] == 2
    log.close()
