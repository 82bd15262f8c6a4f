"""Fake GCP settings and context managers shared by the stack tests (fixtures in conftest.py).

The whole test session shares one throw-away ZenML store (tests/conftest.py), and the pipeline
tests run on the `local` stack: whatever a test here activates, the previous stack comes back.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

#: Settings of a GCP project that does not exist; registering needs no credentials or network.
FAKE_GCP = {
    "ARXIV_GCP_PROJECT": "arxiv-test-project",
    "ARXIV_GCP_REGION": "europe-west4",
    "ARXIV_GCP_BUCKET": "arxiv-test-bucket",
    "ARXIV_GCP_ARTIFACT_REPO": "zenml",
    "ARXIV_GCP_SERVICE_ACCOUNT": "zenml-vertex@arxiv-test-project.iam.gserviceaccount.com",
    "ARXIV_GCP_MLFLOW_TRACKING_URI": "https://mlflow.arxiv-test.invalid",
    "ARXIV_GCP_MLFLOW_USERNAME": "alice",
    "ARXIV_GCP_MLFLOW_PASSWORD": "not-a-real-password",
    "ARXIV_GCP_GKE_CONTEXT": "gke_arxiv-test-project_europe-west4_ml",
    "ARXIV_GCP_SELDON_BASE_URL": "http://10.0.0.1",
}


@contextlib.contextmanager
def gcp_environment(mp: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The fake settings in the environment, and none of the user's own ARXIV_GCP_* variables."""
    for name in list(os.environ):
        if name.startswith("ARXIV_GCP_"):
            mp.delenv(name)
    for name, value in FAKE_GCP.items():
        mp.setenv(name, value)
    yield dict(FAKE_GCP)


@contextlib.contextmanager
def active_stack_restored() -> Iterator[str]:
    """Yields the active stack's name, and makes that stack active again afterwards."""
    from zenml.client import Client

    before = Client().active_stack_model.name
    try:
        yield before
    finally:
        if Client().active_stack_model.name != before:
            Client().activate_stack(before)
