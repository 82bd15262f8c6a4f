"""Dataset card (HTML), model card (Markdown) and the confusion-matrix PNG."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from arxiv_classifier.data import prepare_dataset
from arxiv_classifier.reports import confusion_matrix_png, dataset_card_html, model_card_markdown

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
