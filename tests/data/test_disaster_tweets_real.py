"""disaster_tweets through configs/disaster_tweets.yaml: one file, binary target, random split."""

from __future__ import annotations

import pytest

from arxiv_classifier.constants import SPLITS
from arxiv_classifier.data import check_no_leakage, prepare_dataset
from tests.data.conftest import assert_split_sizes_equal_caps

pytestmark = pytest.mark.data


def test_raw_file(tweets_raw) -> None:
    assert list(tweets_raw.columns) == ["id", "keyword", "location", "text", "target"]
    assert len(tweets_raw) == 7_613
    assert tweets_raw["target"].value_counts().to_dict() == {"0": 4_342, "1": 3_271}


def test_prepared_random_split(tweets_prepared, tweets_raw, tweets_cfg) -> None:
    frame = tweets_prepared.frame
    split_cfg = tweets_cfg.data.split
    assert split_cfg.strategy == "random"
    assert list(frame.columns) == ["id", "text", "label", "split"]
    assert tweets_prepared.report.rows_in == len(tweets_raw)
    assert set(tweets_prepared.report.dropped) <= {"duplicate_title", "empty_or_short_text"}
    assert len(tweets_raw) - 300 <= len(frame) <= len(tweets_raw)
    counts = frame["split"].value_counts()
    assert counts["test"] / len(frame) == pytest.approx(split_cfg.test_fraction, abs=0.01)
    rest = counts["train"] + counts["validation"]
    assert counts["validation"] / rest == pytest.approx(split_cfg.validation_fraction, abs=0.01)
    check_no_leakage(frame)
    assert frame["id"].is_unique


def test_two_labels_in_stratified_proportions(tweets_prepared) -> None:
    assert tweets_prepared.labels == ["0", "1"]
    overall = (tweets_prepared.frame["label"] == "1").mean()
    assert 0.4 < overall < 0.45
    for split in SPLITS:
        share = (tweets_prepared.split(split)["label"] == "1").mean()
        assert share == pytest.approx(overall, abs=0.01), split


def test_keyword_is_joined_into_the_text(tweets_prepared, tweets_raw) -> None:
    raw = tweets_raw.set_index("id")
    with_keyword = tweets_prepared.frame.merge(raw[["keyword"]], left_on="id", right_index=True)
    with_keyword = with_keyword[with_keyword["keyword"] != ""]
    assert len(with_keyword) > 1000
    assert (with_keyword.apply(lambda r: r["text"].startswith(r["keyword"] + "\n"), axis=1)).all()


def test_sample_caps(tweets_raw, tweets_cfg) -> None:
    capped = prepare_dataset(tweets_raw, tweets_cfg.data)
    assert_split_sizes_equal_caps(capped, tweets_cfg)
    check_no_leakage(capped.frame)
