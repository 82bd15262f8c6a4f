"""The drift gate on real arXiv papers, with the real encoder and the default thresholds.

The model stands in for the default 1990-2022 version: the offline MiniLM encoder, frozen, with its
classification head fitted (logistic regression on the pooled output) on 1,000 papers before 2023 of
the default top-10 labels, and the default 128-token window. Reference: 1,000 other papers of that
era and those labels. It must block recent unlabelled traffic (`unlabelled.csv.gz`) and pass a
disjoint sample of the same era. With the gate's own sides (reference: the version's validation year,
2023; traffic: the newest 3 months arXiv announced) it must block today's papers and pass 2023's.
The length check counts the tokens the model reads, so the feed's abstracts cut at 1,000 characters
(the model reads 126 tokens of either) are no drift of their own: the predicted-label mix and the
embeddings carry the block.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from arxiv_classifier.config import CurrentDataConfig, DataConfig, DriftConfig, resolve_papers_source
from arxiv_classifier.constants import OFFLINE_MINILM_ID
from arxiv_classifier.data import label_space
from arxiv_classifier.drift import model_features, run_drift_check, token_window
from arxiv_classifier.papers import load_papers
from tests.conftest import ARXIV, DATA_DIR, requires_arxiv

if TYPE_CHECKING:
    from arxiv_classifier.classifier import TextClassifier

pytestmark = [pytest.mark.slow, pytest.mark.data, requires_arxiv]

N = 1000
UNLABELLED = DATA_DIR / "arxiv" / "unlabelled.csv.gz"


def arxiv_window(start: str | None = None, end: str | None = None, **fields: object) -> CurrentDataConfig:
    """Every labelled arXiv paper of [start, end), with full abstracts, as `load_papers` reads them."""
    data = DataConfig()
    return CurrentDataConfig(
        source=str(ARXIV),
        strip_pattern=None,
        date_field=data.date_field,
        start=date.fromisoformat(start) if start else None,
        end=date.fromisoformat(end) if end else None,
        max_rows=None,
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def era_papers() -> tuple[list[str], pd.DataFrame]:
    """(the default run's label space, 2N papers of the training era with those labels, N others to fit the head)."""
    data = DataConfig()
    era = load_papers(arxiv_window(end=data.split.train_end, label_field=data.label_field))
    labels = label_space(era["label"], data.top_n_labels)
    era = era[era["label"].isin(labels)]
    checked = era.sample(n=2 * N, random_state=7).reset_index(drop=True)
    training = era[~era["id"].isin(checked["id"])].sample(n=N, random_state=3).reset_index(drop=True)
    return labels, checked, training


def fit_head(classifier: TextClassifier, papers: pd.DataFrame) -> None:
    """Fit the classification head on the frozen encoder: logistic regression on its pooled output.

    A few minutes of CPU instead of `make train`'s fine-tuning, and enough for the drift check: its
    predicted labels come from a classifier of the training era (same-era accuracy ~0.66).
    """
    import torch
    from sklearn.linear_model import LogisticRegression

    from arxiv_classifier.modeling import encode

    model, texts = classifier.model.eval(), papers["text"].tolist()
    with torch.no_grad():
        pooled = np.concatenate(
            [
                model.base_model(
                    **encode(classifier.tokenizer, texts[i : i + 64], classifier.max_length)
                ).pooler_output.numpy()
                for i in range(0, len(texts), 64)
            ]
        )
    y = papers["label"].map(classifier.labels.index).to_numpy()
    assert set(y) == set(range(len(classifier.labels)))  # every label has training papers
    head = LogisticRegression(C=1.0, max_iter=2000).fit(pooled, y)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(head.coef_, dtype=torch.float32))
        model.classifier.bias.copy_(torch.as_tensor(head.intercept_, dtype=torch.float32))


@pytest.fixture(scope="module")
def features(era_papers):  # type: ignore[no-untyped-def]
    if not UNLABELLED.is_file():
        pytest.skip(f"{UNLABELLED} not found")
    from arxiv_classifier.modeling import build_classifier

    labels, era, training = era_papers
    current = load_papers(resolve_papers_source(CurrentDataConfig(max_rows=N)), labels)
    assert len(current) == N
    assert not current["summary"].str.contains("Announce Type:").any()  # the RSS preamble is stripped
    assert current["summary"].str.len().max() <= 1000  # the feed's abstracts are cut at 1,000 characters
    classifier = build_classifier(OFFLINE_MINILM_ID, labels, max_length=128)
    fit_head(classifier, training)
    texts = [*era["text"], *current["text"]]
    frame, _, emb = model_features(classifier, texts, batch_size=DriftConfig().batch_size)
    # A classifier of the era, not a random head: it gets most same-era papers right.
    assert (frame["predicted_label"].iloc[: N * 2].to_numpy() == era["label"].to_numpy()).mean() > 0.5
    parts = {"reference": slice(0, N), "same_era": slice(N, 2 * N), "unlabelled": slice(2 * N, 3 * N)}
    sides = {name: (frame.iloc[s].reset_index(drop=True), emb[s]) for name, s in parts.items()}
    return sides, token_window(classifier), classifier


@pytest.fixture(scope="module")
def gate_sides(features):  # type: ignore[no-untyped-def]
    """The gate's own sides for the default version: its validation year (2023) and today's traffic.

    Reference: N papers of 2023 (`configs/train.yaml`'s validation split, the gate's `reference_split`);
    today's traffic: N papers of the newest 3 months arXiv announced, as `configs/deploy.yaml` reads them;
    and N other papers of 2023, which the gate must pass.
    """
    _, window, classifier = features
    split = DataConfig().split
    year = arxiv_window(split.train_end, split.test_start)
    validation_year = load_papers(year).sample(n=2 * N, random_state=11)
    newest = load_papers(year.model_copy(update={"start": None, "end": None, "newest_months": 3, "max_rows": N}))
    assert newest["date"].min() > pd.Timestamp("2026-01-01")
    texts = [*validation_year["text"], *newest["text"]]
    frame, _, emb = model_features(classifier, texts, batch_size=DriftConfig().batch_size)
    parts = {"reference": slice(0, N), "same_year": slice(N, 2 * N), "newest": slice(2 * N, 3 * N)}
    return {name: (frame.iloc[s].reset_index(drop=True), emb[s]) for name, s in parts.items()}, window


def test_recent_traffic_is_blocked(features) -> None:  # type: ignore[no-untyped-def]
    sides, window, _ = features
    result, report_html = run_drift_check(*sides["reference"], *sides["unlabelled"], DriftConfig(), window=window)
    assert result.blocked and not result.passed, result.checks
    by_name = {c.name: c for c in result.checks}
    assert by_name["embedding"].drifted and by_name["predicted_label"].drifted
    assert result.drifted_share >= DriftConfig().max_drifted_share
    # The feed's shorter abstracts (cut at 1,000 characters) fill the model's window about as often as
    # the era's: what the model reads did not move, so the token check does not drift.
    assert window == 126 and not by_name["token_count"].drifted
    assert by_name["token_count"].score < DriftConfig().token_threshold / 2
    truncated = result.column_means["truncated"]
    assert truncated["reference"] > 0.85 and truncated["current"] > 0.85
    assert "<script" not in result.summary_html() and len(report_html) > 100_000


def test_same_era_sample_passes(features) -> None:  # type: ignore[no-untyped-def]
    sides, window, _ = features
    result, _ = run_drift_check(*sides["reference"], *sides["same_era"], DriftConfig(), window=window)
    assert result.passed and not result.blocked, result.checks
    # Topic, label mix and length are stable: no check drifts (same-era noise at 1,000 papers, README:
    # token count <= 0.009 of the window against a threshold of 0.05).
    assert not result.drifted_checks, result.checks
    assert np.isfinite([c.score for c in result.checks]).all()


def test_gate_blocks_todays_traffic_against_the_validation_year(gate_sides) -> None:  # type: ignore[no-untyped-def]
    """The gate's default sides: the 1990-2022 version (validated on 2023) is blocked on today's papers."""
    sides, window = gate_sides
    result, _ = run_drift_check(*sides["reference"], *sides["newest"], DriftConfig(), window=window)
    assert result.blocked, result.checks
    by_name = {c.name: c for c in result.checks}
    assert by_name["embedding"].drifted and by_name["predicted_label"].drifted


def test_gate_passes_another_sample_of_the_validation_year(gate_sides) -> None:  # type: ignore[no-untyped-def]
    sides, window = gate_sides
    result, _ = run_drift_check(*sides["reference"], *sides["same_year"], DriftConfig(), window=window)
    assert result.passed and not result.drifted_checks, result.checks
