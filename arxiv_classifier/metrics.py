"""Evaluation metrics as small pure functions over label indices and probabilities."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from arxiv_classifier.constants import COL_DATE, COL_TEXT, COL_TRUNCATED

if TYPE_CHECKING:
    from arxiv_classifier.classifier import TextClassifier
    from arxiv_classifier.config import EvaluationConfig, TrainConfig


def top_k_accuracy(y_true: np.ndarray, proba: np.ndarray, k: int) -> float:
    """Share of rows whose true class is among the k most probable."""
    if len(y_true) == 0:
        return float("nan")
    k = min(k, proba.shape[1])
    top = np.argsort(-proba, axis=1)[:, :k]
    return float(np.mean([y in row for y, row in zip(y_true, top, strict=True)]))


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> float:
    """ECE of the top-1 confidence, equal-width bins."""
    if len(y_true) == 0:
        return float("nan")
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def overall_metrics(y_true: np.ndarray, proba: np.ndarray, top_k: int = 5, n_bins: int = 15) -> dict[str, float]:
    """Accuracy, macro/weighted F1, top-k accuracy and calibration error."""
    y_pred = proba.argmax(axis=1)
    labels = np.arange(proba.shape[1])
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        f"top_{top_k}_accuracy": top_k_accuracy(y_true, proba, top_k),
        "ece": expected_calibration_error(y_true, proba, n_bins),
        "n": float(len(y_true)),
    }


def per_class_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict[str, dict[str, float]]:
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=np.arange(len(class_names)), zero_division=0)
    return {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(class_names)
    }


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))


def encode_labels(labels: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    """Label names -> indices of `class_names`; unknown labels become -1 (always counted wrong)."""
    index = {name: i for i, name in enumerate(class_names)}
    return np.array([index.get(label, -1) for label in labels], dtype=int)


def evaluation_report(
    y_true_names: Sequence[str], proba: np.ndarray, class_names: Sequence[str], top_k: int = 5, n_bins: int = 15
) -> dict[str, Any]:
    """Everything the evaluator logs: overall metrics, per-class metrics, confusion matrix."""
    y_true = encode_labels(y_true_names, class_names)
    y_pred = proba.argmax(axis=1)
    return {
        "overall": overall_metrics(y_true, proba, top_k, n_bins),
        "per_class": per_class_metrics(y_true, y_pred, class_names),
        "confusion_matrix": confusion(y_true, y_pred, len(class_names)).tolist(),
        "labels": list(class_names),
    }


def score_classifier(
    classifier: TextClassifier,
    texts: Sequence[str],
    true_labels: Sequence[str],
    evaluation: EvaluationConfig,
    train: TrainConfig,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Class probabilities and the evaluation report of `classifier` on labelled texts.

    The one way the evaluator and the promoter score a model on the test split, so both run it
    `train.eval_batch_size` texts at a time (a GPU config scores ~80k test papers 512 at a time). The
    device stays "auto": on a remote orchestrator only the trainer step is given the accelerator.

    Args:
        classifier: the model scored.
        texts: the texts to classify.
        true_labels: their label names (names outside `classifier.labels` count as wrong).
        evaluation: top-k and calibration settings of the report.
        train: the run's training settings (for the batch size).

    Returns:
        The probabilities (one row per text, columns in `classifier.labels` order) and the report of
        `evaluation_report`.
    """
    proba = classifier.predict_proba(list(texts), batch_size=train.eval_batch_size)
    report = evaluation_report(true_labels, proba, classifier.labels, evaluation.top_k, evaluation.calibration_bins)
    return proba, report


# --------------------------------------------------------------------------------------------
# Hard-prediction metrics, per-class changes and slices (the promotion decision's evidence)
# --------------------------------------------------------------------------------------------


def prediction_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 and weighted F1 of hard predictions, averaged over the classes `labels`.

    Computed from per-class counts rather than with sklearn, because the paired bootstrap calls it
    thousands of times; it equals sklearn's `f1_score(..., labels=labels, zero_division=0)`. A
    prediction of -1 (a label outside the space) is wrong for its row and counts for no class.

    Args:
        y_true: true label indices (-1: a label outside the space, never right).
        y_pred: predicted label indices, -1 allowed.
        labels: the class indices averaged over.
    """
    if len(y_true) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "weighted_f1": float("nan")}
    size = int(max(y_true.max(), y_pred.max(), labels.max(initial=-1))) + 1
    right = (y_true == y_pred) & (y_true >= 0)
    support = np.bincount(y_true[y_true >= 0], minlength=size)
    predicted = np.bincount(y_pred[y_pred >= 0], minlength=size)
    hits = np.bincount(y_true[right], minlength=size)
    denominator = support + predicted  # 2*TP + FP + FN
    f1 = np.divide(2.0 * hits, denominator, out=np.zeros(size), where=denominator > 0)[labels]
    weights = support[labels]
    return {
        "accuracy": float(right.mean()),
        "macro_f1": float(f1.mean()) if len(labels) else float("nan"),
        "weighted_f1": float((f1 * weights).sum() / weights.sum()) if weights.sum() else 0.0,
    }


def per_class_changes(
    y_true: np.ndarray, candidate: np.ndarray, production: np.ndarray, class_names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per-class F1 of two models on the same rows, and the change (candidate minus production)."""
    new = per_class_metrics(y_true, candidate, class_names)
    old = per_class_metrics(y_true, production, class_names)
    return {
        name: {
            "support": new[name]["support"],
            "candidate_f1": new[name]["f1"],
            "production_f1": old[name]["f1"],
            "delta_f1": new[name]["f1"] - old[name]["f1"],
        }
        for name in class_names
    }


def slice_metrics(y_true: np.ndarray, y_pred: np.ndarray, slices: Sequence[str]) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 within each slice (Made-With-ML's get_slice_metrics, one key per row).

    Macro-F1 averages over the classes present in the slice's true labels: a slice without a class
    (2024 papers hold no math) should not score a zero F1 for it.

    Args:
        y_true: true label indices.
        y_pred: predicted label indices.
        slices: each row's slice name, e.g. its publication year.

    Returns:
        For each slice name (sorted): `n`, `accuracy`, `macro_f1`.
    """
    keys = np.asarray(slices, dtype=object)
    out: dict[str, dict[str, float]] = {}
    for key in sorted(set(keys.tolist()), key=str):
        mask = keys == key
        truth = y_true[mask]
        scores = prediction_metrics(truth, y_pred[mask], np.unique(truth[truth >= 0]))
        out[str(key)] = {"n": int(mask.sum()), "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
    return out


def slices_of(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The slices the promotion decision reports, one key per row of `frame` (a prepared split).

    `year` (publication year) when the frame is dated; `abstract` ('full' or 'truncated' at the
    feed's 1,000 characters) from the provenance column when the dataset carries it, else judged
    from the text's last line (the abstract) by `looks_truncated`.
    """
    from arxiv_classifier.data import looks_truncated

    out: dict[str, list[str]] = {}
    if COL_DATE in frame and frame[COL_DATE].notna().all():
        out["year"] = pd.to_datetime(frame[COL_DATE]).dt.year.astype(str).tolist()
    if COL_TRUNCATED in frame:
        cut = frame[COL_TRUNCATED].astype(bool)
    else:
        cut = looks_truncated(frame[COL_TEXT].astype(str).str.rsplit("\n", n=1).str[-1])
    out["abstract"] = np.where(cut.to_numpy(), "truncated", "full").tolist()
    return out
