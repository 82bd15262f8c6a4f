"""The training pipeline, end to end on real data with the quick configuration, in an isolated store."""

from __future__ import annotations

import mlflow
import pytest
from zenml.client import Client
from zenml.enums import ExecutionStatus

from arxiv_classifier.constants import (
    BASELINE_METRICS,
    CLASSIFIER,
    CONFUSION_MATRIX,
    DATASET_CARD,
    MODEL_CARD,
    MODEL_HISTORY,
    ONNX_FP32,
    ONNX_INT8,
    PREPARED_DATASET,
    PROMOTION_DECISION,
    PROMOTION_REPORT,
    SAMPLE_PREDICTIONS,
    TEST_METRICS,
)
from arxiv_classifier.modeling import TextClassifier

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def _run(training_run):  # type: ignore[no-untyped-def]
    return Client().get_pipeline_run(training_run.run_id)


def test_run_completes_with_every_step(training_run) -> None:  # type: ignore[no-untyped-def]
    run = _run(training_run)
    assert run.status == ExecutionStatus.COMPLETED
    assert set(run.steps) == {
        "data_loader",
        "data_preparer",
        "baseline_trainer",
        "model_trainer",
        "model_evaluator",
        "model_promoter",
        "model_history_reporter",
        "onnx_exporter",
    }


def test_model_version_holds_model_metrics_and_card(training_run) -> None:  # type: ignore[no-untyped-def]
    version = Client().get_model_version(training_run.model_name, "latest")
    classifier = version.get_artifact(CLASSIFIER).load()
    assert isinstance(classifier, TextClassifier)
    config = classifier.model.config
    assert config.id2label and config.label2id == {v: k for k, v in config.id2label.items()}
    assert len(classifier.labels) == 5
    meta = version.run_metadata
    assert 0.0 <= meta["test"]["accuracy"] <= 1.0
    assert "promotion" in meta and "training" in meta and "baseline_test" in meta
    card = version.get_artifact(MODEL_CARD).load()
    assert "Model card" in card and "accuracy" in card


def test_artifacts_and_visualizations(training_run) -> None:  # type: ignore[no-untyped-def]
    run = _run(training_run)
    dataset = run.steps["data_preparer"].outputs[PREPARED_DATASET][0]
    meta = dataset.run_metadata
    assert len(meta["content_hash"]) == 64
    assert meta["rows_train"] == 400 and meta["rows_validation"] == 150 and meta["rows_test"] == 300
    card = run.steps["data_preparer"].outputs[DATASET_CARD][0]
    assert card.visualizations, "the dataset card must render in the dashboard"
    assert "Rows per class and split" in card.load()
    for step, name in [
        ("model_evaluator", CONFUSION_MATRIX),
        ("model_evaluator", SAMPLE_PREDICTIONS),
        ("model_evaluator", MODEL_CARD),
        ("model_trainer", CLASSIFIER),
        ("onnx_exporter", ONNX_FP32),
        ("onnx_exporter", ONNX_INT8),
        ("model_promoter", PROMOTION_REPORT),
        ("model_history_reporter", MODEL_HISTORY),
    ]:
        assert run.steps[step].outputs[name][0].visualizations, f"{name} has no dashboard visualization"
    samples = run.steps["model_evaluator"].outputs[SAMPLE_PREDICTIONS][0].load()
    assert {"true", "predicted", "top_k"} <= set(samples.columns) and len(samples) == 10


def test_mlflow_run_has_params_epoch_metrics_test_metrics_plots_and_model(training_run) -> None:  # type: ignore[no-untyped-def]
    run = _run(training_run)
    from zenml.client import Client as _C

    tracker = _C().active_stack.experiment_tracker
    assert tracker is not None and tracker.flavor == "mlflow"
    mlflow.set_tracking_uri(tracker.get_tracking_uri())
    runs = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.mlflow.runName = '{run.name}'", output_format="list"
    )
    assert runs, f"no MLflow run named {run.name} (tracking uri {tracker.get_tracking_uri()})"
    mrun = runs[0]
    metrics = mrun.data.metrics
    for key in (
        "train_loss",
        "val_loss",
        "val_accuracy",
        "val_macro_f1",
        "test_accuracy",
        "test_macro_f1",
        "test_weighted_f1",
        "test_top_5_accuracy",
        "test_ece",
        "baseline_test_accuracy",
    ):
        assert key in metrics, f"MLflow metric {key} missing"
    assert mrun.data.params["max_length"] == "64"
    client = mlflow.MlflowClient()
    history = client.get_metric_history(mrun.info.run_id, "val_macro_f1")
    # step 0: the warmed-up head (train.head_warmup_epochs), step 1: the fine-tuning epoch
    assert sorted(m.step for m in history) == [0, 1]
    artifacts = {a.path for a in client.list_artifacts(mrun.info.run_id)}
    assert "confusion_matrix.png" in artifacts and "evaluation" in artifacts
    logged = mlflow.search_logged_models(experiment_ids=[mrun.info.experiment_id], output_format="list")
    mine = {m.name: m for m in logged if m.source_run_id == mrun.info.run_id}
    assert {"model", "onnx_fp32", "onnx_int8"} <= set(mine), f"logged models of the run: {sorted(mine)}"
    loaded = mlflow.transformers.load_model(f"models:/{mine['model'].model_id}")
    prediction = loaded("Convolutional networks for image segmentation")
    labels = _C().get_model_version(training_run.model_name, "latest").get_artifact(CLASSIFIER).load().labels
    assert prediction[0]["label"] in labels


def test_first_version_is_promoted_and_decision_recorded(training_run) -> None:  # type: ignore[no-untyped-def]
    """The quick model beats the baseline (0.63 vs 0.52 accuracy) and nothing is in production yet."""
    run = _run(training_run)
    decision = run.steps["model_promoter"].outputs[PROMOTION_DECISION][0].load()
    assert decision["promote"] is True, decision["reasons"]
    assert decision["production"] is None and decision["previous_version"] is None
    assert "no production version yet" in decision["reasons"]
    assert decision["test"] is None  # nothing to compare with: no significance test
    assert set(decision["slices"]) == {"year", "abstract"}  # by publication year and by abstract source
    assert sum(s["candidate"]["n"] for s in decision["slices"]["year"].values()) == decision["test_rows"]
    test = run.steps["model_evaluator"].outputs[TEST_METRICS][0].load()
    baseline = run.steps["baseline_trainer"].outputs[BASELINE_METRICS][0].load()
    metric = decision["metric"]
    assert decision["candidate"] == test[metric] > decision["baseline"] == baseline[metric]
    # The baseline answered the same rows: the paired test against it matches both scores.
    against = decision["baseline_test"]
    assert decision["baseline_rule"] == "not_worse" and against["against"] == "baseline"
    assert against["n"] == decision["test_rows"]
    assert against["delta"] == pytest.approx(test["accuracy"] - baseline["accuracy"], abs=1e-9)
    version = Client().get_model_version(training_run.model_name, decision["candidate_version"])
    assert version.stage == decision["stage"] == "production"
    assert version.run_metadata["promotion"]["promote"] is True


def test_cached_rerun_adds_a_version_reuses_the_weights_and_does_not_promote(training_run) -> None:  # type: ignore[no-untyped-def]
    import run as entry
    from tests.conftest import QUICK_CONFIG

    client = Client()
    trained = _run(training_run).steps["model_trainer"].outputs[CLASSIFIER][0]
    weights_before = {a.id for a in client.list_artifact_versions(name=CLASSIFIER, size=100).items}
    production = client.get_model_version(training_run.model_name, "production")
    before = client.get_model_version(training_run.model_name, "latest").number

    assert entry.main(["--pipeline", "train", "--config", str(QUICK_CONFIG)]) == 0

    rerun = client.get_pipeline("training_pipeline").last_run
    assert str(rerun.id) != training_run.run_id
    statuses = {name: step.status for name, step in rerun.steps.items()}
    # Every step but the promoter (which decides anew for each version) and the history comes from the cache.
    assert statuses.pop("model_promoter") == ExecutionStatus.COMPLETED
    assert statuses.pop("model_history_reporter") == ExecutionStatus.COMPLETED
    assert set(statuses.values()) == {ExecutionStatus.CACHED}, statuses
    # No new weights: the new version links the classifier the first run trained.
    assert {a.id for a in client.list_artifact_versions(name=CLASSIFIER, size=100).items} == weights_before
    latest = client.get_model_version(training_run.model_name, "latest")
    assert latest.number == before + 1
    assert latest.get_artifact(CLASSIFIER).id == trained.id
    decision = rerun.steps["model_promoter"].outputs[PROMOTION_DECISION][0].load()
    assert decision["promote"] is False and decision["previous_version"] == production.number
    assert any("does not beat production" in r for r in decision["reasons"]), decision["reasons"]
    # The same weights answer alike on every paper: no discordant pair, p = 1.
    assert decision["test"]["b"] == decision["test"]["c"] == 0 and decision["test"]["p_value"] == 1.0
    assert decision["label_space"]["production_lacks"] == decision["label_space"]["candidate_lacks"] == []
    assert latest.stage != "production"
    assert client.get_model_version(training_run.model_name, "production").id == production.id


def test_retrain_on_named_dataset_version(training_run) -> None:  # type: ignore[no-untyped-def]
    import run as entry
    from tests.conftest import QUICK_CONFIG

    first = Client().get_artifact_version(PREPARED_DATASET, "1")
    assert entry.main(["--pipeline", "train", "--config", str(QUICK_CONFIG), "--dataset-version", "1"]) == 0
    rerun = Client().get_pipeline("training_pipeline").last_run
    assert "data_loader" not in rerun.steps
    used = rerun.steps["model_trainer"].inputs["dataset"]
    used = used[0] if isinstance(used, list) else used
    assert used.id == first.id


def test_onnx_exports_are_evaluated_recorded_and_logged(training_run) -> None:  # type: ignore[no-untyped-def]
    """fp32 computes what PyTorch computes; int8 is scored on the same test rows; MLflow can load and run both."""
    import numpy as np
    import onnxruntime as ort

    from arxiv_classifier.onnx_export import OnnxClassifier, load_runner

    version = Client().get_model_version(training_run.model_name, "latest")
    figures = version.run_metadata["onnx"]
    fp32, int8 = figures["onnx-fp32"], figures["onnx-int8"]
    assert fp32["agreement"] == 1.0 and fp32["max_probability_difference"] < 1e-4
    assert fp32["accuracy_drop_points"] == 0.0 and fp32["n"] == 300 == int8["n"]
    assert 0.0 < int8["agreement"] <= 1.0 and int8["size_mb"] < fp32["size_mb"] / 3
    assert version.run_metadata["test"]["accuracy"] - int8["accuracy"] == pytest.approx(
        int8["accuracy_drop_points"] / 100, abs=1e-9
    )
    exports = {name: version.get_artifact(name).load() for name in (ONNX_FP32, ONNX_INT8)}
    assert all(isinstance(e, OnnxClassifier) for e in exports.values())
    assert (
        exports[ONNX_INT8].format == "onnx-int8" and exports[ONNX_INT8].meta["quantization"]["weight_type"] == "QInt8"
    )
    labels = version.get_artifact(CLASSIFIER).load().labels
    assert exports[ONNX_FP32].labels == labels == exports[ONNX_INT8].labels

    tracker = Client().active_stack.experiment_tracker
    mlflow.set_tracking_uri(tracker.get_tracking_uri())
    run = _run(training_run)
    [mrun] = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.mlflow.runName = '{run.name}'", output_format="list"
    )
    assert mrun.data.metrics["onnx_int8_agreement"] == pytest.approx(int8["agreement"])
    logged = mlflow.search_logged_models(experiment_ids=[mrun.info.experiment_id], output_format="list")
    mine = {m.name: m for m in logged if m.source_run_id == mrun.info.run_id}
    texts = ["Convolutional networks for image segmentation", "A proof of the Riemann hypothesis for curves"]
    for name, fmt in (("onnx_fp32", ONNX_FP32), ("onnx_int8", ONNX_INT8)):
        model = mlflow.onnx.load_model(f"models:/{mine[name].model_id}")
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        runner = load_runner(exports[fmt].path)
        (logits,) = session.run(["logits"], runner.encode(texts))
        np.testing.assert_allclose(logits, runner.logits(texts), atol=1e-5)
