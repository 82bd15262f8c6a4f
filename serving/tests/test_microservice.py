"""The real microservice over HTTP: launch_local.py --daemon, good and bad requests, metrics, binding, stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import LABELS, SERVING_DIR

pytestmark = pytest.mark.slow

PAPER = {"title": "Attention for image models", "summary": "A vision network learning attention of the image."}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a socket listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


def _session_id(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[3])  # fields after comm: state ppid pgrp session


def _session_pids(sid: int) -> list[int]:
    """Processes in session `sid`: the daemon's own session (setsid), so all that the server started."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _session_id(int(p.name)) == sid]


@dataclass
class Daemon:
    pid: int
    sid: int | None
    base: str
    metrics_port: int
    log_file: Path
    launched: subprocess.CompletedProcess[str]


def _launch(model_dir: Path, tmp_path: Path) -> Daemon:
    """launch_local.py --daemon serving `model_dir` on free loopback ports; returns once it is healthy."""
    http_port, metrics_port = _free_port(), _free_port()
    pid_file, log_file = tmp_path / "server.pid", tmp_path / "server.log"
    parameters = [
        {"name": "model_dir", "value": str(model_dir), "type": "STRING"},
        {"name": "model_name", "value": "arxiv-classifier", "type": "STRING"},
        {"name": "model_version", "value": "3", "type": "STRING"},
        {"name": "max_batch", "value": "4", "type": "INT"},
        {"name": "inference_threads", "value": "1", "type": "INT"},
        {"name": "deployment_id", "value": "dep-123", "type": "STRING"},
        {"name": "request_log_uri", "value": str(tmp_path / "request-log"), "type": "STRING"},
    ]
    command = [
        sys.executable,
        str(SERVING_DIR / "launch_local.py"),
        "--host",
        "127.0.0.1",
        "--pid-file",
        str(pid_file),
        "--log-file",
        str(log_file),
        "--daemon",
        "--",
        "arxiv_model.ArxivClassifier",
        "--service-type",
        "MODEL",
        "--http-port",
        str(http_port),
        "--metrics-port",
        str(metrics_port),
        "--grpc-workers",
        "0",
        "--workers",
        "1",
        "--threads",
        "2",
        "--parameters",
        json.dumps(parameters),
    ]
    launched = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert launched.returncode == 0, launched.stderr
    pid = int(pid_file.read_text())
    daemon = Daemon(pid, _session_id(pid), f"http://127.0.0.1:{http_port}", metrics_port, log_file, launched)
    deadline = time.monotonic() + 120
    while True:
        try:
            if _http(f"{daemon.base}/health/status")[0] == 200:
                return daemon
        except OSError:
            pass
        assert time.monotonic() < deadline, f"not healthy in 120 s; log:\n{log_file.read_text()[-3000:]}"
        assert os.path.exists(f"/proc/{pid}"), f"server exited; log:\n{log_file.read_text()[-3000:]}"
        time.sleep(0.2)


def _wait_gone(sid: int | None, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while sid is not None and _session_pids(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _session_pids(sid) if sid is not None else []


def test_a_killed_server_leaves_no_process_and_frees_its_ports(model_dir: Path, tmp_path: Path) -> None:
    """SIGKILL of the master (a crash, the OOM killer): its workers, metrics server and helper die with it."""
    daemon = _launch(model_dir, tmp_path)
    assert daemon.sid is not None and len(_session_pids(daemon.sid)) >= 3  # master, REST worker, metrics server
    os.kill(daemon.pid, signal.SIGKILL)
    leftover = _wait_gone(daemon.sid, 15)
    for stray in leftover:
        os.kill(stray, signal.SIGKILL)
    assert not leftover, f"processes of the killed server still running: {leftover}"
    assert not _listening(daemon.metrics_port), "the metrics port is still held"
    assert not _listening(int(daemon.base.rsplit(":", 1)[1]))


def test_local_microservice_end_to_end(model_dir: Path, tmp_path: Path) -> None:
    daemon = _launch(model_dir, tmp_path)
    pid, sid, base, launched = daemon.pid, daemon.sid, daemon.base, daemon.launched
    metrics_port, http_port = daemon.metrics_port, int(base.rsplit(":", 1)[1])
    pid_file = tmp_path / "server.pid"
    try:
        assert launched.stdout.strip() == str(pid)
        assert sid is not None and sid != os.getsid(0)  # detached into a session of its own
        status, health = _http(f"{base}/health/status")
        assert status == 200
        log_health = health.pop("request_log")
        assert health == {
            "status": "ready",
            "model_name": "arxiv-classifier",
            "model_version": "3",
            "labels": LABELS,
            "deployment_id": "dep-123",
            "format": "onnx-fp32",
        }
        assert (log_health["enabled"], log_health["uri"]) == (True, str(tmp_path / "request-log"))

        predict = f"{base}/api/v1.0/predictions"
        status, answer = _http(predict, json.dumps({"jsonData": [PAPER, PAPER]}).encode())
        assert status == 200
        assert [p["category"] in LABELS for p in answer["jsonData"]["predictions"]] == [True, True]
        assert answer["jsonData"]["model_version"] == "3"
        status, answer = _http(
            predict, json.dumps({"data": {"ndarray": [[PAPER["title"], PAPER["summary"]]]}}).encode()
        )
        assert status == 200
        assert answer["data"]["names"] == ["category", "confidence", "top_k"]

        bad = {
            "missing summary": (json.dumps({"jsonData": {"title": "t"}}).encode(), "no 'summary'"),
            "non-string title": (json.dumps({"jsonData": {"title": 1, "summary": "s"}}).encode(), "must be a string"),
            "empty text": (json.dumps({"jsonData": {"title": "", "summary": " "}}).encode(), "both empty"),
            "over the batch limit": (json.dumps({"jsonData": [PAPER] * 5}).encode(), "limit of 4"),
            "not JSON at all": (b"this is not JSON", "not valid JSON"),
        }
        for name, (body, expected) in bad.items():
            status, answer = _http(predict, body)
            assert status == 400, name
            assert expected in answer["status"]["info"], (name, answer)
        assert _http(f"{base}/no/such/path")[0] == 404
        assert _http(f"{base}/health/status")[0] == 200  # still up after the bad requests

        status, metrics = _http(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        assert "arxiv_requests_total{" in metrics
        assert 'arxiv_predicted_class_total{category="' in metrics
        assert "arxiv_inference_seconds_bucket{" in metrics

        for port in (http_port, metrics_port):  # bound to loopback only (127.0.0.1 is 0100007F)
            assert _listening(port) == ["0100007F"], port
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 40
        while sid is not None and _session_pids(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
        leftover = _session_pids(sid) if sid is not None else []
        for stray in leftover:  # only the processes of the server this test started
            os.kill(stray, signal.SIGKILL)
    assert not leftover, f"processes left after SIGTERM: {leftover}"
    assert _listening(http_port) == [] and _listening(metrics_port) == []
    assert not pid_file.exists()
    # The two good requests (three papers) are in the request log, and the worker finished its file
    # on the way out (no `.part` left).
    logged = [
        json.loads(line) for f in sorted((tmp_path / "request-log").iterdir()) for line in f.read_text().splitlines()
    ]
    assert [(r["title"], r["model_version"], r["deployment_id"]) for r in logged] == [
        (PAPER["title"], "3", "dep-123")
    ] * 3
    assert [f.suffix for f in (tmp_path / "request-log").iterdir()] == [".jsonl"]
