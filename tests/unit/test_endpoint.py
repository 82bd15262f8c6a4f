"""The endpoint client against a tiny stdlib fake server (the real server is tested in serving/tests)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from arxiv_classifier.endpoint import EndpointError, check_answers, check_contract, health, metrics, predict

LABELS = ["cs.CV", "cs.CL"]
PAPERS = [{"title": "A", "summary": "a"}, {"title": "B", "summary": "b"}]
TOP = [{"category": "cs.CV", "probability": 0.75}, {"category": "cs.CL", "probability": 0.25}]


def _good_answer(body: Any) -> tuple[int, Any]:
    """Roughly what serving/arxiv_model.py answers."""
    papers = body.get("jsonData") if isinstance(body, dict) else None
    papers = [papers] if isinstance(papers, dict) else papers
    if not isinstance(papers, list) or not papers or len(papers) > 3:
        return 400, {"status": {"info": "send jsonData with 1 to 3 papers", "code": -1}}
    for p in papers:
        if not isinstance(p, dict) or not all(isinstance(p.get(k), str) for k in ("title", "summary")):
            return 400, {"status": {"info": "title and summary must be strings"}}
        if not (p["title"].strip() or p["summary"].strip()):
            return 400, {"status": {"info": "empty text"}}
    preds = [{"category": "cs.CV", "confidence": 0.75, "top_k": TOP} for _ in papers]
    return 200, {"jsonData": {"predictions": preds, "model_name": "m", "model_version": "2"}}


def _broken_answer(body: Any) -> tuple[int, Any]:
    """Accepts anything, answers one badly formed prediction."""
    pred = {"category": "astro-ph", "confidence": 1.5, "top_k": TOP[::-1]}
    return 200, {"jsonData": {"predictions": [pred]}}


class _Handler(BaseHTTPRequestHandler):
    answer = staticmethod(_good_answer)

    def _send(self, status: int, payload: Any) -> None:
        raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path == "/health/status":
            self._send(200, {"status": "ready", "model_version": "2"})
        elif self.path == "/metrics":
            self._send(200, "arxiv_requests_total 3.0\n")
        else:
            self._send(404, {"status": {"info": "not found"}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"status": {"info": "not JSON"}})
            return
        self._send(*self.answer(body))

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(params=["good", "broken"])
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    handler = type(
        "Handler", (_Handler,), {"answer": staticmethod(_good_answer if request.param == "good" else _broken_answer)}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield request.param, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_client_calls(fake: tuple[str, str]) -> None:
    kind, url = fake
    assert health(url) == {"status": "ready", "model_version": "2"}
    assert "arxiv_requests_total" in metrics(url)
    assert predict(url + "/", PAPERS)["jsonData"]["predictions"][0]["top_k"][0]["category"] in LABELS
    if kind == "good":
        with pytest.raises(EndpointError, match="answered 400: title and summary must be strings") as info:
            predict(url, [{"title": "x"}])
        assert info.value.status == 400


def test_check_contract(fake: tuple[str, str]) -> None:
    kind, url = fake
    problems = check_contract(url, PAPERS, labels=LABELS, top_k=2, max_batch=3)
    if kind == "good":
        assert problems == []
        assert any("expected 3" in p for p in check_contract(url, PAPERS, labels=LABELS, top_k=3))
        return
    text = "\n".join(problems)
    for expected in (
        "1 predictions for 2 papers",
        "'astro-ph' is not one of the model's labels",
        "confidence 1.5 is not a probability",
        "top_k is not sorted",
        "no model_version",
        "bad request (missing summary) answered 200, expected 4xx",
        "bad request (batch of 4 (over max_batch)) answered 200",
    ):
        assert expected in text
    assert "malformed JSON" not in text  # the fake rejects it in both modes


def test_check_answers_tolerates_flips_only_within_the_measured_difference(fake: tuple[str, str]) -> None:
    """The fake answers cs.CV for every paper; recorded probabilities decide what counts as a contradiction."""
    kind, url = fake
    if kind == "broken":  # it answers astro-ph: a clear contradiction of a confident cs.CL
        assert "answered 'astro-ph'" in check_answers(url, PAPERS[:1], [{"cs.CV": 0.1, "cs.CL": 0.9}], 0.01)[0]
        return
    agree = {"cs.CV": 0.8, "cs.CL": 0.2}
    close = {"cs.CV": 0.48, "cs.CL": 0.52}  # margin 0.04: an int8 copy off by up to 0.05 may flip it
    confident = {"cs.CV": 0.1, "cs.CL": 0.9}  # margin 0.8: no format within 0.05 flips it
    assert check_answers(url, PAPERS, [agree, close], tolerance=0.05) == []
    problems = check_answers(url, PAPERS, [agree, close], tolerance=1e-3)  # fp32 must match exactly
    assert len(problems) == 1 and "paper 1 ('B')" in problems[0] and "margin of 0.040" in problems[0]
    problems = check_answers(url, PAPERS, [confident, agree], tolerance=0.05)
    assert len(problems) == 1 and "the server does not run the evaluated model" in problems[0]


def test_unreachable_endpoint() -> None:
    url = "http://127.0.0.1:9"  # discard port: nothing listens
    assert health(url, timeout=2) is None
    with pytest.raises(EndpointError, match="could not reach"):
        predict(url, PAPERS, timeout=2)
    assert "not ready" in check_contract(url, PAPERS, timeout=2)[-1]
