"""Drift check: the features of one model pass, the Evidently check, the reference sample.

No real data and no pretrained model: synthetic feature frames with clear drift / no drift, a small
CSV in tmp_path, and a tiny randomly initialised BERT on the offline MiniLM tokenizer. The verdict
and the gate rule are tested in test_drift_result.py, loading papers in test_papers.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arxiv_classifier.config import DriftConfig
from arxiv_classifier.data import DataError
from arxiv_classifier.drift import FEATURE_COLUMNS, model_features, reference_sample, run_drift_check
from arxiv_classifier.drift_result import DriftResult
from arxiv_classifier.papers import load_papers

LABELS = ["cs.CV", "cs.CL", "cs.LG", "cs.AI"]
N = 250  # rows per side of the synthetic checks (Evidently's t-SNE plot makes larger ones slow)


# --------------------------------------------------------------------------------------------
# Synthetic features
# --------------------------------------------------------------------------------------------


def _features(n: int, seed: int, shift: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Features like model_features returns; `shift` moves every one of them clearly."""
    rng = np.random.default_rng(seed)
    words = rng.normal(260 if shift else 180, 40, n).clip(20).round().astype(int)
    frame = pd.DataFrame(
        {
            "text_length": (words * rng.normal(6.5, 0.3, n)).round().astype(int),
            "word_count": words,
            "unk_rate": rng.beta(2, 400 if not shift else 60, n),
            "predicted_label": rng.choice(LABELS, n, p=[0.1, 0.2, 0.4, 0.3] if not shift else [0.5, 0.3, 0.1, 0.1]),
        }
    )
    emb = rng.normal(0.0, 1.0, (n, 24))
    if shift:
        emb[:, :4] += 0.8
    return frame, emb


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, np.ndarray]:
    return _features(N, seed=1, shift=False)


@pytest.fixture(scope="module")
def drifted_run(reference) -> tuple[DriftResult, str]:
    cur, cur_emb = _features(N, seed=2, shift=True)
    return run_drift_check(*reference, cur, cur_emb, DriftConfig())


@pytest.fixture(scope="module")
def stable_run(reference) -> tuple[DriftResult, str]:
    cur, cur_emb = _features(N, seed=3, shift=False)
    # The normalised Wasserstein distance of two samples of one distribution is ~0.15 at 250 rows
    # (~0.06 at 1000): the numeric threshold must sit above that noise.
    return run_drift_check(*reference, cur, cur_emb, DriftConfig(numeric_threshold=0.3))


def test_clear_drift_blocks(drifted_run) -> None:
    result, report_html = drifted_run
    assert [c.name for c in result.checks] == [*FEATURE_COLUMNS, "embedding"]
    assert all(c.drifted for c in result.checks), result.checks
    assert result.drifted_share == 1.0
    assert not result.passed and result.blocked and result.status == "BLOCKED"
    assert result.error is None
    assert (result.reference_rows, result.current_rows) == (N, N)
    assert "<html" in report_html.lower() and len(report_html) > 10_000  # Evidently's own report


def test_no_drift_passes(stable_run) -> None:
    result, _ = stable_run
    assert not any(c.drifted for c in result.checks), result.checks
    assert result.passed and not result.blocked and result.status == "PASSED"
    by_name = {c.name: c for c in result.checks}
    assert by_name["embedding"].score < 0.55
    assert by_name["predicted_label"].kind == "categorical"
    assert by_name["predicted_label"].method == "jensenshannon"
    assert by_name["text_length"].method == "wasserstein"


def test_scores_follow_configured_methods_and_thresholds(reference) -> None:
    cfg = DriftConfig(
        numeric_stattest="ks", numeric_threshold=0.01, categorical_threshold=0.5, embedding_threshold=0.99
    )
    cur, cur_emb = _features(N, seed=2, shift=True)
    result, _ = run_drift_check(*reference, cur, cur_emb, cfg)
    by_name = {c.name: c for c in result.checks}
    # ks gives p-values: drift is a p-value *below* the threshold.
    assert by_name["word_count"].method == "ks" and by_name["word_count"].score < 0.01
    assert by_name["word_count"].drifted
    assert not by_name["predicted_label"].drifted and by_name["predicted_label"].threshold == 0.5
    assert not by_name["embedding"].drifted  # AUC below 0.99


def test_unknown_stattest_raises(reference) -> None:
    cur, cur_emb = _features(100, seed=4, shift=False)
    with pytest.raises(Exception, match="no_such_test"):
        run_drift_check(*reference, cur, cur_emb, DriftConfig(numeric_stattest="no_such_test"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f, e: (f.drop(columns=["unk_rate"]), e), r"lack column\(s\) \['unk_rate'\]"),
        (lambda f, e: (f.head(10), e[:10]), "at least 30"),
        (lambda f, e: (f, e[:-1]), "embeddings have shape"),
    ],
    ids=["missing-column", "too-few-rows", "embedding-rows"],
)
def test_bad_inputs_are_data_errors(reference, mutate, message: str) -> None:
    cur, cur_emb = mutate(*_features(100, seed=5, shift=False))
    with pytest.raises(DataError, match=message):
        run_drift_check(*reference, cur, cur_emb, DriftConfig())


def test_static_summaries(stable_run, drifted_run) -> None:
    for result in (stable_run[0], drifted_run[0]):
        page = result.summary_html()
        assert "<script" not in page.lower() and not re.search(r"\son\w+=", page)
        assert f">{result.status}</span>" in page
        assert f"Reference rows: <b>{N}</b>" in page and "Feature means" in page
        for name in (*FEATURE_COLUMNS, "embedding"):
            assert f'<td style="border:1px solid #d0d7de;padding:4px 8px;text-align:left">{name}</td>' in page
    assert "model (ROC AUC, 24 dims)" in drifted_run[0].summary_html()  # every embedding dimension is checked


# --------------------------------------------------------------------------------------------
# The two samples
# --------------------------------------------------------------------------------------------


def test_reference_and_current_samples_are_independent(tmp_path: Path) -> None:
    """When the current papers are the training population itself, the two sides are not the same rows."""
    n, k = 400, 100
    papers = pd.DataFrame(
        {"id": [f"p{i}" for i in range(n)], "title": [f"Paper {i}" for i in range(n)], "summary": ["An abstract."] * n}
    )
    papers.to_csv(tmp_path / "papers.csv", index=False)
    cfg = DriftConfig.model_validate(
        {"max_reference_rows": k, "current": {"source": str(tmp_path / "papers.csv"), "max_rows": k}}
    )
    reference = set(reference_sample(papers, cfg)["id"])
    current = set(load_papers(cfg.current)["id"])
    assert len(reference) == len(current) == k
    # Independent draws of k of n rows share k*k/n = 25 rows on average (sd ~3.8); one seed would share all k.
    assert 10 <= len(reference & current) <= 40
    # The reference seed alone moves the reference sample.
    again = DriftConfig.model_validate({**cfg.model_dump(), "reference_seed": cfg.reference_seed + 1})
    assert set(reference_sample(papers, again)["id"]) != reference


def test_one_seed_for_both_samples_is_refused() -> None:
    with pytest.raises(ValueError, match=r"reference_seed and drift\.current\.seed are both 7"):
        DriftConfig.model_validate({"reference_seed": 7, "current": {"seed": 7}})
    assert DriftConfig().reference_seed != DriftConfig().current.seed


# --------------------------------------------------------------------------------------------
# One model pass (conftest's tiny random BERT on the offline MiniLM tokenizer; no pretrained weights)
# --------------------------------------------------------------------------------------------


def test_model_features_one_pass(tiny_classifier) -> None:  # type: ignore[no-untyped-def]
    texts = [
        "a much longer paper title about convolutional networks and images and more words here",
        "short",
        "🦜 parrot ☃",
        "medium length text about language",
        "",
    ]
    features, probs, emb = model_features(tiny_classifier, texts, batch_size=2)
    assert list(features.columns) == list(FEATURE_COLUMNS)
    assert features["text_length"].tolist() == [len(t) for t in texts]
    assert features["word_count"].tolist() == [len(t.split()) for t in texts]
    # 2 of the 3 non-special tokens of the emoji text are [UNK]; the empty text has no tokens
    assert features["unk_rate"].tolist() == pytest.approx([0.0, 0.0, 2 / 3, 0.0, 0.0])
    assert probs.shape == (5, len(LABELS)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert features["predicted_label"].tolist() == [LABELS[i] for i in probs.argmax(axis=1)]
    # same order and same numbers as the classifier's own prediction path
    np.testing.assert_allclose(probs, tiny_classifier.predict_proba(texts, batch_size=2), atol=1e-5)
    assert emb.shape == (5, 16) and np.isfinite(emb).all()
    # mean pooling ignores padding: a text scored alone gets the same embedding
    _, _, alone = model_features(tiny_classifier, [texts[0]], batch_size=1)
    np.testing.assert_allclose(alone[0], emb[0], atol=1e-5)
    _, _, alone = model_features(tiny_classifier, [texts[1]], batch_size=1)
    np.testing.assert_allclose(alone[0], emb[1], atol=1e-5)


def test_model_features_empty_input(tiny_classifier) -> None:  # type: ignore[no-untyped-def]
    features, probs, emb = model_features(tiny_classifier, [])
    assert len(features) == 0 and probs.shape == (0, len(LABELS)) and emb.shape[0] == 0
