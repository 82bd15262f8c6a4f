"""Shared fixtures. The whole test session runs against a throw-away ZenML store in a temp dir.

ZENML_CONFIG_PATH must be set before anything imports zenml, hence at module import time here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Tests also import this module as `tests.conftest`; a second import must not make a second store.
_ZENML_DIR = os.environ.get("ARXIV_TEST_ZENML_STORE") or tempfile.mkdtemp(prefix="zenml-test-store-")
os.environ["ARXIV_TEST_ZENML_STORE"] = _ZENML_DIR
os.environ["ZENML_CONFIG_PATH"] = _ZENML_DIR
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["ZENML_AUTO_OPEN_DASHBOARD"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")

DATA_DIR = Path(os.environ.get("DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
ARXIV = DATA_DIR / "arxiv" / "papers.csv.gz"
QUICK_CONFIG = REPO_ROOT / "configs" / "train_quick.yaml"

requires_arxiv = pytest.mark.skipif(not ARXIV.is_file(), reason=f"real arXiv data not found at {ARXIV}")


@dataclass
class TrainingRun:
    """The quick training pipeline, run once per session in the isolated store."""

    config_path: str
    run_name: str
    run_id: str
    model_name: str


@pytest.fixture(scope="session")
def training_run() -> TrainingRun:
    if not ARXIV.is_file():
        pytest.skip(f"real arXiv data not found at {ARXIV}")
    from zenml.client import Client

    import run
    from arxiv_classifier.config import load_config

    assert run.main(["--pipeline", "train", "--config", str(QUICK_CONFIG)]) == 0
    last = Client().get_pipeline("training_pipeline").last_run
    return TrainingRun(
        config_path=_ZENML_DIR,
        run_name=last.name,
        run_id=str(last.id),
        model_name=load_config(QUICK_CONFIG).model_name,
    )


@pytest.fixture(scope="session")
def quick_classifier(training_run: TrainingRun):  # type: ignore[no-untyped-def]
    """The classifier of the model version the quick run produced."""
    from zenml.client import Client

    from arxiv_classifier.constants import CLASSIFIER

    version = Client().get_model_version(training_run.model_name, "production")
    return version.get_artifact(CLASSIFIER).load()


@pytest.fixture(scope="session", autouse=True)
def no_model_server_outlives_the_tests():  # type: ignore[no-untyped-def]
    """Safety net: terminate any local model server started from this session's throw-away store."""
    yield
    import psutil

    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any("launch_local.py" in part for part in cmdline) and any(_ZENML_DIR in part for part in cmdline):
            with contextlib.suppress(psutil.Error):
                proc.terminate()


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """Run the monitoring loop's pipeline test last: it retrains and promotes a new production version
    in the session's store, and the training-pipeline tests inspect the first (quick) version."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/pipelines/test_monitoring_pipeline.py"))
