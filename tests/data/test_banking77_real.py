"""banking77 through configs/banking77.yaml: given train/test files, 77 intents, no ids."""

from __future__ import annotations

import json

import pytest

from arxiv_classifier.constants import SPLITS
from arxiv_classifier.data import check_no_leakage, normalise_text, prepare_dataset
from tests.data.conftest import assert_split_sizes_equal_caps

pytestmark = pytest.mark.data


def test_raw_files(banking77_raw, data_dir) -> None:
    train, test = banking77_raw
    assert list(train.columns) == list(test.columns) == ["text", "category"]
    assert (len(train), len(test)) == (10_003, 3_080)
    categories = json.loads((data_dir / "banking77" / "categories.json").read_text())
    assert len(categories) == 77
    assert set(train["category"]) == set(test["category"]) == set(categories)


def test_prepared_given_split(banking77_prepared, banking77_raw, banking77_cfg) -> None:
    train, test = banking77_raw
    meta = banking77_prepared.metadata()
    dropped = sum(banking77_prepared.report.dropped.values())
    assert meta["rows"] == len(train) + len(test) - dropped
    assert len(test) - 20 <= meta["rows_test"] <= len(test)  # the test file, minus the odd drop
    assert meta["rows_validation"] == pytest.approx(
        banking77_cfg.data.split.validation_fraction * (meta["rows_train"] + meta["rows_validation"]), rel=0.05
    )
    assert set(banking77_prepared.split("test")["text"]) <= set(test["text"].map(normalise_text))
    check_no_leakage(banking77_prepared.frame)
    assert "date" not in banking77_prepared.frame.columns


def test_prepared_labels(banking77_prepared) -> None:
    assert len(banking77_prepared.labels) == 77
    for split in SPLITS:
        assert set(banking77_prepared.split(split)["label"]) == set(banking77_prepared.labels)


def test_sample_caps(banking77_raw, banking77_cfg) -> None:
    train, test = banking77_raw
    capped = prepare_dataset(train, banking77_cfg.data, test)
    assert_split_sizes_equal_caps(capped, banking77_cfg)
