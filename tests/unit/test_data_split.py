"""Splitting, label space, sampling, leakage check, content hash and prepare_dataset end to end."""

from __future__ import annotations

import pandas as pd
import pytest

from arxiv_classifier.config import ConfigError, SampleConfig
from arxiv_classifier.constants import OTHER_LABEL, SPLITS
from arxiv_classifier.data import (
    DataError,
    ValidationReport,
    apply_label_space,
    check_no_leakage,
    dataset_hash,
    label_space,
    labels_of,
    prepare_dataset,
    sample_splits,
    split_dataset,
    validate_and_clean,
)


def _labelled(labels: list[str], split: str = "train", prefix: str = "r") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(len(labels))],
            "text": [f"text number {i}" for i in range(len(labels))],
            "label": labels,
            "split": split,
        }
    )


def _frame_with_splits(per_split: dict[str, list[str]]) -> pd.DataFrame:
    return pd.concat([_labelled(lab, s, prefix=s) for s, lab in per_split.items()], ignore_index=True)


# ------------------------------------------------------------------ split_dataset


def test_date_split_respects_cutoffs(dated_papers, data_cfg) -> None:
    clean, _ = validate_and_clean(dated_papers, data_cfg())
    out = split_dataset(clean, data_cfg(split={"train_end": "2023-01-01", "test_start": "2024-01-01"}))
    assert out["split"].value_counts().to_dict() == {"train": 10, "validation": 10, "test": 10}
    assert (out.loc[out.split == "train", "date"] < "2023-01-01").all()
    val = out.loc[out.split == "validation", "date"]
    assert ((val >= "2023-01-01") & (val < "2024-01-01")).all()
    assert (out.loc[out.split == "test", "date"] >= "2024-01-01").all()
    assert "split" not in clean.columns  # the input is not modified


def test_date_split_boundaries_are_half_open(make_papers, data_cfg) -> None:
    long = "long enough abstract text"
    raw = make_papers(
        [
            ("1", "Day before train end", long, "a", "2022-12-31"),
            ("2", "On train end", long, "a", "2023-01-01"),
            ("3", "Day before test start", long, "a", "2023-12-31"),
            ("4", "On test start", long, "a", "2024-01-01"),
        ]
    )
    clean, _ = validate_and_clean(raw, data_cfg())
    out = split_dataset(clean, data_cfg())
    assert out["split"].tolist() == ["train", "validation", "validation", "test"]


def test_date_split_with_empty_split_names_the_cutoffs(dated_papers, data_cfg) -> None:
    clean, _ = validate_and_clean(dated_papers, data_cfg())
    cfg = data_cfg(split={"train_end": "2030-01-01", "test_start": "2031-01-01"})
    with pytest.raises(DataError, match=r"\['validation', 'test'\] are empty.*train_end \(2030-01-01\)"):
        split_dataset(clean, cfg)


def test_given_split_keeps_test_file_and_carves_validation(data_cfg) -> None:
    cfg = data_cfg(
        id_field=None, date_field=None, test_source="t.csv", split={"strategy": "given", "validation_fraction": 0.2}
    )
    train = _labelled(["a"] * 50 + ["b"] * 50)
    test = _labelled(["a"] * 7 + ["b"] * 3, prefix="t")
    out = split_dataset(train, cfg, test)
    counts = out["split"].value_counts().to_dict()
    assert counts == {"train": 80, "validation": 20, "test": 10}
    assert out.loc[out.split == "test", "id"].tolist() == test["id"].tolist()
    val = out[out.split == "validation"]
    assert val["label"].value_counts().to_dict() == {"a": 10, "b": 10}  # stratified


def test_given_split_without_test_frame(data_cfg) -> None:
    cfg = data_cfg(date_field=None, test_source="t.csv", split={"strategy": "given"})
    with pytest.raises(ConfigError, match="test_source"):
        split_dataset(_labelled(["a", "b"] * 10), cfg)


def test_random_split_fractions_stratified_and_seeded(data_cfg) -> None:
    cfg = data_cfg(date_field=None, split={"strategy": "random", "test_fraction": 0.2, "validation_fraction": 0.25})
    df = _labelled(["a"] * 60 + ["b"] * 40)
    out = split_dataset(df, cfg)
    per = out.groupby(["split", "label"]).size().to_dict()
    assert per[("test", "a")] == 12 and per[("test", "b")] == 8
    assert per[("validation", "a")] == 12 and per[("validation", "b")] == 8
    assert out["split"].value_counts()["train"] == 60
    assert out["split"].tolist() == split_dataset(df, cfg)["split"].tolist()
    other_seed = split_dataset(df, cfg.model_copy(update={"seed": cfg.seed + 7}))
    assert other_seed["split"].tolist() != out["split"].tolist()


def test_random_split_keeps_singleton_labels_in_train(data_cfg) -> None:
    cfg = data_cfg(date_field=None, split={"strategy": "random"})
    out = split_dataset(_labelled(["a"] * 40 + ["lonely"]), cfg)
    assert out.loc[out.label == "lonely", "split"].tolist() == ["train"]


def test_random_split_too_small_data(data_cfg) -> None:
    cfg = data_cfg(date_field=None, split={"strategy": "random"})
    with pytest.raises(DataError, match="too small"):
        split_dataset(_labelled(["a", "b", "c"]), cfg)


# ------------------------------------------------------------------ label space


def test_label_space_top_n_with_deterministic_ties() -> None:
    train = pd.Series(["z"] * 5 + ["b"] * 3 + ["c"] * 3 + ["a"] * 3 + ["d"])
    # a, b and c tie at 3: the tie is broken by name, so "a" goes in before "b" and "c"
    assert label_space(train, 2) == ["a", "z"]
    assert label_space(train, 3) == ["a", "b", "z"]
    assert label_space(train.sample(frac=1, random_state=1), 3) == ["a", "b", "z"]
    assert label_space(train, None) == ["a", "b", "c", "d", "z"]
    assert label_space(train, 100) == ["a", "b", "c", "d", "z"]


def test_apply_label_space_drop_counts() -> None:
    df = _labelled(["a", "b", "x", "y", "a"])
    report = ValidationReport()
    out, labels = apply_label_space(df, ["a", "b"], "drop", report)
    assert out["label"].tolist() == ["a", "b", "a"]
    assert labels == ["a", "b"]
    assert report.dropped == {"label_outside_top_n": 2}


def test_apply_label_space_other_relabels() -> None:
    df = _labelled(["a", "b", "x", "y"])
    report = ValidationReport()
    out, labels = apply_label_space(df, ["b", "a"], "other", report)
    assert out["label"].tolist() == ["a", "b", OTHER_LABEL, OTHER_LABEL]
    assert labels == sorted(["a", "b", OTHER_LABEL])
    assert report.dropped == {}
    assert df["label"].tolist() == ["a", "b", "x", "y"]  # input untouched


# ------------------------------------------------------------------ sampling


def test_sample_caps_each_split_and_leaves_small_ones() -> None:
    df = _frame_with_splits({"train": ["a", "b"] * 50, "validation": ["a", "b"] * 20, "test": ["a"] * 5})
    for strategy in ("random", "stratified"):
        out = sample_splits(df, SampleConfig(max_train=30, max_validation=11, max_test=10, strategy=strategy), 0)
        assert out["split"].value_counts().to_dict() == {"train": 30, "validation": 11, "test": 5}
        assert set(out["id"]) <= set(df["id"])
        assert not out["id"].duplicated().any()


def test_sample_without_caps_is_identity() -> None:
    df = _frame_with_splits({"train": ["a"] * 5, "validation": ["b"] * 3, "test": ["a"] * 2})
    pd.testing.assert_frame_equal(sample_splits(df, SampleConfig(), 0), df)


def test_stratified_sample_keeps_label_proportions() -> None:
    labels = ["a"] * 700 + ["b"] * 200 + ["c"] * 100
    df = _frame_with_splits({"train": labels, "validation": labels[:50], "test": labels[:50]})
    out = sample_splits(df, SampleConfig(max_train=100, strategy="stratified"), 3)
    share = out[out.split == "train"]["label"].value_counts(normalize=True)
    assert share["a"] == pytest.approx(0.7, abs=0.02)
    assert share["b"] == pytest.approx(0.2, abs=0.02)
    assert share["c"] == pytest.approx(0.1, abs=0.02)


def test_sample_is_seeded() -> None:
    df = _frame_with_splits({"train": ["a", "b"] * 100, "validation": ["a"], "test": ["b"]})
    cfg = SampleConfig(max_train=20)
    assert sample_splits(df, cfg, 1)["id"].tolist() == sample_splits(df, cfg, 1)["id"].tolist()
    assert sample_splits(df, cfg, 1)["id"].tolist() != sample_splits(df, cfg, 2)["id"].tolist()


# ------------------------------------------------------------------ leakage and hash


def test_check_no_leakage() -> None:
    clean = _frame_with_splits({"train": ["a", "b"], "validation": ["a"], "test": ["b"]})
    check_no_leakage(clean)  # no error
    leaked = pd.concat([clean, clean.iloc[[0]].assign(split="test")], ignore_index=True)
    with pytest.raises(DataError, match=r"1 id\(s\) appear in more than one split.*'train0'"):
        check_no_leakage(leaked)


def test_same_id_twice_in_one_split_is_not_leakage() -> None:
    df = _labelled(["a", "a"])
    df["id"] = "same"
    check_no_leakage(df)


def test_dataset_hash_stable_and_content_sensitive() -> None:
    df = _frame_with_splits({"train": ["a", "b"], "validation": ["a"], "test": ["b"]})
    h = dataset_hash(df)
    assert h == dataset_hash(df.copy())
    assert len(h) == 64
    assert dataset_hash(df.set_index(pd.Index([10, 11, 12, 13]))) == h  # index-free
    assert dataset_hash(df.assign(extra=1)) == h  # only id/text/label/split count
    changed = df.copy()
    changed.loc[0, "text"] = "other text"
    assert dataset_hash(changed) != h
    relabelled = df.copy()
    relabelled.loc[0, "label"] = "b"
    assert dataset_hash(relabelled) != h
    assert dataset_hash(df.iloc[::-1]) != h  # order-sensitive


# ------------------------------------------------------------------ prepare_dataset


def test_prepare_dataset_date_split(dated_papers, data_cfg) -> None:
    raw = pd.concat([dated_papers, dated_papers.iloc[[0]]], ignore_index=True)  # one duplicate id
    raw.loc[0, "category"] = "cs.RARE"
    prepared = prepare_dataset(raw, data_cfg(top_n_labels=2))
    frame = prepared.frame
    assert list(frame.columns) == ["id", "text", "label", "split", "date"]
    assert prepared.labels == ["cs.CV", "cs.LG"]
    assert set(frame["label"]) == {"cs.CV", "cs.LG"}
    meta = prepared.metadata()
    assert meta["rows"] == len(frame) == 29
    assert meta["validation"]["dropped"] == {"duplicate_id": 1, "label_outside_top_n": 1}
    assert meta["validation"]["rows_out"] == 29
    assert meta["content_hash"] == dataset_hash(frame)
    assert [meta[f"rows_{s}"] for s in SPLITS] == [9, 10, 10]
    assert prepared.split("test")["id"].str.startswith("2025.").all()
    assert labels_of(frame) == prepared.labels


def test_prepare_dataset_other_rule(dated_papers, data_cfg) -> None:
    raw = dated_papers.copy()
    raw.loc[0, "category"] = "cs.RARE"
    prepared = prepare_dataset(raw, data_cfg(top_n_labels=2, out_of_label_space="other"))
    assert prepared.labels == ["cs.CV", "cs.LG", OTHER_LABEL]
    assert (prepared.frame["label"] == OTHER_LABEL).sum() == 1


def test_prepare_dataset_given_drops_test_rows_also_in_train(data_cfg) -> None:
    cfg = data_cfg(
        text_fields=["text"], label_field="y", date_field=None, title_field=None, top_n_labels=None,
        test_source="t.csv", split={"strategy": "given", "validation_fraction": 0.2},
    )  # fmt: skip
    train = pd.DataFrame({"id": [f"a{i}" for i in range(20)], "text": ["some longer text"] * 20, "y": ["p", "q"] * 10})
    test = pd.DataFrame({"id": ["a0", "t1", "t2"], "text": ["some longer text"] * 3, "y": ["p", "q", "p"]})
    prepared = prepare_dataset(train, cfg, test)
    assert prepared.split("test")["id"].tolist() == ["t1", "t2"]
    assert prepared.report.dropped == {"test_id_also_in_train_file": 1}
    assert prepared.report.rows_in == 23


def test_prepare_dataset_given_without_ids(data_cfg) -> None:
    cfg = data_cfg(
        id_field=None, text_fields=["text"], label_field="y", date_field=None, title_field=None,
        top_n_labels=None, test_source="t.csv", split={"strategy": "given", "validation_fraction": 0.2},
    )  # fmt: skip
    train = pd.DataFrame({"text": [f"train text {i}" for i in range(20)], "y": ["p", "q"] * 10})
    test = pd.DataFrame({"text": [f"test text {i}" for i in range(4)], "y": ["p", "q"] * 2})
    prepared = prepare_dataset(train, cfg, test)
    assert prepared.metadata()["rows_test"] == 4
    assert prepared.metadata()["rows_train"] + prepared.metadata()["rows_validation"] == 20
