"""Dataset card (HTML), model card (Markdown), the confusion-matrix PNG and the promotion report (HTML)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from arxiv_classifier.data import prepare_dataset
from arxiv_classifier.promotion import candidate_slices, compare_versions, compare_with_baseline, decide_promotion
from arxiv_classifier.reports import (
    confusion_matrix_png,
    dataset_card_html,
    model_card_markdown,
    promotion_report_html,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def prepared(dated_papers, data_cfg):
    raw = pd.concat([dated_papers, dated_papers.iloc[[3]]], ignore_index=True)  # one duplicate id
    return prepare_dataset(raw, data_cfg())


def _cell(html: str, row: str, value: str) -> bool:
    """True if the table row headed `row` has `value` as its first cell."""
    return re.search(rf'<td class="l">{re.escape(row)}</td><td>{re.escape(value)}[ <]', html) is not None


def test_dataset_card_contents(prepared) -> None:
    meta = prepared.metadata()
    card = dataset_card_html(prepared.frame, meta, title="arXiv <test>")
    assert "<h2>arXiv &lt;test&gt;</h2>" in card  # escaped
    assert meta["content_hash"] in card
    assert "30 rows · 2 labels" in card
    # rows per split
    for split in ("train", "validation", "test"):
        assert _cell(card, split, "10")
    # rows per class and split: cs.CV has 5 in each split
    assert re.search(r'<td class="l">cs\.CV</td><td>5</td><td>5</td><td>5</td><td>15 ', card)
    # per-year table
    assert "<h3>Rows per year</h3>" in card
    for year, cells in (("2021", "10 0 0"), ("2023", "0 10 0"), ("2025", "0 0 10")):
        row = "".join(f"<td>{c}</td>" for c in cells.split())
        assert re.search(rf'<td class="l">{year}</td>{row}<td>10 ', card), year
    # validation: rows read, kept, and why rows were dropped
    assert "31 rows read, 30 kept." in card
    assert _cell(card, "duplicate_id", "1")


def test_dataset_card_without_dates_or_drops(prepared) -> None:
    frame = prepared.frame.drop(columns=["date"])
    meta = {**prepared.metadata(), "validation": {"rows_in": 1234, "rows_out": 1234, "dropped": {}}}
    card = dataset_card_html(frame, meta)
    assert "Rows per year" not in card
    assert "1,234 rows read, 1,234 kept." in card
    assert "rows dropped" not in card


def _model_card(baseline: dict[str, float] | None) -> str:
    return model_card_markdown(
        model_name="arxiv-classifier",
        version="7",
        base_model="sentence-transformers/all-MiniLM-L6-v2",
        labels=["cs.CV", "cs.LG"],
        dataset_meta={
            "content_hash": "abcdef0123456789ffff",
            "rows_train": 100,
            "rows_validation": 20,
            "rows_test": 40,
        },
        train_params={"epochs": 1, "learning_rate": 0.0001},
        test_metrics={"accuracy": 0.8125, "macro_f1": 0.75, "n": 40.0},
        baseline_metrics=baseline,
        per_class={
            "cs.CV": {"precision": 0.9, "recall": 0.8, "f1": 0.847, "support": 25},
            "cs.LG": {"precision": 0.7, "recall": 0.6667, "f1": 0.6829, "support": 15},
        },
    )


def test_model_card_contents() -> None:
    card = _model_card({"accuracy": 0.7, "macro_f1": 0.65})
    assert card.startswith("# Model card: arxiv-classifier (version 7)")
    assert "one of 2 labels:\n`cs.CV`, `cs.LG`." in card
    assert "| accuracy | 0.8125 | 0.7000 |" in card
    assert "| macro_f1 | 0.7500 | 0.6500 |" in card
    assert "| n |" not in card
    assert "| `cs.CV` | 0.900 | 0.800 | 0.847 | 25 |" in card
    assert "| `cs.LG` | 0.700 | 0.667 | 0.683 | 15 |" in card
    assert "`abcdef0123456789…`: 100 train" in card
    assert "epochs=1, learning_rate=0.0001" in card


def test_model_card_without_baseline() -> None:
    card = _model_card(None)
    assert "| accuracy | 0.8125 | – |" in card


@pytest.mark.parametrize("n_labels", [3, 35])
def test_confusion_matrix_png(n_labels: int) -> None:
    labels = [f"label{i}" for i in range(n_labels)]
    matrix = [[(i + j) % 4 for j in range(n_labels)] for i in range(n_labels)]
    matrix[0] = [0] * n_labels  # an empty row must not divide by zero
    png = confusion_matrix_png(matrix, labels, "test split")
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 1000


def _promotion_record(test: str) -> dict:  # type: ignore[type-arg]
    """A decision as `model_promoter` records it, from real predictions (production lacks `c`, has `d`)."""
    truth = ["a", "b", "c", "c"] * 10
    candidate = ["a", "b", "c", "c"] * 9 + ["b", "b", "c", "c"]
    production = ["a", "b", "d", "a"] * 10
    slices = {"year": ["2024", "2025"] * 20, "abstract": ["full"] * 30 + ["truncated"] * 10}
    comparison = compare_versions(
        truth,
        candidate,
        ["a", "b", "c"],
        production,
        ["a", "b", "d"],
        slices,
        metric="accuracy",
        test=test,  # type: ignore[arg-type]
    )
    decision = decide_promotion(
        "accuracy", {"accuracy": 39 / 40}, comparison.production_metrics, {"accuracy": 0.6}, 0.0, comparison.test
    )
    return {
        **decision.as_dict(),
        "stage": "production",
        "candidate_version": 3,
        "previous_version": 2,
        "test_rows": 40,
        **comparison.as_dict(),
    }


def test_promotion_report_shows_test_label_spaces_classes_and_slices() -> None:
    report = promotion_report_html(_promotion_record("mcnemar"), title="Promotion <v3>")
    assert "<h2>Promotion &lt;v3&gt;</h2>" in report
    assert "PROMOTED</b> to production (candidate version 3, production version 2; 40 test rows)" in report
    assert "the difference is significant: McNemar exact" in report
    # b = 1 (the a-row the candidate calls b), c = 20 (every c-row): p = 2 * (1 + 21) / 2**21
    assert _cell(report, "c: only candidate right", "20")
    assert _cell(report, "b: only production right", "1")
    assert _cell(report, "p-value", f"{44 / 2**21:.4g}")
    assert "Production lacks: c (it cannot answer those papers right)." in report
    assert "Candidate lacks: d (production answered with one of them on 10 test rows, counted wrong)." in report
    # per class: support, candidate F1, production F1 (0: it cannot say c), change
    assert re.search(r'<td class="l">c</td><td>20</td><td>1\.000</td><td>0\.000</td><td>\+1\.000</td>', report)
    assert "<h3>By year</h3>" in report and "<h3>By abstract</h3>" in report
    assert re.search(r'<td class="l">truncated</td><td>10</td><td>0\.900</td>', report)
    assert "Against the baseline" not in report  # no baseline test recorded


def test_promotion_report_shows_the_test_against_the_baseline() -> None:
    truth = ["a", "b", "c", "c"] * 10
    candidate = ["a", "b", "c", "c"] * 9 + ["b", "b", "c", "c"]
    baseline = ["a", "b", "c", "a"] * 10
    test = compare_with_baseline(truth, candidate, baseline, ["a", "b", "c"], metric="accuracy", test="mcnemar")
    assert test is not None
    record = {**_promotion_record("mcnemar"), "baseline_rule": "not_worse", "baseline_test": test.as_dict()}
    report = promotion_report_html(record)
    assert "<h3>Against the baseline (promotion.baseline_rule: not_worse)</h3>" in report
    assert _cell(report, "b: only baseline right", "1") and _cell(report, "c: only candidate right", "10")
    assert _cell(report, "difference (candidate - baseline)", "+0.2250")


def test_promotion_report_of_a_bootstrap_and_of_a_first_version() -> None:
    boot = promotion_report_html(_promotion_record("bootstrap"))
    assert "paired_bootstrap" in boot and "95% interval of the difference" in boot and "1000 resamples" in boot
    same_labels = {"production_lacks": [], "candidate_lacks": [], "production_predictions_outside_candidate_labels": 0}
    same = promotion_report_html({**_promotion_record("none"), "label_space": same_labels})
    assert "<p>Production lacks: none. Candidate lacks: none.</p>" in same
    assert "No test (promotion.test: none): the margin alone decided." in same
    first = decide_promotion("accuracy", {"accuracy": 0.9}, None, {"accuracy": 0.6})
    truth, candidate = ["a", "b"] * 5, ["a", "b"] * 4 + ["a", "a"]
    record = {
        **first.as_dict(),
        "stage": "production",
        "candidate_version": 1,
        "previous_version": None,
        "test_rows": 10,
        "test": None,
        "per_class": {"a": {"support": 5, "candidate_f1": 0.909}, "b": {"support": 5, "candidate_f1": 0.889}},
        "slices": candidate_slices(truth, candidate, ["a", "b"], {"year": ["2024"] * 10}),
    }
    report = promotion_report_html(record)
    assert "production version none" in report and "no production version yet" in report
    assert "Significance" not in report and "Label spaces" not in report
    assert re.search(r'<td class="l">a</td><td>5</td><td>0\.909</td>', report)
    assert re.search(r'<td class="l">2024</td><td>10</td><td>0\.900</td>', report)
