"""TF-IDF + logistic regression baseline on a tiny separable corpus."""

from __future__ import annotations

import numpy as np
import pytest

from arxiv_classifier.baseline import baseline_proba, build_baseline, train_baseline
from arxiv_classifier.config import BaselineConfig

TEXTS = [
    "quantum qubit entanglement decoherence",
    "qubit gates quantum circuit",
    "entanglement of quantum states",
    "neural network gradient training",
    "deep neural network layers",
    "gradient descent training loss",
    "galaxy telescope redshift survey",
    "telescope observations of a galaxy",
    "redshift of distant galaxy clusters",
]
LABELS = ["quant-ph"] * 3 + ["cs.LG"] * 3 + ["astro-ph"] * 3
CFG = BaselineConfig(max_features=1000)


@pytest.fixture(scope="module")
def model():
    return train_baseline(TEXTS, LABELS, CFG, seed=0)


def test_build_baseline_uses_config() -> None:
    pipe = build_baseline(BaselineConfig(ngram_max=3, max_features=500, c=0.5), seed=7)
    tfidf, clf = pipe.named_steps["tfidf"], pipe.named_steps["clf"]
    assert tfidf.ngram_range == (1, 3) and tfidf.max_features == 500
    assert clf.C == 0.5 and clf.random_state == 7


def test_predicts_label_names_on_unseen_texts(model) -> None:
    queries = ["a quantum qubit experiment", "training a neural network", "a galaxy survey with a telescope"]
    assert list(model.predict(queries)) == ["quant-ph", "cs.LG", "astro-ph"]
    assert list(model.predict(TEXTS)) == LABELS


def test_proba_columns_follow_given_labels(model) -> None:
    labels = ["cs.LG", "never-seen", "astro-ph", "quant-ph"]
    proba = baseline_proba(model, ["quantum qubit", "neural network"], labels)
    assert proba.shape == (2, 4)
    assert np.all(proba[:, 1] == 0.0)  # a class the baseline never saw
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert labels[int(proba[0].argmax())] == "quant-ph"
    assert labels[int(proba[1].argmax())] == "cs.LG"
    # the same numbers as the model's own column order, permuted
    raw = model.predict_proba(["quantum qubit", "neural network"])
    for j, label in enumerate(labels):
        if label in model.classes_:
            np.testing.assert_allclose(proba[:, j], raw[:, list(model.classes_).index(label)])


def test_proba_subset_of_labels(model) -> None:
    proba = baseline_proba(model, ["galaxy"], ["astro-ph"])
    assert proba.shape == (1, 1) and 0.5 < proba[0, 0] <= 1.0


def test_training_is_deterministic() -> None:
    a = baseline_proba(train_baseline(TEXTS, LABELS, CFG, seed=1), ["qubit galaxy"], sorted(set(LABELS)))
    b = baseline_proba(train_baseline(TEXTS, LABELS, CFG, seed=1), ["qubit galaxy"], sorted(set(LABELS)))
    np.testing.assert_array_equal(a, b)
