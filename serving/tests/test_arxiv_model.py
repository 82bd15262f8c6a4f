"""Unit tests of the Seldon model class, in process (run in the serving environment)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from arxiv_model import ArxivClassifier, ModelLoadError, join_text
from conftest import LABELS
from seldon_core.flask_utils import SeldonMicroserviceException

PAPER = {"title": "Attention for image models", "summary": "A vision network learning attention of the image."}
OTHER = {"title": "A language agent", "summary": "The agent model of language learning."}


def _predictions(response: dict[str, Any]) -> list[dict[str, Any]]:
    return response["jsonData"]["predictions"]


def _bad(model: ArxivClassifier, request: Any) -> SeldonMicroserviceException:
    with pytest.raises(SeldonMicroserviceException) as info:
        model.predict_raw(request)
    return info.value


def test_single_paper_answer_shape(loaded_model: ArxivClassifier) -> None:
    response = loaded_model.predict_raw({"jsonData": PAPER})
    assert response["jsonData"]["model_name"] == "arxiv-classifier"
    assert response["jsonData"]["model_version"] == "7"
    assert response["meta"]["tags"] == {"model_name": "arxiv-classifier", "model_version": "7"}
    [pred] = _predictions(response)
    assert set(pred) == {"category", "confidence", "top_k"}
    assert pred["category"] in LABELS
    probs = [entry["probability"] for entry in pred["top_k"]]
    assert len(pred["top_k"]) == 3
    assert probs == sorted(probs, reverse=True)
    assert pred["category"] == pred["top_k"][0]["category"]
    assert pred["confidence"] == probs[0]
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)  # 3 labels, top 3: the whole distribution
    assert {entry["category"] for entry in pred["top_k"]} == set(LABELS)
    json.dumps(response)  # plain Python types only (Flask must serialise it)


def test_batch_matches_single_predictions(loaded_model: ArxivClassifier) -> None:
    batch = _predictions(loaded_model.predict_raw({"jsonData": [PAPER, OTHER, {**PAPER, "id": "x"}]}))
    assert len(batch) == 3
    for paper, pred in zip([PAPER, OTHER, PAPER], batch):
        [single] = _predictions(loaded_model.predict_raw({"jsonData": paper}))
        assert pred["category"] == single["category"]
        assert pred["confidence"] == pytest.approx(single["confidence"], abs=1e-5)


def test_ndarray_form_with_and_without_names(loaded_model: ArxivClassifier) -> None:
    [expected] = _predictions(loaded_model.predict_raw({"jsonData": PAPER}))
    plain = loaded_model.predict_raw({"data": {"ndarray": [[PAPER["title"], PAPER["summary"]]]}})
    swapped = loaded_model.predict_raw(
        {"data": {"names": ["summary", "title"], "ndarray": [[PAPER["summary"], PAPER["title"]]]}}
    )
    for response in (plain, swapped):
        assert response["data"]["names"] == ["category", "confidence", "top_k"]
        [[category, confidence, top_k]] = response["data"]["ndarray"]
        assert category == expected["category"]
        assert confidence == pytest.approx(expected["confidence"], abs=1e-6)
        assert [e["category"] for e in top_k] == [e["category"] for e in expected["top_k"]]
        assert response["meta"]["tags"]["model_version"] == "7"


def test_top_k_parameter(model_dir: Path) -> None:
    for top_k, expected in ((1, 1), (2, 2), (10, 3)):
        model = ArxivClassifier(model_dir=str(model_dir), top_k=top_k)
        model.load()
        [pred] = _predictions(model.predict_raw({"jsonData": PAPER}))
        assert len(pred["top_k"]) == expected


def test_text_is_built_like_training(loaded_model: ArxivClassifier) -> None:
    assert join_text(["  A\n title ", "the\t\tabstract \n"]) == "A title\nthe abstract"
    assert join_text([" ", "only abstract"]) == "only abstract"
    messy = {
        "title": "  Attention  for\nimage models ",
        "summary": "A vision   network\tlearning attention of the image.\n",
    }
    [a] = _predictions(loaded_model.predict_raw({"jsonData": PAPER}))
    [b] = _predictions(loaded_model.predict_raw({"jsonData": messy}))
    assert a == b


def test_one_empty_field_is_fine(loaded_model: ArxivClassifier) -> None:
    for paper in ({"title": "", "summary": "image models"}, {"title": "image models", "summary": "  "}):
        assert len(_predictions(loaded_model.predict_raw({"jsonData": paper}))) == 1


def test_long_text_is_truncated_to_max_length(loaded_model: ArxivClassifier) -> None:
    long = {"title": "Vision", "summary": "attention image " * 1_240}  # 2,480 words, just under max_text_chars
    short = {"title": "Vision", "summary": "attention image " * 200}  # already over 128 tokens
    [a] = _predictions(loaded_model.predict_raw({"jsonData": long}))
    [b] = _predictions(loaded_model.predict_raw({"jsonData": short}))
    assert a == b  # identical: both inputs are cut to the same first 128 tokens


def test_text_over_max_text_chars_is_refused_with_the_limit(model_dir: Path) -> None:
    model = ArxivClassifier(model_dir=str(model_dir), max_text_chars=100, request_log=False)
    model.load()
    assert _predictions(model.predict_raw({"jsonData": {"title": "t" * 40, "summary": "s" * 60}}))
    error = _bad(model, {"jsonData": [PAPER, {"title": "t" * 40, "summary": "s" * 61}]})
    assert error.status_code == 400
    assert "jsonData[1]: title and summary have 101 characters, over this endpoint's max_text_chars of 100" in (
        error.message
    )
    with pytest.raises(ValueError, match="max_text_chars and max_request_bytes must be >= 1"):
        ArxivClassifier(model_dir=str(model_dir), max_text_chars=0)


BAD_REQUESTS = [
    ([PAPER], "must be a JSON object"),
    ("title and summary", "must be a JSON object"),
    ({}, "neither 'jsonData' nor 'data.ndarray'"),
    ({"paper": PAPER}, "keys: paper"),
    ({"strData": "a title"}, "strData and binData are not supported"),
    ({"jsonData": "a title"}, "jsonData must be a paper object or an array"),
    ({"jsonData": ["a title"]}, "jsonData[0] must be an object"),
    ({"jsonData": {"title": "t"}}, "jsonData has no 'summary'"),
    ({"jsonData": [PAPER, {"summary": "s"}]}, "jsonData[1] has no 'title'"),
    ({"jsonData": {"title": 3, "summary": "s"}}, '"title" must be a string, got a number'),
    ({"jsonData": {"title": "t", "summary": None}}, '"summary" must be a string, got null'),
    ({"jsonData": {"title": " ", "summary": "\n\t"}}, "title and summary are both empty"),
    ({"jsonData": []}, "the batch is empty"),
    ({"data": {"tensor": {"shape": [1], "values": [1]}}}, "'data' must hold an 'ndarray'"),
    ({"data": {"ndarray": [["only a title"]]}}, "data.ndarray[0] must be a row of two strings"),
    (
        {"data": {"ndarray": ["title", "summary"]}},
        "data.ndarray[0] must be a row of two strings [title, summary], got a string (one paper",
    ),
    ({"data": {"ndarray": [["t", "s"], ["t", 5]]}}, 'data.ndarray[1]: "summary" must be a string'),
    ({"data": {"ndarray": [["", ""]]}}, "both empty"),
    ({"data": {"ndarray": []}}, "the batch is empty"),
    ({"data": {"ndarray": "t"}}, "data.ndarray must be an array"),
    ({"data": {"names": ["a", "b"], "ndarray": [["t", "s"]]}}, "data.names must be"),
    ({"jsonData": [PAPER] * 9}, "9 papers, over this endpoint's limit of 8"),
    ({"data": {"ndarray": [["t", "s"]] * 9}}, "limit of 8"),
]


@pytest.mark.parametrize(("request_body", "expected"), BAD_REQUESTS, ids=[str(i) for i in range(len(BAD_REQUESTS))])
def test_bad_requests_are_400_with_a_helpful_message(
    loaded_model: ArxivClassifier, request_body: Any, expected: str
) -> None:
    error = _bad(loaded_model, request_body)
    assert error.status_code == 400
    assert error.reason == "BAD_REQUEST"
    assert expected in error.message
    body = error.to_dict()["status"]
    assert body["info"] == error.message


def test_batch_limit_boundary(loaded_model: ArxivClassifier) -> None:
    assert len(_predictions(loaded_model.predict_raw({"jsonData": [PAPER] * 8}))) == 8
    assert "split it into requests of at most 8" in _bad(loaded_model, {"jsonData": [PAPER] * 9}).message


def test_health_before_and_after_load(model_dir: Path) -> None:
    model = ArxivClassifier(model_dir=str(model_dir), model_name="m", model_version="1")
    for call in (model.health_status_raw, lambda: model.predict_raw({"jsonData": PAPER})):
        with pytest.raises(SeldonMicroserviceException) as info:
            call()
        assert info.value.status_code == 503
    model.load()
    health = model.health_status_raw()
    assert health.pop("request_log")["enabled"] is True  # its counters: test_request_log.py
    assert health == {
        "status": "ready",
        "model_name": "m",
        "model_version": "1",
        "labels": LABELS,
        "deployment_id": "",
        "format": "onnx-fp32",
    }


def test_int8_model_keeps_the_contract_and_stays_close_to_fp32(model_dirs: dict[str, Path]) -> None:
    answers = {}
    for fmt in ("onnx-fp32", "onnx-int8"):
        model = ArxivClassifier(model_dir=str(model_dirs[fmt]), top_k=3)
        model.load()
        assert model.health_status_raw()["format"] == fmt
        assert model.init_metadata()["platform"] == "onnxruntime"
        [pred] = model.predict_raw({"jsonData": PAPER})["jsonData"]["predictions"]
        assert pred["category"] in LABELS and len(pred["top_k"]) == 3
        assert abs(sum(p["probability"] for p in pred["top_k"]) - 1.0) <= 1e-5
        answers[fmt] = {p["category"]: p["probability"] for p in pred["top_k"]}
    assert max(abs(answers["onnx-fp32"][c] - answers["onnx-int8"][c]) for c in LABELS) < 0.05


def test_removed_quantize_parameter_says_what_to_use(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="onnx-int8"):
        ArxivClassifier(model_dir=str(model_dir), quantize="true")  # Seldon passes BOOL parsed
    assert ArxivClassifier(model_dir=str(model_dir), torch_threads=2).inference_threads == 2  # the former name


def test_a_torch_directory_needs_torch(model_dirs: dict[str, Path]) -> None:
    """The serving environment has no torch: the PyTorch directory is refused with what to deploy instead."""
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(ModelLoadError, match=r"no torch/transformers.*serving\.format"):
            ArxivClassifier(model_dir=str(model_dirs["torch"])).load()
    else:  # an environment with torch serves it (tests/unit/test_serving_parity.py compares it with the library)
        model = ArxivClassifier(model_dir=str(model_dirs["torch"]))
        model.load()
        assert model.health_status_raw()["format"] == "torch"


def test_model_dir_problems_are_clear(tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        ArxivClassifier(model_dir=str(tmp_path / "nope")).load()
    with pytest.raises(ModelLoadError, match=r"classifier\.json' is missing"):
        ArxivClassifier(model_dir=str(tmp_path)).init_metadata()
    meta = json.loads((model_dir / "classifier.json").read_text())
    (tmp_path / "classifier.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"could not load the ONNX model.*no model\.onnx"):
        ArxivClassifier(model_dir=str(tmp_path)).load()
    (tmp_path / "classifier.json").write_text(json.dumps({**meta, "format": "onnx-fp16"}))
    with pytest.raises(ModelLoadError, match="has format 'onnx-fp16'"):
        ArxivClassifier(model_dir=str(tmp_path)).load()
    (tmp_path / "classifier.json").unlink()
    shutil.copytree(model_dir, tmp_path / "other")
    (tmp_path / "other" / "classifier.json").write_text(json.dumps({**meta, "labels": [*LABELS, "math.AG"]}))
    with pytest.raises(ModelLoadError, match=r"answers 3 classes but classifier\.json lists 4"):
        ArxivClassifier(model_dir=str(tmp_path / "other")).load()
    monkeypatch.setenv("MODEL_DIR", str(model_dir))
    assert ArxivClassifier().model_dir == str(model_dir)
    with pytest.raises(ValueError, match="max_batch"):
        ArxivClassifier(max_batch=0)


def test_metrics_reach_seldon_prometheus_exposition(loaded_model: ArxivClassifier) -> None:
    from seldon_core import seldon_methods
    from seldon_core.metrics import SeldonMetrics, validate_metrics

    response = loaded_model.predict_raw({"jsonData": [PAPER, OTHER, PAPER]})
    metrics = response["meta"]["metrics"]
    assert validate_metrics(metrics)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for metric in metrics:
        by_key.setdefault(metric["key"], []).append(metric)
    assert by_key["arxiv_requests_total"] == [{"type": "COUNTER", "key": "arxiv_requests_total", "value": 1}]
    assert by_key["arxiv_papers_total"][0]["value"] == 3
    assert by_key["arxiv_inference_seconds"][0]["type"] == "TIMER"
    assert by_key["arxiv_inference_seconds"][0]["value"] > 0
    per_class = {m["tags"]["category"]: m["value"] for m in by_key["arxiv_predicted_class_total"]}
    assert sum(per_class.values()) == 3
    assert set(per_class) <= set(LABELS)

    seldon_metrics = SeldonMetrics()
    seldon_methods.predict(loaded_model, {"jsonData": [PAPER, OTHER]}, seldon_metrics)
    text, _ = seldon_metrics.generate_metrics()
    assert "arxiv_requests_total{" in text
    assert "arxiv_papers_total{" in text and "} 2.0" in text
    assert 'arxiv_predicted_class_total{category="' in text
    assert "arxiv_inference_seconds_bucket{" in text and "arxiv_inference_seconds_count{" in text


def test_metadata_is_valid_seldon_metadata(loaded_model: ArxivClassifier) -> None:
    from seldon_core.metadata import validate_model_metadata

    meta = validate_model_metadata(loaded_model.init_metadata())
    assert meta["name"] == "arxiv-classifier"
    assert meta["versions"] == ["7"]
    assert json.loads(meta["custom"]["labels"]) == LABELS
    assert meta["custom"]["max_batch"] == "8"


def test_grpc_proto_requests_are_converted(loaded_model: ArxivClassifier) -> None:
    from seldon_core.proto import prediction_pb2
    from seldon_core.utils import json_to_seldon_message, seldon_message_to_json

    response = loaded_model.predict_raw(json_to_seldon_message({"jsonData": PAPER}))
    assert isinstance(response, prediction_pb2.SeldonMessage)
    [pred] = seldon_message_to_json(response)["jsonData"]["predictions"]
    assert pred["category"] in LABELS


def test_http_layer_maps_errors_to_status_codes(model_dir: Path) -> None:
    """Seldon's own Flask app, in process: 503 before load, 400 with our message, 200 after."""
    from seldon_core.metrics import SeldonMetrics
    from seldon_core.wrapper import get_rest_microservice

    model = ArxivClassifier(model_dir=str(model_dir))
    client = get_rest_microservice(model, SeldonMetrics()).test_client()
    assert client.get("/health/status").status_code == 503
    model.load()
    assert client.get("/health/status").status_code == 200
    bad = client.post("/api/v1.0/predictions", json={"jsonData": {"title": "t"}})
    assert bad.status_code == 400
    assert "no 'summary'" in bad.get_json()["status"]["info"]
    good = client.post("/api/v1.0/predictions", json={"jsonData": PAPER})
    assert good.status_code == 200
    assert good.get_json()["jsonData"]["predictions"][0]["category"] in LABELS
    # Our blueprint: a non-JSON body gets a helpful 400, a JSON body sent as text/plain is accepted,
    # and HTTP errors keep their codes (Seldon alone answers "Can't find JSON in data" and 500s).
    for body in ("not json", "", "null", '{"jsonData": '):
        answer = client.post("/api/v1.0/predictions", data=body, content_type="application/json")
        assert answer.status_code == 400
        assert "request body" in answer.get_json()["status"]["info"]
    as_text = client.post("/api/v1.0/predictions", data=json.dumps({"jsonData": PAPER}), content_type="text/plain")
    assert as_text.status_code == 200
    assert client.get("/no/such/path").status_code == 404
