"""The local ZenML server + dashboard over the test store: the training run through the REST API and
in a headless browser.

Both tests share one server (started with `stacks.dashboard.start` on a free loopback port, ~20 s,
~700 MB) and stop it on teardown. The store is the session's isolated ZenML store from the
`training_run` fixture (tests/conftest.py), whose `ZENML_CONFIG_PATH` the server subprocess inherits.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arxiv_classifier import localhost
from arxiv_classifier.constants import CLASSIFIER, PREPARED_DATASET
from stacks import dashboard

pytestmark = [pytest.mark.slow, pytest.mark.dashboard]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PIPELINE_NAME = "training_pipeline"
#: Real-time budget for the dashboard (a single-page app) to fetch and render the runs table.
PAGE_TIMEOUT_MS = 60_000


def api_get(url: str, path: str, token: str, **params: Any) -> Any:
    """GET a ZenML REST API path (e.g. `/api/v1/runs`) with query parameters (ZenML filter fields)."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    status, body = localhost.request(f"{url}{path}{query}", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, f"GET {path} answered HTTP {status}: {str(body)[:500]}"
    return body


@pytest.fixture(scope="module")
def dashboard_url(training_run: Any) -> Iterator[str]:
    """Start the local ZenML server over the test store; stop it afterwards, whatever happens."""
    store = Path(os.environ.get("ZENML_CONFIG_PATH", "")).resolve()
    assert store == Path(training_run.config_path).resolve(), "the server must run over the test store"
    port = localhost.free_port()
    try:
        assert dashboard.start(port) == 0, "stacks.dashboard.start failed (see stderr)"
        yield dashboard.server_url(port)
    finally:
        dashboard.stop_server()
    assert not dashboard.is_healthy(dashboard.server_url(port)), "the local server still answers after stop"


def _items(url: str, path: str, token: str, **params: Any) -> list[dict[str, Any]]:
    page = api_get(url, path, token, size=100, **params)
    return list(page["items"])


def test_training_run_and_artifacts_in_server(dashboard_url: str, training_run: Any) -> None:
    token = dashboard.api_token(dashboard_url)

    user = api_get(dashboard_url, "/api/v1/current-user", token)
    assert user["metadata"]["user_metadata"].get("finished_onboarding_survey") is True

    runs = _items(dashboard_url, "/api/v1/runs", token, name=training_run.run_name)
    assert len(runs) == 1, f"run {training_run.run_name!r} not found on the server"
    run = runs[0]
    assert run["body"]["status"] == "completed"

    pipelines = _items(dashboard_url, "/api/v1/pipelines", token, name=PIPELINE_NAME)
    assert [p["id"] for p in pipelines] == [run["body"]["pipeline_id"]], f"the run is not a {PIPELINE_NAME} run"

    versions = _items(dashboard_url, "/api/v1/artifact_versions", token, pipeline_run=run["id"], hydrate="true")
    by_name = {v["body"]["artifact"]["name"]: v for v in versions}
    for name in (PREPARED_DATASET, CLASSIFIER):
        assert name in by_name, f"artifact {name!r} missing from the run; it has {sorted(by_name)}"
        uri = by_name[name]["body"]["uri"]
        assert Path(uri).exists(), f"artifact {name!r} points to missing data {uri}"


def test_runs_page_shows_training_run(dashboard_url: str, training_run: Any) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (install Debian's `chromium` package); the browser check needs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            # The local server runs without authentication: no login page, and the first-use
            # survey was marked done by `start`, so the runs page renders directly.
            page.goto(dashboard_url + dashboard.RUNS_PAGE, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
            started = time.monotonic()
            try:
                page.get_by_text(training_run.run_name).first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
            except sync_api.TimeoutError:
                body = page.inner_text("body")[:1000]
                pytest.fail(
                    f"run {training_run.run_name!r} not shown within {PAGE_TIMEOUT_MS / 1000:.0f} s "
                    f"at {page.url}; page text:\n{body}"
                )
            assert "/survey" not in page.url and "/login" not in page.url
            print(f"runs page rendered the run after {time.monotonic() - started:.1f} s")
        finally:
            browser.close()
