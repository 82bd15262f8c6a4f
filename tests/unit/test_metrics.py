"""Metric functions on hand-computable examples; slices; scoring a real classifier in configured batches."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from arxiv_classifier.config import EvaluationConfig, TrainConfig
from arxiv_classifier.metrics import (
    confusion,
    encode_labels,
    evaluation_report,
    expected_calibration_error,
    overall_metrics,
    per_class_changes,
    per_class_metrics,
    prediction_metrics,
    score_classifier,
    slice_metrics,
    slices_of,
    top_k_accuracy,
)

# 3 classes, 4 rows: predictions [0, 2, 2, 0] against truth [0, 1, 2, 2] -> 2 right.
Y = np.array([0, 1, 2, 2])
P = np.array(
    [
        [0.7, 0.2, 0.1],  # right
        [0.1, 0.3, 0.6],  # wrong, truth is 2nd
        [0.2, 0.2, 0.6],  # right
        [0.5, 0.1, 0.4],  # wrong, truth is 2nd
    ]
)


def test_top_k_accuracy() -> None:
    assert top_k_accuracy(Y, P, 1) == pytest.approx(0.5)
    assert top_k_accuracy(Y, P, 2) == pytest.approx(1.0)
    assert top_k_accuracy(Y, P, 10) == pytest.approx(1.0)  # k is clamped to the number of classes
    assert math.isnan(top_k_accuracy(np.array([], dtype=int), np.zeros((0, 3)), 1))


def test_ece_hand_computed() -> None:
    # 2 bins (0, .5] and (.5, 1]: bin 1 holds row 4 (conf .5, wrong): 1/4 * |0 - .5| = .125;
    # bin 2 holds rows 1-3 (conf .7 .6 .6, 2 of 3 right): 3/4 * |2/3 - 19/30| = .025.
    assert expected_calibration_error(Y, P, n_bins=2) == pytest.approx(0.15)


def test_ece_perfectly_calibrated_is_zero() -> None:
    proba = np.tile([0.8, 0.2], (10, 1))
    y = np.array([0] * 8 + [1] * 2)  # 80% right at 80% confidence
    assert expected_calibration_error(y, proba) == pytest.approx(0.0, abs=1e-12)


def test_ece_overconfident_is_positive() -> None:
    proba = np.tile([0.99, 0.01], (10, 1))
    y = np.array([0, 1] * 5)  # 50% right at 99% confidence
    assert expected_calibration_error(y, proba) == pytest.approx(0.49)


def test_ece_empty_is_nan() -> None:
    assert math.isnan(expected_calibration_error(np.array([], dtype=int), np.zeros((0, 2))))


def test_overall_metrics() -> None:
    m = overall_metrics(Y, P, top_k=2, n_bins=2)
    assert set(m) == {"accuracy", "macro_f1", "weighted_f1", "top_2_accuracy", "ece", "n"}
    assert m["accuracy"] == pytest.approx(0.5)
    # per-class F1: class 0 = 2/3 (p .5, r 1), class 1 = 0, class 2 = .5 (p .5, r .5)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0 + 0.5) / 3)
    assert m["weighted_f1"] == pytest.approx((2 / 3 * 1 + 0 * 1 + 0.5 * 2) / 4)
    assert m["top_2_accuracy"] == pytest.approx(1.0)
    assert m["ece"] == pytest.approx(0.15)
    assert m["n"] == 4.0


def test_macro_f1_counts_classes_never_seen() -> None:
    y = np.array([0, 0])
    proba = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1]])
    m = overall_metrics(y, proba)
    assert m["accuracy"] == 1.0
    assert m["macro_f1"] == pytest.approx(1 / 3)  # labels are all classes, absent ones score 0


def test_per_class_metrics() -> None:
    pc = per_class_metrics(Y, P.argmax(axis=1), ["a", "b", "c"])
    assert pc["a"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert pc["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert pc["c"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})


def test_confusion() -> None:
    cm = confusion(Y, P.argmax(axis=1), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 0, 1], [1, 0, 1]]


def test_encode_labels_unknown_is_minus_one() -> None:
    assert encode_labels(["b", "zzz", "a"], ["a", "b"]).tolist() == [1, -1, 0]


def test_unknown_true_label_is_counted_wrong() -> None:
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]])
    report = evaluation_report(["a", "never-seen", "b"], proba, ["a", "b"], top_k=2)
    assert report["overall"]["accuracy"] == pytest.approx(2 / 3)
    assert report["overall"]["top_2_accuracy"] == pytest.approx(2 / 3)  # not even in the top k
    assert report["labels"] == ["a", "b"]
    assert report["per_class"]["a"]["support"] == 1
    assert report["confusion_matrix"] == [[1, 0], [0, 1]]


@pytest.mark.parametrize(("eval_batch_size", "batches"), [(4, [4, 4, 2]), (512, [10])])
def test_score_classifier_runs_train_eval_batch_size_papers_at_a_time(
    minilm: Callable[..., Any], eval_batch_size: int, batches: list[int]
) -> None:
    """The evaluator and the promoter score through this: the model sees batches of the configured size."""
    classifier = minilm(["vision", "language"])
    seen: list[int] = []
    classifier.model.register_forward_pre_hook(
        lambda _module, _args, kwargs: seen.append(len(kwargs["input_ids"])), with_kwargs=True
    )
    texts = [f"paper {i}: image segmentation with convolutional networks" for i in range(10)]
    truth = ["vision"] * 5 + ["language"] * 5
    train = TrainConfig.model_validate({"eval_batch_size": eval_batch_size})

    proba, report = score_classifier(
        classifier, texts, truth, EvaluationConfig.model_validate({"top_k": 1, "calibration_bins": 2}), train
    )

    assert seen == batches
    assert proba.shape == (10, 2) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert report["labels"] == ["vision", "language"] and report["overall"]["n"] == 10.0
    assert report["overall"]["accuracy"] == pytest.approx(float(np.mean(proba.argmax(axis=1) == [0] * 5 + [1] * 5)))


def test_prediction_metrics_match_sklearn_including_answers_outside_the_label_space() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(-1, 5, 300))  # some -1: a label we lack
    labels = np.arange(5)
    ours = prediction_metrics(y, pred, labels)
    assert ours["accuracy"] == pytest.approx(float(np.mean(pred == y)))
    for average in ("macro", "weighted"):
        expected = f1_score(y, pred, labels=labels, average=average, zero_division=0)
        assert ours[f"{average}_f1"] == pytest.approx(expected, abs=1e-12)


def test_prediction_metrics_never_count_an_unknown_truth_right() -> None:
    m = prediction_metrics(np.array([-1, 0]), np.array([-1, 0]), np.arange(2))
    assert m["accuracy"] == 0.5  # -1 == -1 is not a right answer


def test_per_class_changes() -> None:
    y = np.array([0, 0, 1, 1])
    changes = per_class_changes(y, np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["a", "b"])
    # production: a p 1 r .5 -> 2/3; b p 2/3 r 1 -> .8
    assert changes["a"] == pytest.approx({"support": 2, "candidate_f1": 1.0, "production_f1": 2 / 3, "delta_f1": 1 / 3})
    assert changes["b"]["delta_f1"] == pytest.approx(0.2)


@pytest.fixture
def tiny_test_split() -> pd.DataFrame:
    """Six test papers: 2024 and 2025, full and truncated abstracts, labels a / b."""
    cut = "x" * 999  # 999 characters, no full stop at the end: cut by the feed
    return pd.DataFrame(
        {
            "id": list("123456"),
            "text": ["T1\nFull one.", f"T2\n{cut}", "T3\nFull three.", f"T4\n{cut}", "T5\nFull five.", "T6\nShort."],
            "label": ["a", "b", "a", "b", "b", "a"],
            "split": ["test"] * 6,
            "date": pd.to_datetime(
                ["2024-02-01", "2024-05-01", "2024-12-31", "2025-01-01", "2025-03-01", "2025-06-01"]
            ),
        }
    )


def test_slices_of_year_and_abstract_source(tiny_test_split: pd.DataFrame) -> None:
    slices = slices_of(tiny_test_split)
    assert slices["year"] == ["2024", "2024", "2024", "2025", "2025", "2025"]
    assert slices["abstract"] == ["full", "truncated", "full", "truncated", "full", "full"]
    # The provenance column, when the dataset carries it, wins over the text's look.
    sidecar = slices_of(tiny_test_split.assign(abstract_truncated=[True, False, False, False, False, False]))
    assert sidecar["abstract"] == ["truncated", "full", "full", "full", "full", "full"]
    undated = slices_of(tiny_test_split.drop(columns="date"))
    assert set(undated) == {"abstract"}


def test_slice_metrics_by_year_and_truncation(tiny_test_split: pd.DataFrame) -> None:
    y = np.array([0, 1, 0, 1, 1, 0])  # a=0, b=1
    pred = np.array([0, 0, 0, 1, 1, 1])  # wrong on rows 2 (2024, truncated) and 6 (2025, full)
    slices = slices_of(tiny_test_split)
    by_year = slice_metrics(y, pred, slices["year"])
    assert list(by_year) == ["2024", "2025"]
    # 2024: truth a b a, pred a a a -> F1 a = 2*2/(2+3) = .8, b = 0
    assert by_year["2024"] == pytest.approx({"n": 3, "accuracy": 2 / 3, "macro_f1": 0.4})
    # 2025: truth b b a, pred b b b -> F1 b = 2*2/(2+3) = .8, a = 0
    assert by_year["2025"] == pytest.approx({"n": 3, "accuracy": 2 / 3, "macro_f1": 0.4})
    by_source = slice_metrics(y, pred, slices["abstract"])
    # truncated: truth b b, pred a b -> only b averaged (a is absent from the slice): F1 = 2*1/(2+1)
    assert by_source["truncated"] == pytest.approx({"n": 2, "accuracy": 0.5, "macro_f1": 2 / 3})
    # full: truth a a b a, pred a a b b -> F1 a = 2*2/(3+2)=.8, b = 2*1/(1+2)=2/3
    assert by_source["full"] == pytest.approx({"n": 4, "accuracy": 0.75, "macro_f1": (0.8 + 2 / 3) / 2})
