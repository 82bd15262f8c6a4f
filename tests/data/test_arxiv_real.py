"""The real arXiv file and the default run's prepared dataset (configs/train.yaml, caps removed)."""

from __future__ import annotations

import pandas as pd
import pytest

from arxiv_classifier.config import REPO_ROOT
from arxiv_classifier.constants import SPLITS
from arxiv_classifier.data import check_no_leakage, prepare_dataset, sample_splits

pytestmark = [pytest.mark.slow, pytest.mark.data]  # reads and prepares the whole 195k-paper file

RAW_COLUMNS = ["id", "title", "summary", "category", "categories", "published_date"]
# README: rows per split by date alone, before validation, label space and dedup.
RAW_SPLIT_ROWS = {"train": 77_882, "validation": 33_942, "test": 83_660}
DOMINANT_TEST_LABELS = {"cs.CV", "cs.CL", "cs.AI"}
CONFIGS = REPO_ROOT / "configs"


def test_raw_file_schema(arxiv_raw: pd.DataFrame) -> None:
    assert list(arxiv_raw.columns) == RAW_COLUMNS
    assert len(arxiv_raw) == 195_484
    assert arxiv_raw["id"].is_unique
    assert (arxiv_raw != "").all().all(), "README: no field is empty"
    assert all(pd.api.types.is_string_dtype(t) for t in arxiv_raw.dtypes)  # read as strings


def test_raw_rows_per_date_split_match_readme(arxiv_raw: pd.DataFrame, arxiv_cfg) -> None:
    dates = arxiv_raw["published_date"]
    split = arxiv_cfg.data.split
    assert (split.train_end, split.test_start) == ("2023-01-01", "2024-01-01")
    counts = {
        "train": int((dates < split.train_end).sum()),
        "validation": int(((dates >= split.train_end) & (dates < split.test_start)).sum()),
        "test": int((dates >= split.test_start).sum()),
    }
    assert counts == RAW_SPLIT_ROWS


def test_prepared_schema(arxiv_prepared, arxiv_cfg) -> None:
    frame = arxiv_prepared.frame
    assert list(frame.columns) == ["id", "text", "label", "split", "date"]
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])
    assert frame["date"].notna().all()
    assert (frame["text"].str.len() >= arxiv_cfg.data.min_text_chars).all()
    assert frame["id"].is_unique
    assert set(frame["split"]) == set(SPLITS)


def test_prepared_split_sizes(arxiv_prepared) -> None:
    meta = arxiv_prepared.metadata()
    # label space (top 10) and dedup only remove rows; what is left is still most of each split
    assert 40_000 <= meta["rows_train"] <= RAW_SPLIT_ROWS["train"]
    assert 20_000 <= meta["rows_validation"] <= RAW_SPLIT_ROWS["validation"]
    assert 70_000 <= meta["rows_test"] <= RAW_SPLIT_ROWS["test"]
    assert meta["rows"] == meta["rows_train"] + meta["rows_validation"] + meta["rows_test"]


def test_validation_report_accounts_for_every_row(arxiv_prepared) -> None:
    report = arxiv_prepared.report
    assert report.rows_in == 195_484
    assert report.rows_out == len(arxiv_prepared.frame)
    assert report.rows_in - sum(report.dropped.values()) == report.rows_out
    assert set(report.dropped) <= {"duplicate_title", "duplicate_id", "label_outside_top_n"}
    assert report.dropped["label_outside_top_n"] > 0
    assert report.dropped.get("duplicate_id", 0) == 0  # README: ids are unique


def test_no_id_leakage(arxiv_prepared) -> None:
    check_no_leakage(arxiv_prepared.frame)
    ids = {s: set(arxiv_prepared.split(s)["id"]) for s in SPLITS}
    assert not ids["train"] & ids["validation"]
    assert not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"]


def test_dates_inside_cutoffs(arxiv_prepared, arxiv_cfg) -> None:
    train_end = pd.Timestamp(arxiv_cfg.data.split.train_end)
    test_start = pd.Timestamp(arxiv_cfg.data.split.test_start)
    assert arxiv_prepared.split("train")["date"].max() < train_end
    validation = arxiv_prepared.split("validation")["date"]
    assert validation.min() >= train_end and validation.max() < test_start
    assert arxiv_prepared.split("test")["date"].min() >= test_start


def test_ten_labels_all_in_train(arxiv_prepared, arxiv_cfg) -> None:
    labels = arxiv_prepared.labels
    assert len(labels) == arxiv_cfg.data.top_n_labels == 10
    assert labels == sorted(labels)
    train_counts = arxiv_prepared.split("train")["label"].value_counts()
    assert set(train_counts.index) == set(labels)
    assert train_counts.min() >= 500
    assert set(arxiv_prepared.frame["label"]) == set(labels)  # 'drop' rule: nothing outside the space
    assert DOMINANT_TEST_LABELS | {"cs.LG"} <= set(labels)


def test_test_label_mix_dominated_by_cv_cl_ai(arxiv_prepared) -> None:
    share = arxiv_prepared.split("test")["label"].value_counts(normalize=True)
    assert set(share.index[:3]) == DOMINANT_TEST_LABELS
    assert share[list(DOMINANT_TEST_LABELS)].sum() > 0.8


def test_train_yaml_sample_caps(arxiv_prepared, arxiv_cfg) -> None:
    sample = arxiv_cfg.data.sample
    assert sample.strategy == "stratified"
    capped = sample_splits(arxiv_prepared.frame, sample, arxiv_cfg.data.seed)
    counts = capped["split"].value_counts()
    assert (counts["train"], counts["validation"], counts["test"]) == (
        sample.max_train,
        sample.max_validation,
        sample.max_test,
    )
    assert set(capped["id"]) <= set(arxiv_prepared.frame["id"])
    check_no_leakage(capped)
    for split in SPLITS:
        full = arxiv_prepared.split(split)["label"].value_counts(normalize=True)
        part = capped.loc[capped["split"] == split, "label"].value_counts(normalize=True)
        diff = (full - part.reindex(full.index, fill_value=0)).abs()
        assert diff.max() < 0.01, f"{split}: stratified sample drifts from the split's label mix"
    assert set(capped.loc[capped["split"] == "train", "label"]) == set(arxiv_prepared.labels)


# ---------------------------------------------------------------------------------------- window split (as_of)


def _recent(arxiv_cfg, as_of: str | None):
    """configs/train_recent.yaml on the same file, with its sample caps."""
    from arxiv_classifier.config import load_config

    overrides = {"data.source": arxiv_cfg.data.source, "data.as_of": as_of}
    return load_config(CONFIGS / "train_recent.yaml", overrides).data


def test_as_of_2025_widens_test_over_the_2024_gap_and_reads_nothing_after(arxiv_raw: pd.DataFrame, arxiv_cfg) -> None:
    cfg = _recent(arxiv_cfg, "2025-01-01")
    prepared = prepare_dataset(arxiv_raw, cfg)
    frame = prepared.frame
    test, validation, train = (prepared.split(s)["date"] for s in ("test", "validation", "train"))
    # The newest paper before 2025-01-01 is of 2024-12-30 (end_at_newest_paper), and 2024-05 .. 2024-12
    # hold ~15 papers a month: test is widened back until it holds min_test_rows (2,000) papers.
    assert len(test) == 2000 and test.min() >= pd.Timestamp("2024-02-29") and test.max() < pd.Timestamp("2024-12-31")
    assert validation.min() >= pd.Timestamp("2023-12-29") and validation.max() < pd.Timestamp("2024-02-29")
    assert train.min() >= pd.Timestamp("2020-12-29") and train.max() < pd.Timestamp("2023-12-29")
    assert frame["date"].max() < pd.Timestamp("2025-01-01")
    # README: 2025 and 2026 hold 76,712 papers; validation dropped a few duplicates before the window did
    assert 70_000 < prepared.report.dropped["dated_at_or_after_as_of"] <= 40_974 + 35_738
    window = prepared.metadata()["data_window"]
    assert (window["as_of"], window["test"], window["train"]) == (
        "2025-01-01",
        ["2024-02-29", "2024-12-31"],
        ["2020-12-29", "2023-12-29"],
    )
    assert len(prepared.labels) == cfg.top_n_labels and set(frame["label"]) <= set(prepared.labels)


def test_default_as_of_is_the_day_after_the_newest_paper(arxiv_raw: pd.DataFrame, arxiv_cfg) -> None:
    prepared = prepare_dataset(arxiv_raw, _recent(arxiv_cfg, None))
    window = prepared.metadata()["data_window"]
    assert window["as_of"] == "2026-08-22"  # README: the newest labelled paper is of 2026-08-21
    assert window["test"] == ["2026-06-22", "2026-08-22"]  # the newest 2 months (test_months: 2)
    assert window["validation"] == ["2026-04-22", "2026-06-22"]
    assert prepared.report.dropped.get("dated_at_or_after_as_of", 0) == 0
    assert prepared.split("test")["date"].min() >= pd.Timestamp("2026-06-22")
