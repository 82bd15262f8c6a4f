"""Fixtures of the serving tests: tiny, random, self-contained model directories in the served formats.

The serving environment has neither torch nor arxiv_classifier nor the MiniLM weights, so the
directories are built by the project's environment (`python -m tests.serving_fixture OUT`, run with
`$PROJECT_PYTHON`, default `.venv/bin/python`: `make test` creates it first): a 2-layer, 32-wide BERT
with a small WordPiece vocabulary, exported exactly as the training pipeline exports, as ONNX fp32 (the
default fixture), ONNX int8 and the PyTorch directory (served only where torch is installed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVING_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SERVING_DIR.parent
if str(SERVING_DIR) not in sys.path:
    sys.path.insert(0, str(SERVING_DIR))

LABELS = ["cs.CV", "cs.CL", "cs.AI"]
MAX_LENGTH = 128


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"onnx-fp32", "onnx-int8", "torch"} -> the tiny model in that format."""
    python = os.environ.get("PROJECT_PYTHON") or str(REPO_ROOT / ".venv" / "bin" / "python")
    if not Path(python).exists():
        pytest.fail(f"the project's Python {python} is missing: run `make install` (or set PROJECT_PYTHON)")
    out = tmp_path_factory.mktemp("models")
    done = subprocess.run(
        [python, "-m", "tests.serving_fixture", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        pytest.fail(f"building the tiny models failed:\n{done.stdout}\n{done.stderr}")
    return {fmt: out / fmt for fmt in ("onnx-fp32", "onnx-int8", "torch")}


@pytest.fixture(scope="session", autouse=True)
def request_log_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where models built without a request_log_uri log (not the machine's temp directory)."""
    home = tmp_path_factory.mktemp("request-logs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUEST_LOG_URI", str(home))
        yield home


@pytest.fixture(scope="session")
def model_dir(model_dirs: dict[str, Path]) -> Path:
    return model_dirs["onnx-fp32"]


@pytest.fixture(scope="session")
def loaded_model(model_dir: Path):
    from arxiv_model import ArxivClassifier

    model = ArxivClassifier(model_dir=str(model_dir), model_name="arxiv-classifier", model_version="7", max_batch=8)
    model.load()
    return model
