"""Hostile input, generated: every request body gets a 4xx with a message or a valid answer, never a 500.

Property-based (hypothesis) through Seldon's own Flask app in process, so Seldon's parsing, our
blueprint and the model class all see each body: arbitrary JSON (deep nesting, huge strings, wrong
types, unicode edge cases, NaN and infinities, duplicate keys, oversized batches) and bodies that are
not JSON at all. Each example has a deadline (no hang) and the process's peak memory is bounded.
"""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import pytest
from arxiv_model import ArxivClassifier
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAX_BATCH = 4
MAX_TEXT_CHARS = 2_000
MAX_REQUEST_BYTES = 64_000
PREDICT = "/api/v1.0/predictions"

SETTINGS = settings(
    max_examples=150,
    deadline=5_000,  # milliseconds per example: a request that hangs fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same examples on every run (CI must not flake); `--hypothesis-seed` explores more
)

#: Text with the awkward parts of Unicode: surrogates are excluded by JSON itself, the rest is fair game.
texts = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["", " ", "\u0000", "\ufeff", "\u202e", "𝔸𝔹ℂ", "e\u0301", "\U0001f600" * 50, "a" * (MAX_TEXT_CHARS + 1)]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(texts, inner, max_size=6),
    max_leaves=40,
)
papers = st.fixed_dictionaries({"title": texts | scalars, "summary": texts | scalars})
request_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"jsonData": json_values | papers | st.lists(papers, max_size=MAX_BATCH + 3)}),
    st.fixed_dictionaries(
        {"data": st.fixed_dictionaries({"ndarray": st.lists(st.lists(texts | scalars, max_size=3), max_size=6)})}
    ),
    st.fixed_dictionaries({"data": json_values, "meta": json_values}),
)


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Any:
    from seldon_core.metrics import SeldonMetrics
    from seldon_core.wrapper import get_rest_microservice

    model = ArxivClassifier(
        model_dir=str(model_dir),
        max_batch=MAX_BATCH,
        max_text_chars=MAX_TEXT_CHARS,
        max_request_bytes=MAX_REQUEST_BYTES,
        request_log=False,
    )
    model.load()
    return get_rest_microservice(model, SeldonMetrics()).test_client()


def _check(answer: Any) -> None:
    assert answer.status_code in (200, 400, 413), (answer.status_code, answer.get_data()[:500])
    body = answer.get_json()
    assert isinstance(body, dict), answer.get_data()[:500]
    if answer.status_code == 200:
        predictions = (body.get("jsonData") or {}).get("predictions") or (body.get("data") or {}).get("ndarray")
        assert predictions, body
    else:
        info = body["status"]["info"]
        assert isinstance(info, str) and len(info) > 20, body  # a message that says what was wrong


def _post(client: Any, data: bytes) -> Any:
    return client.post(PREDICT, data=data, content_type="application/json")


@SETTINGS
@given(request_bodies)
def test_any_json_body_gets_an_answer_or_a_4xx_with_a_message(client: Any, body: Any) -> None:
    # allow_nan: Python's json writes NaN/Infinity, which is not JSON; clients do send it.
    _check(_post(client, json.dumps(body, allow_nan=True).encode()))


@SETTINGS
@given(st.binary(max_size=2_000) | st.text(max_size=500).map(str.encode))
def test_bodies_that_are_not_json_get_a_400(client: Any, raw: bytes) -> None:
    _check(_post(client, raw))


@SETTINGS
@given(st.lists(st.sampled_from(['"title"', '"summary"', '"jsonData"', '"data"']), min_size=2, max_size=6))
def test_duplicate_keys_are_read_as_json_says(client: Any, keys: list[str]) -> None:
    """Duplicate keys are legal JSON (the last one wins); the answer follows the parsed object."""
    inner = ", ".join(f'{k}: "x"' for k in keys)
    _check(_post(client, f'{{"jsonData": {{{inner}}}}}'.encode()))


def test_deep_nesting_and_huge_bodies_are_refused_not_crashed(client: Any) -> None:
    deep = "[" * 100_000 + "]" * 100_000  # deeper than any JSON parser's recursion limit
    _check(_post(client, deep.encode()))
    huge = json.dumps({"jsonData": {"title": "t", "summary": "x" * (MAX_REQUEST_BYTES + 1)}}).encode()
    answer = _post(client, huge)
    assert answer.status_code == 413, answer.get_data()[:300]
    assert f"{MAX_REQUEST_BYTES} bytes" in answer.get_json()["status"]["info"]
    long_text = {"jsonData": {"title": "t", "summary": "x" * MAX_TEXT_CHARS}}
    answer = _post(client, json.dumps(long_text).encode())
    assert answer.status_code == 400 and "max_text_chars" in answer.get_json()["status"]["info"]
    nan = _post(client, b'{"jsonData": {"title": NaN, "summary": Infinity}}')
    assert nan.status_code == 400 and "must be a string" in nan.get_json()["status"]["info"]


def test_memory_stays_bounded_over_many_hostile_requests(client: Any) -> None:
    """Peak RSS after 300 hostile requests grows by < 50 MB (no per-request leak of bodies or texts)."""
    bodies = [
        json.dumps({"jsonData": [{"title": "t" * 1000, "summary": "s" * 900}] * MAX_BATCH}).encode(),
        json.dumps({"jsonData": {"title": "x" * (MAX_REQUEST_BYTES * 2), "summary": ""}}).encode(),
        b"[" * 50_000,
        json.dumps({"data": {"ndarray": [["a", "b"]] * 1000}}).encode(),
    ]
    for body in bodies:  # warm up: first-use allocations are not leaks
        _post(client, body)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    for i in range(300):
        _check(_post(client, bodies[i % len(bodies)]))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert grown < 50, f"peak RSS grew by {grown:.0f} MiB over 300 requests"
