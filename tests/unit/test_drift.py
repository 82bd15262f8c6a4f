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
from arxiv_classifier.drift import (
    FEATURE_COLUMNS,
    WINDOW_STATTEST,
    model_features,
    reference_sample,
    run_drift_check,
    token_window,
)
from arxiv_classifier.drift_result import DriftResult
from arxiv_classifier.papers import load_papers

LABELS = ["cs.CV", "cs.CL", "cs.LG", "cs.AI"]
N = 250  # rows per side of the synthetic checks (Evidently's t-SNE plot makes larger ones slow)
WINDOW = 126  # tokens the synthetic model reads (max_length 128 less [CLS] and [SEP])


# --------------------------------------------------------------------------------------------
# Synthetic features
# --------------------------------------------------------------------------------------------


def _features(n: int, seed: int, shift: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Features like model_features returns; `shift` moves every one of them clearly."""
    rng = np.random.default_rng(seed)
    # Like arXiv abstracts at 128 tokens: most fill the window; the shifted texts are far shorter.
    tokens = rng.normal(70 if shift else 160, 40, n).clip(5, WINDOW).round().astype(int)
    frame = pd.DataFrame(
        {
            "token_count": tokens,
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
    return run_drift_check(*reference, cur, cur_emb, DriftConfig(), window=WINDOW)


@pytest.fixture(scope="module")
def stable_run(reference) -> tuple[DriftResult, str]:
    cur, cur_emb = _features(N, seed=3, shift=False)
    # The normalised Wasserstein distance of two samples of one distribution is ~0.15 at 250 rows
    # (~0.06 at 1000): the numeric threshold must sit above that noise.
    return run_drift_check(*reference, cur, cur_emb, DriftConfig(numeric_threshold=0.3), window=WINDOW)


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
    assert by_name["unk_rate"].method == "wasserstein"
    assert by_name["token_count"].method == WINDOW_STATTEST and by_name["token_count"].threshold == 0.05


def test_scores_follow_configured_methods_and_thresholds(reference) -> None:
    cfg = DriftConfig(
        numeric_stattest="ks", numeric_threshold=0.01, categorical_threshold=0.5, embedding_threshold=0.99
    )
    cur, cur_emb = _features(N, seed=2, shift=True)
    result, _ = run_drift_check(*reference, cur, cur_emb, cfg, window=WINDOW)
    by_name = {c.name: c for c in result.checks}
    # ks gives p-values: drift is a p-value *below* the threshold.
    assert by_name["unk_rate"].method == "ks" and by_name["unk_rate"].score < 0.01
    assert by_name["unk_rate"].drifted
    assert not by_name["predicted_label"].drifted and by_name["predicted_label"].threshold == 0.5
    assert not by_name["embedding"].drifted  # AUC below 0.99


def test_unknown_stattest_raises(reference) -> None:
    cur, cur_emb = _features(100, seed=4, shift=False)
    with pytest.raises(Exception, match="no_such_test"):
        run_drift_check(*reference, cur, cur_emb, DriftConfig(numeric_stattest="no_such_test"), window=WINDOW)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f, e: (f.drop(columns=["unk_rate"]), e), r"lack column\(s\) \['unk_rate'\]"),
        (lambda f, e: (f.head(10), e[:10]), "at least 30"),
        (lambda f, e: (f, e[:-1]), "embeddings have shape"),
        # features of a model that reads more tokens than this one: not comparable
        (
            lambda f, e: (f.assign(token_count=f["token_count"] + 10), e),
            "a text of 136 tokens but the model reads at most 126",
        ),
    ],
    ids=["missing-column", "too-few-rows", "embedding-rows", "longer-window"],
)
def test_bad_inputs_are_data_errors(reference, mutate, message: str) -> None:
    cur, cur_emb = mutate(*_features(100, seed=5, shift=False))
    with pytest.raises(DataError, match=message):
        run_drift_check(*reference, cur, cur_emb, DriftConfig(), window=WINDOW)


def test_token_count_is_measured_in_window_units() -> None:
    """Texts that nearly all fill the window: a few short ones are a small move, not a division by ~0.

    Evidently's `wasserstein` divides by the reference's standard deviation, here 0 (every text fills
    the window), so 3 short texts in 300 scored 1000+ and tripped the check; in window units they move
    the token counts by 3/300 * (126 - 20) / 126 = 0.0084.
    """
    n = 300
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"token_count": np.full(n, WINDOW), "unk_rate": 0.0, "predicted_label": rng.choice(LABELS, n)})
    cur = ref.assign(token_count=np.r_[np.full(3, 20), np.full(n - 3, WINDOW)], predicted_label=rng.choice(LABELS, n))
    emb = rng.normal(0.0, 1.0, (2 * n, 8))
    result, _ = run_drift_check(ref, emb[:n], cur, emb[n:], DriftConfig(), window=WINDOW)
    token = next(c for c in result.checks if c.name == "token_count")
    assert token.score == pytest.approx(3 / n * (WINDOW - 20) / WINDOW) and not token.drifted
    assert result.column_means["truncated"] == {"reference": 1.0, "current": (n - 3) / n}
    # The same counts against a window twice as long move half as far: the score is a share of the window.
    wide, _ = run_drift_check(ref, emb[:n], cur, emb[n:], DriftConfig(), window=2 * WINDOW)
    assert next(c for c in wide.checks if c.name == "token_count").score == pytest.approx(token.score / 2)
    assert wide.column_means["truncated"] == {"reference": 0.0, "current": 0.0} and wide.token_window == 2 * WINDOW


def test_static_summaries(stable_run, drifted_run) -> None:
    for result in (stable_run[0], drifted_run[0]):
        page = result.summary_html()
        assert "<script" not in page.lower() and not re.search(r"\son\w+=", page)
        assert f">{result.status}</span>" in page
        assert f"Reference rows: <b>{N}</b>" in page and "Feature means" in page
        assert f"reads at most <b>{WINDOW}</b> tokens" in page and "truncated (share filling the window)" in page
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
    dataset = papers.assign(split="validation")
    reference = set(reference_sample(dataset, cfg)["id"])
    current = set(load_papers(cfg.current)["id"])
    assert len(reference) == len(current) == k
    # Independent draws of k of n rows share k*k/n = 25 rows on average (sd ~3.8); one seed would share all k.
    assert 10 <= len(reference & current) <= 40
    # The reference seed alone moves the reference sample.
    again = DriftConfig.model_validate({**cfg.model_dump(), "reference_seed": cfg.reference_seed + 1})
    assert set(reference_sample(dataset, again)["id"]) != reference


def test_reference_is_the_configured_split_of_the_version() -> None:
    """Validation by default: the newest papers the version was fitted on, not its whole training window."""
    dataset = pd.DataFrame(
        {"id": [f"p{i}" for i in range(300)], "split": ["train"] * 200 + ["validation"] * 60 + ["test"] * 40}
    )
    assert set(reference_sample(dataset, DriftConfig())["split"]) == {"validation"}
    assert len(reference_sample(dataset, DriftConfig())) == 60
    train = reference_sample(dataset, DriftConfig(reference_split="train", max_reference_rows=50))
    assert set(train["split"]) == {"train"} and len(train) == 50
    # too few papers for a check: refused with the split sizes and what to set, never a silent fallback
    tiny = dataset.assign(split=["train"] * 290 + ["test"] * 10)
    with pytest.raises(DataError, match=r"'validation' split has 0 papers.*'train': 290.*drift\.reference_split"):
        reference_sample(tiny, DriftConfig())


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
    # Tokens the model reads: max_length 16 less [CLS] and [SEP] caps the long title at 14; the
    # [UNK]s of the emoji text are tokens it reads; the empty text has none.
    assert token_window(tiny_classifier) == 14
    assert features["token_count"].tolist() == [14, 1, 3, 5, 0]
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


def test_token_count_is_what_the_model_reads(tiny_classifier) -> None:  # type: ignore[no-untyped-def]
    """The encoding the model is fed, less [CLS]/[SEP]/padding: capped at the window, whatever the batch."""
    from arxiv_classifier.modeling import encode

    texts = ["word " * n for n in (0, 1, 13, 14, 15, 40, 400)]
    features, _, _ = model_features(tiny_classifier, texts, batch_size=3)
    assert features["token_count"].tolist() == [0, 1, 13, 14, 14, 14, 14]
    enc = encode(tiny_classifier.tokenizer, texts, tiny_classifier.max_length)
    specials = tiny_classifier.tokenizer.num_special_tokens_to_add()
    assert features["token_count"].tolist() == (enc["attention_mask"].sum(dim=1) - specials).tolist()


def test_text_beyond_the_window_is_no_drift(tiny_classifier) -> None:  # type: ignore[no-untyped-def]
    """Abstracts cut at 1,000 characters (the feed) against full ones: the model reads the same tokens.

    Measured in characters or words, the cut abstracts drifted (0.63 on arXiv, README); the model
    reads only the first 14 tokens of both, so nothing it consumes moved and the gate passes.
    """
    rng = np.random.default_rng(0)
    vocab = ["graph", "neural", "image", "proof", "model", "data", "field", "robot", "quantum", "learning"]
    full = [" ".join(rng.choice(vocab, 300)) for _ in range(40)]
    cut = [t[:1000] for t in full]
    assert np.mean([len(t) for t in full]) > 1900 and max(len(t) for t in cut) == 1000
    ref, _, ref_emb = model_features(tiny_classifier, full)
    cur, _, cur_emb = model_features(tiny_classifier, cut)
    result, _ = run_drift_check(ref, ref_emb, cur, cur_emb, DriftConfig(), window=token_window(tiny_classifier))
    assert result.passed and not result.drifted_checks, result.checks
    token = next(c for c in result.checks if c.name == "token_count")
    assert token.score == 0.0 and result.column_means["token_count"] == {"reference": 14.0, "current": 14.0}
    assert result.column_means["truncated"] == {"reference": 1.0, "current": 1.0}
