"""Score the candidate on the test split; log metrics, plots, predictions, the model and its card."""

import io
from typing import Annotated, Any

import numpy as np
import pandas as pd
from PIL import Image
from zenml import get_step_context, log_metadata, step
from zenml.types import MarkdownString

from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.config import EvaluationConfig, TrainConfig
from arxiv_classifier.constants import (
    COL_ID,
    COL_LABEL,
    COL_SPLIT,
    COL_TEXT,
    CONFUSION_MATRIX,
    MODEL_CARD,
    SAMPLE_PREDICTIONS,
    TEST_METRICS,
    TEST_PREDICTIONS,
)
from arxiv_classifier.data import PreparedData, ValidationReport
from arxiv_classifier.reports import confusion_matrix_png, model_card_markdown


def sample_predictions(
    test: pd.DataFrame, proba: np.ndarray, labels: list[str], n: int, k: int, seed: int
) -> pd.DataFrame:
    """n test rows with the true label and the top-k predicted labels with probabilities."""
    picked = test.sample(n=min(n, len(test)), random_state=seed).index
    rows = []
    for i in picked:
        pos = test.index.get_loc(i)
        top = np.argsort(-proba[pos])[:k]
        rows.append(
            {
                COL_ID: test.at[i, COL_ID],
                "text": test.at[i, COL_TEXT][:160],
                "true": test.at[i, COL_LABEL],
                "predicted": labels[top[0]],
                "correct": labels[top[0]] == test.at[i, COL_LABEL],
                "top_k": "; ".join(f"{labels[j]}={proba[pos, j]:.3f}" for j in top),
            }
        )
    return pd.DataFrame(rows)


@step(experiment_tracker=True)
def model_evaluator(
    classifier: TextClassifier,
    dataset: pd.DataFrame,
    baseline_metrics: dict[str, Any],
    training_history: dict[str, Any],
    config: EvaluationConfig,
    train: TrainConfig,
    log_model_to_mlflow: bool = True,
) -> tuple[
    Annotated[dict[str, Any], TEST_METRICS],
    Annotated[Image.Image, CONFUSION_MATRIX],
    Annotated[pd.DataFrame, SAMPLE_PREDICTIONS],
    Annotated[MarkdownString, MODEL_CARD],
    Annotated[pd.DataFrame, TEST_PREDICTIONS],
]:
    """Test-split evaluation of the candidate (the promotion step compares on these same rows).

    Scored `train.eval_batch_size` papers at a time; `train` also fills the model card's parameters.
    `test_predictions` (id, predicted label, confidence and the probabilities per test row, in the dataset's
    order) lets the promoter pair the candidate's answers with production's without scoring the candidate
    again, and the ONNX exporter compare its formats with these PyTorch probabilities.
    """
    import mlflow  # heavy imports inside the step: cached runs skip them

    from arxiv_classifier.metrics import score_classifier
    from arxiv_classifier.serving_requirements import mlflow_pip_requirements

    labels = classifier.labels
    test = dataset[dataset[COL_SPLIT] == "test"]
    proba, report = score_classifier(classifier, test[COL_TEXT].tolist(), test[COL_LABEL].tolist(), config, train)
    overall = report["overall"]

    context = get_step_context()
    model = context.model
    png = confusion_matrix_png(report["confusion_matrix"], labels, f"{model.name} v{model.version} — test")
    image = Image.open(io.BytesIO(png))
    image.load()
    samples = sample_predictions(test, proba, labels, config.n_sample_predictions, config.top_k, seed=0)

    mlflow.log_metrics({f"test_{k}": v for k, v in overall.items()})
    for name, m in report["per_class"].items():
        mlflow.log_metrics({f"test_f1_{name}": m["f1"], f"test_recall_{name}": m["recall"]})
    mlflow.log_image(image, "confusion_matrix.png")
    mlflow.log_dict(report, "evaluation/test_report.json")
    mlflow.log_table(samples, "evaluation/sample_predictions.json")
    if log_model_to_mlflow:
        mlflow.transformers.log_model(
            transformers_model={"model": classifier.model, "tokenizer": classifier.tokenizer},
            name="model",
            task="text-classification",
            pip_requirements=mlflow_pip_requirements(),
        )

    dataset_meta = PreparedData(frame=dataset, labels=labels, report=ValidationReport()).metadata()
    card = model_card_markdown(
        model_name=model.name,
        version=str(model.version),
        base_model=classifier.base_model,
        labels=labels,
        dataset_meta=dataset_meta,
        train_params=train.model_dump(),
        test_metrics=overall,
        baseline_metrics=baseline_metrics or None,
        per_class=report["per_class"],
    )
    log_metadata(
        metadata={
            "test": overall,
            "per_class_f1": {k: v["f1"] for k, v in report["per_class"].items()},
            "best_val_macro_f1": float(training_history.get("best_val_macro_f1", float("nan"))),
        },
        infer_model=True,
    )
    print("Transformer test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in overall.items() if k != "n"))
    predictions = pd.DataFrame(
        {
            COL_ID: test[COL_ID].to_numpy(),
            "predicted": [labels[i] for i in proba.argmax(axis=1)],
            "confidence": proba.max(axis=1),
            "probabilities": list(proba.astype(np.float32)),
        }
    )
    return overall, image, samples, MarkdownString(card), predictions
