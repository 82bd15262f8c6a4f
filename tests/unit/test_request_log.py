"""Reading the request log: what the serving class writes, read back here (local directories and gs://).

The writer is `serving/request_logger.py`'s `RequestLog`, used by `serving/arxiv_model.py`'s class; both are
imported by file path (the serving modules may not import the project, so this is where the two meet).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.request_log import COLUMNS, LOG_FILE, read_request_log, request_log_uri
from arxiv_classifier.serving_code import load_serving_module


@pytest.fixture(scope="module")
def serving() -> ModuleType:
    return load_serving_module("arxiv_model", "serving_arxiv_model_log")


@pytest.fixture(scope="module")
def writer() -> ModuleType:
    return load_serving_module("request_logger", "serving_request_logger")


def _record(time: str, version: str = "3", title: str = "t", **extra: Any) -> dict[str, Any]:
    base = dict.fromkeys(COLUMNS, "")
    return {**base, "time": time, "model_version": version, "title": title, "index": 0, "confidence": 0.5, **extra}


def _write(directory: Path, start: str, records: list[dict[str, Any]], suffix: str = "", tail: str = "") -> Path:
    """A log file named as the serving class names them, starting at `start` (YYYYmmddTHHMMSS)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"requests-{start}.000000Z-host-1-000001.jsonl{suffix}"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path


def test_reads_what_the_serving_class_logs_while_and_after_it_is_written(
    serving: ModuleType, tiny_classifier: TextClassifier, tmp_path: Path
) -> None:
    tiny_classifier.save(tmp_path / "model")
    model = serving.ArxivClassifier(
        model_dir=str(tmp_path / "model"), model_name="m", model_version="3", request_log_uri=str(tmp_path / "log")
    )
    model.load()
    # predict_raw minus its gRPC branch, which imports seldon-core (not in this environment).
    answer = model._predict_json({"jsonData": [{"title": "A", "summary": "x"}, {"title": "B", "summary": "y"}]})
    assert model.request_log.flush()  # written, still a .part file

    open_file = read_request_log(str(tmp_path / "log"))
    assert [p.suffix for p in (tmp_path / "log").iterdir()] == [".part"]
    assert list(open_file.columns) == [*COLUMNS, "file"]
    assert open_file[COLUMNS].notna().all().all()  # the writer writes every field the reader knows
    assert open_file["title"].tolist() == ["A", "B"]
    assert open_file["category"].tolist() == [p["category"] for p in answer["jsonData"]["predictions"]]
    assert (open_file["request_id"] == answer["meta"]["puid"]).all()
    assert str(open_file["time"].dt.tz) == "UTC"

    assert model.request_log.flush(rotate=True)
    finished = read_request_log(str(tmp_path / "log"))
    assert LOG_FILE.match(finished["file"][0]) and not finished["file"][0].endswith(".part")
    pd.testing.assert_frame_equal(finished.drop(columns="file"), open_file.drop(columns="file"))
    model.request_log.close()


def test_filters_by_time_and_model_version_in_time_order(tmp_path: Path) -> None:
    _write(tmp_path, "20260102T000000", [_record("2026-01-02T10:00:00.000Z", "3", "c")])
    _write(
        tmp_path,
        "20260101T000000",
        [_record("2026-01-01T12:00:00.000Z", "3", "a"), _record("2026-01-01T23:00:00.000Z", "4", "b")],
    )
    _write(tmp_path, "20260103T000000", [_record("2026-01-03T00:00:01.000Z", "4", "d")], suffix=".part")

    assert read_request_log(str(tmp_path))["title"].tolist() == ["a", "b", "c", "d"]
    assert read_request_log(str(tmp_path), since="2026-01-01T20:00Z")["title"].tolist() == ["b", "c", "d"]
    window = read_request_log(str(tmp_path), since="2026-01-01T20:00Z", until="2026-01-03")
    assert window["title"].tolist() == ["b", "c"]
    assert window.attrs["files"] == 2  # the file begun on 2026-01-03 is not even read
    assert read_request_log(str(tmp_path), model_version=4)["title"].tolist() == ["b", "d"]
    with pytest.raises(ValueError, match="must be after"):
        read_request_log(str(tmp_path), since="2026-01-02", until="2026-01-01")
    with pytest.raises(ValueError, match="not a date or time"):
        read_request_log(str(tmp_path), since="last tuesday")


def test_a_line_still_being_written_is_left_for_later_and_garbage_is_counted(tmp_path: Path) -> None:
    records = [_record("2026-01-01T00:00:00.000Z", title="a"), _record("2026-01-01T00:00:01.000Z", title="b")]
    _write(tmp_path, "20260101T000000", records, suffix=".part", tail='{"time": "2026-01-01T00:00:02.000Z", "ti')
    frame = read_request_log(str(tmp_path))
    assert frame["title"].tolist() == ["a", "b"]
    assert frame.attrs["skipped_lines"] == 0  # a cut-off last line is not an error

    path = _write(tmp_path, "20260102T000000", [_record("2026-01-02T00:00:00.000Z", title="c")])
    path.write_text("not json\n[1, 2]\n" + json.dumps(_record("no time")) + "\n" + path.read_text())
    frame = read_request_log(str(tmp_path))
    assert frame["title"].tolist() == ["a", "b", "c"]
    assert frame.attrs["skipped_lines"] == 3


def test_nothing_logged_yet_is_an_empty_frame(tmp_path: Path) -> None:
    (tmp_path / "not-a-log.txt").write_text("x")
    for uri in (tmp_path / "missing", tmp_path):
        frame = read_request_log(str(uri))
        assert frame.empty and list(frame.columns) == [*COLUMNS, "file"]


def test_default_location_is_under_the_artifact_store() -> None:
    assert (
        request_log_uri("gs://bucket/zenml/", "arxiv-classifier") == "gs://bucket/zenml/request_logs/arxiv-classifier"
    )
    assert request_log_uri("/stores/abc", "m") == "/stores/abc/request_logs/m"


# -- gs:// --------------------------------------------------------------------------------------------

BUCKET = "request-log-bucket"


@pytest.fixture
def emulated_gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from gcp_storage_emulator.server import create_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        yield f"gs://{BUCKET}"
    finally:
        server.stop()


def test_reads_what_the_serving_class_uploaded_to_a_bucket(
    writer: ModuleType, emulated_gcs: str, tmp_path: Path
) -> None:
    uri = request_log_uri(f"{emulated_gcs}/zenml", "arxiv-classifier")
    log = writer.RequestLog(uri, spool_dir=str(tmp_path / "spool"))
    log.start()
    read = []
    for t in ("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"):
        log.submit([_record(t, title=t[:10])])
        assert log.flush(rotate=True)
        read.append(read_request_log(uri, storage_options={"token": "anon"}))
    assert log.stats()["files_uploaded"] == 2
    log.close()

    assert [frame["title"].tolist() for frame in read] == [["2026-01-01"], ["2026-01-01", "2026-01-02"]]
    frame = read_request_log(uri, since="2026-01-02", storage_options={"token": "anon"})
    assert frame["title"].tolist() == ["2026-01-02"]
    assert frame.attrs["files"] == 2


# -- what the deployers send the serving class ----------------------------------------------------------


def _as_seldon_passes_them(params: list[dict[str, str]]) -> dict[str, Any]:
    """Seldon's conversion of graph parameters to keyword arguments (seldon_core.microservice.parse_parameters)."""
    convert = {"INT": int, "STRING": str, "BOOL": lambda v: v.lower() in ("true", "1", "yes", "y", "on", "t")}
    return {p["name"]: convert[p["type"]](p["value"]) for p in params}  # type: ignore[operator]


def test_the_serving_config_reaches_the_serving_class(serving: ModuleType, tmp_path: Path) -> None:
    from arxiv_classifier.config import ServingConfig
    from deployers.serving_class import RequestLogSettings, seldon_parameters

    config = ServingConfig(  # type: ignore[call-arg]
        request_log_uri=str(tmp_path / "log"),
        request_log_max_file_mb=0.5,
        request_log_rotate_seconds=60,
        request_log_max_files=7,
        request_log_max_mb=3,
        request_log_queue=9,
    )
    params = seldon_parameters(
        model_dir="/m",
        model_name="m",
        model_version="1",
        max_batch=4,
        top_k=2,
        request_log=RequestLogSettings.from_serving(config),
    )
    log = serving.ArxivClassifier(**_as_seldon_passes_them(params)).request_log
    assert (log.uri, log.max_file_bytes, log.rotate_seconds, log.max_files, log.max_total_bytes, log.queue_size) == (
        str(tmp_path / "log"),
        2**19,
        60,
        7,
        3 * 2**20,
        9,
    )

    off = RequestLogSettings.from_serving(ServingConfig(request_log=False))  # type: ignore[call-arg]
    params = seldon_parameters(model_dir="/m", model_name="m", model_version="1", max_batch=4, top_k=2, request_log=off)
    assert serving.ArxivClassifier(**_as_seldon_passes_them(params)).request_log is None


def test_an_unset_uri_becomes_the_artifact_stores_request_logs_folder() -> None:
    from zenml.client import Client

    from arxiv_classifier.config import ServingConfig
    from deployers.serving_class import with_request_log_uri

    default = ServingConfig()  # type: ignore[call-arg]
    assert with_request_log_uri(default, "m", "gs://b/zenml").request_log_uri == "gs://b/zenml/request_logs/m"
    store = Client().active_stack.artifact_store.path
    assert with_request_log_uri(default, "m").request_log_uri == request_log_uri(store, "m")
    chosen = ServingConfig(request_log_uri="/srv/logs")  # type: ignore[call-arg]
    assert with_request_log_uri(chosen, "m", "gs://b").request_log_uri == "/srv/logs"
    off = ServingConfig(request_log=False)  # type: ignore[call-arg]
    assert with_request_log_uri(off, "m", "gs://b").request_log_uri is None


def test_the_gke_deployer_refuses_a_request_log_inside_the_pod() -> None:
    from arxiv_classifier.config import ServingConfig
    from deployers import DeploymentError, ModelIdentity, RunContext
    from deployers.seldon_gke.adapter import server_config
    from deployers.seldon_gke.spec import graph_parameter

    model, run = ModelIdentity("arxiv-classifier", "7"), RunContext("deployment", "endpoint_deployer", "run-1")
    image = "europe-docker.pkg.dev/p/r/arxiv-serving:1"
    local = ServingConfig(image=image, request_log_uri="/var/log/arxiv")  # type: ignore[call-arg]
    with pytest.raises(DeploymentError, match="not in a bucket"):
        server_config("gs://b/model", model, local, run)
    bucket = ServingConfig(image=image, request_log_uri="gs://b/request_logs/arxiv-classifier")  # type: ignore[call-arg]
    config = server_config("gs://b/model", model, bucket, run)
    assert config.parameters is not None
    graph = {"parameters": [p.model_dump() for p in config.parameters]}
    assert graph_parameter(graph, "request_log_uri") == "gs://b/request_logs/arxiv-classifier"
    assert graph_parameter(graph, "request_log") == "true"


def test_the_local_deployment_keeps_its_request_log_settings_in_the_store() -> None:
    """The local service's config is stored as JSON and read back to restart the server: the settings survive."""
    from arxiv_classifier.config import ServingConfig
    from deployers.local_seldon.service import LocalSeldonDeploymentConfig
    from deployers.serving_class import RequestLogSettings

    settings = RequestLogSettings.from_serving(ServingConfig(request_log_uri="/srv/logs"))  # type: ignore[call-arg]
    config = LocalSeldonDeploymentConfig(
        model_dir="/m", model_name="m", serving_python="/usr/bin/python3", request_log=settings
    )
    restored = LocalSeldonDeploymentConfig.model_validate_json(config.model_dump_json())
    assert restored.request_log == settings
    params = {p["name"]: p["value"] for p in restored.seldon_parameters()}
    assert (params["request_log"], params["request_log_uri"]) == ("true", "/srv/logs")
