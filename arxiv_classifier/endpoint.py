"""A small client of the deployed Seldon endpoint (stdlib only), and a check of its contract.

The server side is `serving/arxiv_model.py` (its module docstring is the contract): papers are posted
as `{"jsonData": [{"title": ..., "summary": ...}, ...]}` to `<url>/api/v1.0/predictions`, where `url`
is the endpoint's base (e.g. http://127.0.0.1:8000); bad requests are answered 4xx with
`{"status": {"info": "<message>", ...}}`.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from arxiv_classifier import localhost

PREDICT_PATH = "/api/v1.0/predictions"
HEALTH_PATH = "/health/status"
METRICS_PATH = "/metrics"
#: Request-id prefix of the smoke test's requests (`meta.puid`); the monitor drops them from the request log.
SMOKE_REQUEST_PREFIX = "smoke-"


class EndpointError(RuntimeError):
    """The endpoint could not be reached or answered an error; `status` is the HTTP code, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _call(url: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, Any]:
    """(HTTP status, JSON-decoded body, or the text when it is not JSON); EndpointError if unreachable."""
    try:
        return localhost.request(url, data=body, content_type="application/json", timeout=timeout)
    except localhost.HTTPError as error:
        raise EndpointError(str(error)) from error


def error_message(payload: Any) -> str:
    """The server's message in an error answer (Seldon puts it in status.info)."""
    if isinstance(payload, dict) and isinstance(payload.get("status"), dict):
        return str(payload["status"].get("info") or "")
    return str(payload or "")[:500]


def predict(
    url: str, papers: list[dict[str, str]], timeout: float = 30, request_id: str | None = None
) -> dict[str, Any]:
    """Post `papers` ({"title", "summary"} dicts) and return the answer; EndpointError on 4xx/5xx.

    `request_id` is sent as `meta.puid`, which the server logs as the request's id (a new one if None).
    """
    target = url.rstrip("/") + PREDICT_PATH
    body: dict[str, Any] = {"jsonData": papers}
    if request_id is not None:
        body["meta"] = {"puid": request_id}
    status, payload = _call(target, json.dumps(body).encode(), timeout)
    if status >= 400:
        raise EndpointError(f"{target} answered {status}: {error_message(payload) or '(no message)'}", status)
    if not isinstance(payload, dict):
        raise EndpointError(f"{target} answered {status} with a body that is not a JSON object: {payload!r:.200}")
    return payload


def health(url: str, timeout: float = 5) -> dict[str, Any] | None:
    """The /health/status answer when the endpoint is ready, else None (down, loading or failing)."""
    try:
        status, payload = _call(url.rstrip("/") + HEALTH_PATH, timeout=timeout)
    except EndpointError:
        return None
    return payload if status == 200 and isinstance(payload, dict) else None


def metrics(metrics_url: str, timeout: float = 10) -> str:
    """Prometheus text of the metrics port (`metrics_url` is its base or the full /metrics URL)."""
    target = metrics_url if metrics_url.rstrip("/").endswith(METRICS_PATH) else metrics_url.rstrip("/") + METRICS_PATH
    status, payload = _call(target, timeout=timeout)
    if status != 200:
        raise EndpointError(f"{target} answered {status}: {error_message(payload)}", status)
    return payload if isinstance(payload, str) else json.dumps(payload)


def _is_probability(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _check_prediction(pred: Any, where: str, labels: list[str] | None, top_k: int | None) -> list[str]:
    if not isinstance(pred, dict):
        return [f"{where} is not an object: {pred!r:.100}"]
    problems = []
    category: Any = pred.get("category")
    confidence: Any = pred.get("confidence")
    ranked: Any = pred.get("top_k")
    if not isinstance(category, str) or (labels is not None and category not in labels):
        problems.append(f"{where}.category {category!r} is not one of the model's labels")
    if not _is_probability(confidence):
        problems.append(f"{where}.confidence {confidence!r} is not a probability in [0, 1]")
    if not isinstance(ranked, list) or not ranked:
        return [*problems, f"{where}.top_k is not a non-empty list"]
    if top_k is not None and len(ranked) != top_k:
        problems.append(f"{where}.top_k has {len(ranked)} entries, expected {top_k}")
    entries = [e for e in ranked if isinstance(e, dict) and _is_probability(e.get("probability"))]
    if len(entries) != len(ranked):
        return [*problems, f"{where}.top_k entries must be {{category, probability in [0, 1]}}"]
    probs = [e["probability"] for e in entries]
    if probs != sorted(probs, reverse=True):
        problems.append(f"{where}.top_k is not sorted by probability, highest first")
    if labels is not None and any(e.get("category") not in labels for e in entries):
        problems.append(f"{where}.top_k names a category outside the model's labels")
    same_confidence = not _is_probability(confidence) or math.isclose(probs[0], float(confidence), abs_tol=1e-6)
    if entries[0].get("category") != category or not same_confidence:
        problems.append(f"{where}: category/confidence differ from the first top_k entry")
    return problems


def _check_answer(answer: dict[str, Any], n: int, labels: list[str] | None, top_k: int | None) -> list[str]:
    body = answer.get("jsonData")
    if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
        return [f"the answer has no jsonData.predictions list: {answer!r:.200}"]
    problems = []
    if len(body["predictions"]) != n:
        problems.append(f"{len(body['predictions'])} predictions for {n} papers")
    for i, pred in enumerate(body["predictions"]):
        problems += _check_prediction(pred, f"predictions[{i}]", labels, top_k)
    if not isinstance(body.get("model_version"), str) or not body["model_version"]:
        problems.append("the answer has no model_version")
    return problems


def check_contract(
    url: str,
    papers: list[dict[str, str]],
    labels: list[str] | None = None,
    top_k: int | None = None,
    max_batch: int | None = None,
    timeout: float = 30,
) -> list[str]:
    """Contract violations found by sending real `papers` and known-bad requests; [] means it holds.

    Good requests (the batch, and its first paper alone) must get one well-formed prediction per paper;
    each bad request (missing summary, non-string title, empty text, a batch over `max_batch` when given,
    a body that is not JSON) must get a 4xx with a non-empty message; and the endpoint must still be
    healthy at the end.
    """
    if not papers:
        return ["check_contract needs at least one real paper"]
    problems: list[str] = []
    first = papers[0]
    for name, batch in (("the batch", papers), ("one paper", [first])):
        try:
            # Tagged, so the monitor can tell the deployment's own check from traffic in the request log.
            answer = predict(url, batch, timeout, request_id=f"{SMOKE_REQUEST_PREFIX}{uuid.uuid4().hex}")
        except EndpointError as error:
            problems.append(f"good request ({name}, {len(batch)} papers) failed: {error}")
            continue
        problems += [f"good request ({name}): {p}" for p in _check_answer(answer, len(batch), labels, top_k)]

    bad: dict[str, bytes] = {
        "missing summary": json.dumps({"jsonData": {"title": first.get("title", "")}}).encode(),
        "non-string title": json.dumps({"jsonData": {"title": 123, "summary": first.get("summary", "")}}).encode(),
        "empty text": json.dumps({"jsonData": {"title": " ", "summary": ""}}).encode(),
        "malformed JSON": b'{"jsonData": [{"title": ',
    }
    if max_batch is not None:
        bad[f"batch of {max_batch + 1} (over max_batch)"] = json.dumps({"jsonData": [first] * (max_batch + 1)}).encode()
    target = url.rstrip("/") + PREDICT_PATH
    for name, body in bad.items():
        try:
            status, payload = _call(target, body, timeout)
        except EndpointError as error:
            problems.append(f"bad request ({name}): {error}")
            continue
        if not 400 <= status < 500:
            problems.append(f"bad request ({name}) answered {status}, expected 4xx")
        elif not error_message(payload).strip():
            problems.append(f"bad request ({name}) answered {status} without a message")

    state = health(url, timeout)
    if state is None or state.get("status") != "ready":
        problems.append(f"{url}{HEALTH_PATH} is not ready after the checks: {state}")
    return problems


def check_answers(
    url: str, papers: list[dict[str, str]], expected: list[Any], tolerance: float, timeout: float = 30
) -> list[str]:
    """Answers that contradict the model version's recorded test predictions; [] means none.

    Each paper is sent alone. `expected` holds, per paper, the recorded probabilities (one per label, a
    {label: probability} mapping) of the PyTorch model on it. The served top category must be the recorded
    one unless the recorded top-two margin is within `2 * tolerance`: a served format whose probabilities
    differ from PyTorch's by at most `tolerance` (its measured largest difference) can flip only those.
    """
    problems: list[str] = []
    for i, (paper, recorded) in enumerate(zip(papers, expected, strict=True)):
        ranked = sorted(recorded.items(), key=lambda kv: -kv[1])
        margin = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0.0)
        try:
            answer = predict(url, [paper], timeout, request_id=f"{SMOKE_REQUEST_PREFIX}{uuid.uuid4().hex}")
            served = answer["jsonData"]["predictions"][0]["category"]
        except (EndpointError, KeyError, IndexError, TypeError) as error:
            problems.append(f"paper {i} ({paper.get('title', '')[:60]!r}) got no prediction: {error}")
            continue
        if served != ranked[0][0] and margin > 2 * tolerance:
            problems.append(
                f"paper {i} ({paper.get('title', '')[:60]!r}) answered {served!r}; the evaluated model said "
                f"{ranked[0][0]!r} with a margin of {margin:.3f} over the next category (the served format may "
                f"differ by {tolerance:.3g} in probability): the server does not run the evaluated model"
            )
    return problems
