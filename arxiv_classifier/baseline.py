"""TF-IDF + logistic regression baseline, trained and scored on the same split as the transformer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from arxiv_classifier.config import BaselineConfig


def build_baseline(cfg: BaselineConfig, seed: int = 42) -> Pipeline:
    return Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    ngram_range=(1, cfg.ngram_max),
                    max_features=cfg.max_features,
                    sublinear_tf=True,
                    lowercase=True,
                    min_df=1,
                ),
            ),
            ("clf", LogisticRegression(C=cfg.c, max_iter=1000, random_state=seed)),
        ]
    )


def train_baseline(texts: Sequence[str], labels: Sequence[str], cfg: BaselineConfig, seed: int = 42) -> Pipeline:
    """Fit the baseline; labels are strings so the pipeline predicts label names."""
    model = build_baseline(cfg, seed)
    model.fit(list(texts), list(labels))
    vectorizer = model.named_steps["tfidf"]
    if getattr(vectorizer, "stop_words_", None) is not None:
        vectorizer.stop_words_ = None  # only introspection; can be large (sklearn's own advice)
    return model


def baseline_proba(model: Pipeline, texts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Probabilities in the order of `labels` (classes the baseline never saw get 0)."""
    raw = model.predict_proba(list(texts))
    classes = list(model.classes_)
    out = np.zeros((len(texts), len(labels)), dtype=np.float64)
    for j, label in enumerate(labels):
        if label in classes:
            out[:, j] = raw[:, classes.index(label)]
    return out
