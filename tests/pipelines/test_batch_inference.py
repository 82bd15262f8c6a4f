"""The batch-inference pipeline on real incoming papers with the quick model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from zenml.client import Client
from zenml.enums import ExecutionStatus

import run
from arxiv_classifier.constants import BATCH_PREDICTIONS, DRIFT_RESULT
from tests.conftest import DATA_DIR, REPO_ROOT

TWEETS = DATA_DIR / "disaster_tweets" / "test.csv"

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def test_batch_inference_writes_predictions_and_warns_on_drift(training_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Out-of-domain traffic (disaster tweets sent to the paper classifier): the check fails, the run warns and writes.

    Tweets rather than the unlabelled arXiv papers: those are a milder shift (mostly 2024 cross-lists) that
    the quick model's checks score near their thresholds, so whether it fails depends on the model the
    quick config happens to train; here the shift is certain.
    """
    out_dir = tmp_path / "predictions"
    config = tmp_path / "batch.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "extends": str(REPO_ROOT / "configs" / "batch_inference.yaml"),
                "papers": {"source": str(TWEETS), "id_field": "id", "text_fields": ["text"], "max_rows": 120},
                "drift": {"max_reference_rows": 300, "current": {"max_rows": 300}},
                "output_dir": str(out_dir),
            }
        )
    )
    assert run.main(["--pipeline", "batch-inference", "--config", str(config)]) == 0
    pipeline_run = Client().get_pipeline("batch_inference_pipeline").last_run
    assert pipeline_run.status == ExecutionStatus.COMPLETED  # drift only warns here

    drift = pipeline_run.steps["drift_checker"].outputs[DRIFT_RESULT][0].load()
    assert drift["passed"] is False, drift["checks"]
    assert {"token_count", "embedding"} <= set(drift["drifted_checks"])  # short texts, another domain
    preds = pipeline_run.steps["batch_predictor"].outputs[BATCH_PREDICTIONS][0].load()
    labels = Client().get_model_version(training_run.model_name, "production").get_artifact("classifier").load().labels
    assert len(preds) == 120 and preds["id"].is_unique
    assert set(preds["category"]) <= set(labels)
    assert preds["confidence"].between(0, 1).all()

    csv = pd.read_csv(out_dir / f"{pipeline_run.name}.csv", dtype=str)
    assert list(csv["id"]) == list(preds["id"])
    lines = (out_dir / f"{pipeline_run.name}.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 120 and first["category"] == first["top_k"][0]["category"]
    assert [p["probability"] for p in first["top_k"]] == sorted(
        (p["probability"] for p in first["top_k"]), reverse=True
    )
