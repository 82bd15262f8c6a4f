"""Export the candidate to ONNX (fp32 and int8) and score both on the test split against PyTorch."""

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.config import ExportConfig, TrainConfig
from arxiv_classifier.constants import (
    COL_ID,
    COL_LABEL,
    COL_SPLIT,
    COL_TEXT,
    ONNX_EVALUATION,
    ONNX_FP32,
    ONNX_INT8,
    ONNX_METADATA_KEY,
)
from arxiv_classifier.onnx_export import FP32, INT8, OnnxClassifier, evaluate_onnx, export_onnx, quantize_int8


@step(experiment_tracker=True)
def onnx_exporter(
    classifier: TextClassifier,
    dataset: pd.DataFrame,
    test_predictions: pd.DataFrame,
    config: ExportConfig,
    train: TrainConfig,
) -> tuple[
    Annotated[OnnxClassifier, ONNX_FP32],
    Annotated[OnnxClassifier, ONNX_INT8],
    Annotated[dict[str, Any], ONNX_EVALUATION],
]:
    """The fp32 and int8 ONNX directories of the candidate, and how each scores against PyTorch.

    Both are scored on the test rows the evaluator scored, with the serving code's ONNX runner, and
    compared with the PyTorch probabilities of `test_predictions`: accuracy, macro-F1, their drops in
    points, argmax agreement and the largest probability difference. The figures go to the model
    version's metadata (key `onnx`) and MLflow; `config.log_to_mlflow` also logs both models there.
    """
    import mlflow

    test = dataset[dataset[COL_SPLIT] == "test"]
    if "probabilities" not in test_predictions or list(test_predictions[COL_ID]) != list(test[COL_ID]):
        raise ValueError(
            "test_predictions must hold the PyTorch probabilities of every test row in the dataset's order "
            "(model_evaluator's output of the same run)"
        )
    torch_proba = np.stack([np.asarray(p, dtype=np.float32) for p in test_predictions["probabilities"]])
    texts, truth = test[COL_TEXT].tolist(), test[COL_LABEL].tolist()
    root = Path(tempfile.mkdtemp(prefix="onnx-export-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # the outputs are copied to the store on return
    fp32 = export_onnx(classifier, root / FP32)
    int8 = quantize_int8(fp32, root / INT8, per_channel=config.per_channel)
    evaluation: dict[str, Any] = {
        fmt: evaluate_onnx(path, texts, truth, torch_proba, classifier.labels, train.eval_batch_size)
        for fmt, path in ((FP32, fp32), (INT8, int8))
    }
    evaluation["torch"] = {"n": float(len(texts))}
    evaluation["per_channel"] = config.per_channel
    for fmt in (FP32, INT8):
        figures = evaluation[fmt]
        print(
            f"{fmt}: accuracy {figures['accuracy']:.4f} ({-figures['accuracy_drop_points']:+.2f} points vs PyTorch), "
            f"macro-F1 {figures['macro_f1']:.4f} ({-figures['macro_f1_drop_points']:+.2f}), agreement "
            f"{figures['agreement']:.4f}, max |Δp| {figures['max_probability_difference']:.2e}, "
            f"{figures['size_mb']:.1f} MB"
        )
        key = fmt.replace("-", "_")
        mlflow.log_metrics({f"{key}_{name}": float(value) for name, value in figures.items()})
    if config.log_to_mlflow:
        import onnx

        from arxiv_classifier.serving_requirements import ONNX_PACKAGES, mlflow_pip_requirements

        for fmt, path in ((FP32, fp32), (INT8, int8)):
            mlflow.onnx.log_model(
                onnx.load(str(path / "model.onnx")),
                name=fmt.replace("-", "_"),
                pip_requirements=mlflow_pip_requirements(ONNX_PACKAGES),
            )
    log_metadata(metadata={ONNX_METADATA_KEY: evaluation}, infer_model=True)
    return OnnxClassifier(fp32), OnnxClassifier(int8), evaluation
