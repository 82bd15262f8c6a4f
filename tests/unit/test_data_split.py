"""Splitting (fixed dates, as-of windows, files, random), label space, sampling, leakage check, content hash and
prepare_dataset end to end."""

from __future__ import annotations

import pandas as pd
import pytest

from arxiv_classifier.config import ConfigError, SampleConfig
from arxiv_classifier.constants import OTHER_LABEL, SPLITS
from arxiv_classifier.data import (
    DataError,
    DataWindow,
    ValidationReport,
    apply_label_space,
    check_no_leakage,
    data_window,
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


# ------------------------------------------------------------------ window split (as_of)

LONG = "an abstract long enough to keep"


def _window_cfg(data_cfg, as_of: str | None = "2025-01-01", split: dict | None = None, **fields: object):
    """A window split of 12 / 3 / 3 months before `as_of`; `split` and `fields` override."""
    months = {"strategy": "window", "train_months": 12, "validation_months": 3, "test_months": 3, **(split or {})}
    return data_cfg(split=months, as_of=as_of, **fields)


def _dated(make_papers, dated: list[tuple[str, str]], label: str = "a") -> pd.DataFrame:
    """Papers named by id with the given dates, all of one label."""
    return make_papers([(pid, f"Title of {pid}", LONG, label, day) for pid, day in dated])


def test_window_boundaries_are_exact(make_papers, data_cfg) -> None:
    raw = _dated(
        make_papers,
        [
            ("before-window", "2023-06-30"),  # train starts 12 months before validation: 2023-07-01
            ("train-first", "2023-07-01"),
            ("train-last", "2024-06-30"),
            ("validation-first", "2024-07-01"),
            ("validation-last", "2024-09-30"),
            ("test-first", "2024-10-01"),
            ("test-last", "2024-12-31"),  # as_of - 1 day: the newest paper in test
            ("on-as-of", "2025-01-01"),  # as_of itself: excluded
            ("after-as-of", "2025-03-02"),
        ],
    )
    cfg = _window_cfg(data_cfg)
    clean, report = validate_and_clean(raw, cfg)
    out = split_dataset(clean, cfg, report=report)
    assert dict(zip(out["id"], out["split"], strict=True)) == {
        "train-first": "train",
        "train-last": "train",
        "validation-first": "validation",
        "validation-last": "validation",
        "test-first": "test",
        "test-last": "test",
    }
    assert report.dropped == {"dated_at_or_after_as_of": 2, "before_train_window": 1}
    window = data_window(clean, cfg)
    assert window is not None
    assert window.as_dict() == {
        "strategy": "window",
        "as_of": "2025-01-01",
        "train": ["2023-07-01", "2024-07-01"],
        "validation": ["2024-07-01", "2024-10-01"],
        "test": ["2024-10-01", "2025-01-01"],
    }


def test_a_window_over_a_gap_in_the_data_is_widened_to_its_minimum_rows(make_papers, data_cfg) -> None:
    # Two papers a month until 2024-04, then one paper in the last seven months before as_of.
    dated = [(f"p{y}{m:02d}{k}", f"{y}-{m:02d}-1{k}") for y in (2023, 2024) for m in range(1, 13) for k in (1, 2)]
    dated = [(pid, day) for pid, day in dated if day < "2024-05-01"] + [("lone", "2024-11-15")]
    cfg = _window_cfg(data_cfg, split={"min_test_rows": 5, "min_validation_rows": 4})
    clean, report = validate_and_clean(_dated(make_papers, dated), cfg)
    window = data_window(clean, cfg)
    assert window is not None
    # test: [2024-10-01, as_of) holds 1; back a month at a time to 2024-03-01 (1 + 2 + 2 = 5 papers)
    assert window.as_dict()["test"] == ["2024-03-01", "2025-01-01"]
    # validation: its 3 months before test hold 6 >= 4, so it stays 3 months long
    assert window.as_dict()["validation"] == ["2023-12-01", "2024-03-01"]
    out = split_dataset(clean, cfg, report=report)
    assert (out["split"] == "test").sum() == 5
    # without the minimums the same data gives a one-paper test window
    plain = data_window(clean, _window_cfg(data_cfg))
    assert plain is not None and plain.as_dict()["test"] == ["2024-10-01", "2025-01-01"]


def test_window_without_train_months_keeps_all_history(make_papers, data_cfg) -> None:
    raw = _dated(make_papers, [("old", "1995-05-05"), ("v", "2024-08-01"), ("t", "2024-11-01")])
    cfg = _window_cfg(data_cfg, split={"train_months": None})
    clean, _ = validate_and_clean(raw, cfg)
    assert split_dataset(clean, cfg)["split"].tolist() == ["train", "validation", "test"]
    window = data_window(clean, cfg)
    assert window is not None and window.as_dict()["train"] == [None, "2024-07-01"]


def test_window_as_of_defaults_to_the_day_after_the_newest_paper(make_papers, data_cfg) -> None:
    raw = _dated(make_papers, [("t", "2022-01-01"), ("v", "2024-05-15"), ("newest", "2024-08-20"), ("x", "2024-06-30")])
    cfg = _window_cfg(data_cfg, as_of=None, split={"train_months": 36})
    clean, _ = validate_and_clean(raw, cfg)
    window = data_window(clean, cfg)
    assert window is not None and window.as_of == pd.Timestamp("2024-08-21")
    assert window.ranges["test"] == (pd.Timestamp("2024-05-21"), pd.Timestamp("2024-08-21"))
    out = split_dataset(clean, cfg)
    assert dict(zip(out["id"], out["split"], strict=True)) == {
        "t": "train",
        "v": "validation",
        "x": "test",
        "newest": "test",
    }
    # an explicit as_of wins over the default
    explicit = data_window(clean, _window_cfg(data_cfg, as_of="2024-06-01", split={"train_months": 36}))
    assert explicit is not None and explicit.as_of == pd.Timestamp("2024-06-01")


@pytest.mark.parametrize(
    ("dates", "empty", "fix"),
    [
        ([("t", "2024-01-01"), ("v", "2024-08-01")], "test window [2024-10-01, 2025-01-01)", "split.test_months"),
        ([("t", "2024-01-01"), ("x", "2024-11-01")], "validation window [2024-07-01, 2024-10-01)", "validation_months"),
        (
            [("old", "2020-01-01"), ("v", "2024-08-01"), ("x", "2024-11-01")],
            "train window [2023-07-01, 2024-07-01)",
            "split.train_months (null: all history",
        ),
    ],
    ids=["test", "validation", "train"],
)
def test_empty_window_says_which_and_what_to_change(make_papers, data_cfg, dates, empty, fix) -> None:
    cfg = _window_cfg(data_cfg)
    clean, _ = validate_and_clean(_dated(make_papers, dates), cfg)
    with pytest.raises(DataError) as exc:
        split_dataset(clean, cfg)
    message = str(exc.value)
    assert f"the {empty} holds no papers" in message
    assert fix in message
    assert "data.as_of 2025-01-01" in message and "the data spans" in message


def test_windows_can_end_at_the_newest_labelled_paper_when_as_of_is_later(make_papers, data_cfg) -> None:
    # The monitor retrains as of today; labels stop months earlier. Test is the newest labelled months.
    raw = _dated(make_papers, [("t", "2023-12-01"), ("v", "2024-04-01"), ("newest", "2024-08-01")])
    cfg = _window_cfg(data_cfg, as_of="2025-01-01", split={"end_at_newest_paper": True})
    clean, report = validate_and_clean(raw, cfg)
    window = data_window(clean, cfg)
    assert window is not None and window.as_of == pd.Timestamp("2025-01-01")
    assert window.as_dict()["test"] == ["2024-05-02", "2024-08-02"]
    assert window.as_dict()["validation"] == ["2024-02-02", "2024-05-02"]
    out = split_dataset(clean, cfg, report=report)
    assert dict(zip(out["id"], out["split"], strict=True)) == {"t": "train", "v": "validation", "newest": "test"}
    check_no_leakage(out, window)
    # without it, the same as_of leaves test empty
    with pytest.raises(DataError, match="the test window"):
        split_dataset(clean, _window_cfg(data_cfg, as_of="2025-01-01"))


def test_everything_after_as_of_names_every_window(make_papers, data_cfg) -> None:
    cfg = _window_cfg(data_cfg, as_of="2020-01-01")
    clean, _ = validate_and_clean(_dated(make_papers, [("a", "2024-01-01"), ("b", "2025-01-01")]), cfg)
    with pytest.raises(DataError, match=r"the data spans 2024-01-01 \.\. 2025-01-01") as exc:
        split_dataset(clean, cfg)
    assert all(f"the {s} window" in str(exc.value) for s in SPLITS)


def test_window_label_space_comes_from_the_train_window_only(make_papers, data_cfg) -> None:
    rows = []
    # before the window: the most frequent label overall, which must not enter the label space
    rows += [(f"old{i}", f"Old paper {i}", LONG, "z.old", "2020-02-02") for i in range(20)]
    rows += [(f"a{i}", f"A paper {i}", LONG, "a", f"2024-0{1 + i % 6}-10") for i in range(6)]
    rows += [(f"b{i}", f"B paper {i}", LONG, "b", f"2024-0{1 + i % 6}-11") for i in range(4)]
    rows += [(f"c{i}", f"C paper {i}", LONG, "c", "2024-03-12") for i in range(2)]
    # validation and test: dominated by a label the training window barely has
    rows += [(f"vc{i}", f"New C paper {i}", LONG, "c", "2024-08-01") for i in range(10)]
    rows += [(f"tc{i}", f"Newer C paper {i}", LONG, "c", "2024-11-01") for i in range(10)]
    rows += [("va", "Validation A", LONG, "a", "2024-08-02"), ("tb", "Test B", LONG, "b", "2024-11-02")]
    prepared = prepare_dataset(make_papers(rows), _window_cfg(data_cfg, top_n_labels=2))
    assert prepared.labels == ["a", "b"]
    assert set(prepared.frame["label"]) == {"a", "b"}
    assert prepared.split("test")["id"].tolist() == ["tb"]
    assert prepared.split("validation")["id"].tolist() == ["va"]
    assert prepared.report.dropped == {"before_train_window": 20, "label_outside_top_n": 22}
    # a window ending earlier sees another training population, so another label space
    earlier = prepare_dataset(make_papers(rows), _window_cfg(data_cfg, as_of="2024-08-01", split={"train_months": 60}))
    assert "z.old" in earlier.labels


def test_window_prepared_metadata_records_the_window(make_papers, data_cfg) -> None:
    dates = ["2023-09-03", "2024-02-10", "2024-07-04", "2024-09-01", "2024-10-05", "2024-12-30"]
    raw = make_papers([(f"p{i}", f"Paper {i}", LONG, "ab"[i % 2], day) for i, day in enumerate(dates)])
    prepared = prepare_dataset(raw, _window_cfg(data_cfg, as_of=None))
    window = prepared.metadata()["data_window"]
    assert window == {
        "strategy": "window",
        "as_of": "2024-12-31",
        "train": ["2023-06-30", "2024-06-30"],
        "validation": ["2024-06-30", "2024-09-30"],
        "test": ["2024-09-30", "2024-12-31"],
        "observed": {
            "train": ["2023-09-03", "2024-02-10"],
            "validation": ["2024-07-04", "2024-09-01"],
            "test": ["2024-10-05", "2024-12-30"],
        },
    }


def test_date_split_metadata_has_open_outer_ends(dated_papers, data_cfg) -> None:
    meta = prepare_dataset(dated_papers, data_cfg()).metadata()
    window = meta["data_window"]
    assert window["as_of"] is None
    assert (window["train"], window["validation"], window["test"]) == (
        [None, "2023-01-01"],
        ["2023-01-01", "2024-01-01"],
        ["2024-01-01", None],
    )
    given = data_cfg(id_field=None, date_field=None, split={"strategy": "random"})
    assert "data_window" not in prepare_dataset(dated_papers.drop(columns="published_date"), given).metadata()


def test_window_sample_caps_still_apply(make_papers, data_cfg) -> None:
    rows = [(f"t{i}", f"T {i}", LONG, "ab"[i % 4 == 0], f"2024-0{1 + i % 6}-01") for i in range(40)]
    rows += [(f"v{i}", f"V {i}", LONG, "ab"[i % 2], "2024-08-01") for i in range(20)]
    rows += [(f"x{i}", f"X {i}", LONG, "ab"[i % 2], "2024-11-01") for i in range(20)]
    sample = {"max_train": 20, "max_validation": 5, "max_test": 10, "strategy": "stratified"}
    prepared = prepare_dataset(make_papers(rows), _window_cfg(data_cfg, sample=sample))
    meta = prepared.metadata()
    assert (meta["rows_train"], meta["rows_validation"], meta["rows_test"]) == (20, 5, 10)
    assert prepared.split("train")["label"].value_counts().to_dict() == {"a": 15, "b": 5}  # 30/10 kept


# ------------------------------------------------------------------ leakage check with a window


def _window_frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "text": "t",
            "label": "a",
            "split": [r[1] for r in rows],
            "date": pd.to_datetime([r[2] for r in rows]),
        }
    )


WINDOW = DataWindow(
    "window",
    {
        "train": (pd.Timestamp("2023-07-01"), pd.Timestamp("2024-07-01")),
        "validation": (pd.Timestamp("2024-07-01"), pd.Timestamp("2024-10-01")),
        "test": (pd.Timestamp("2024-10-01"), pd.Timestamp("2025-01-01")),
    },
    as_of=pd.Timestamp("2025-01-01"),
)
CLEAN_ROWS = [("t", "train", "2024-06-30"), ("v", "validation", "2024-09-30"), ("x", "test", "2024-12-31")]


def test_leakage_check_passes_a_clean_window() -> None:
    check_no_leakage(_window_frame(CLEAN_ROWS), WINDOW)


def test_leakage_check_fires_on_a_row_dated_as_of() -> None:
    crafted = _window_frame([*CLEAN_ROWS, ("late", "test", "2025-01-01")])
    with pytest.raises(DataError, match=r"1 row\(s\) dated at or after as_of 2025-01-01.*late dated 2025-01-01"):
        check_no_leakage(crafted, WINDOW)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("t2", "train", "2024-07-01"), r"1 train row\(s\) lie outside the train window \[2023-07-01, 2024-07-01\)"),
        (("v2", "validation", "2024-10-15"), r"1 validation row\(s\) lie outside the validation window"),
        (("x2", "test", "2024-09-30"), r"1 test row\(s\) lie outside the test window"),
        (("t3", "train", "2023-06-30"), r"train row\(s\) lie outside .*t3 dated 2023-06-30"),
    ],
    ids=["train-on-validation-start", "validation-in-test", "test-in-validation", "train-before-window"],
)
def test_leakage_check_fires_on_a_row_in_another_splits_period(row, message) -> None:
    with pytest.raises(DataError, match=message):
        check_no_leakage(_window_frame([*CLEAN_ROWS, row]), WINDOW)


def test_leakage_check_covers_the_fixed_date_split(dated_papers, data_cfg) -> None:
    cfg = data_cfg()
    prepared = prepare_dataset(dated_papers, cfg)
    window = data_window(prepared.frame, cfg)
    check_no_leakage(prepared.frame, window)
    leaked = prepared.frame.copy()
    leaked.loc[leaked["split"] == "test", "split"] = "train"
    with pytest.raises(DataError, match=r"10 train row\(s\) lie outside the train window \[\.\.\., 2023-01-01\)"):
        check_no_leakage(leaked, window)


# ------------------------------------------------------------------ window config


def test_as_of_only_with_the_window_strategy(data_cfg) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=r"data.as_of \(2025-01-01\) only applies to .*'window'"):
        data_cfg(as_of="2025-01-01")
    assert data_cfg(split={"strategy": "window"}, as_of="2025-01-01").as_of.isoformat() == "2025-01-01"


@pytest.mark.parametrize("bad", ["2025-1-1", "01/01/2025", "20250101", "2025-02-30", 1735689600])
def test_as_of_must_be_an_iso_day(data_cfg, bad) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="as_of"):
        data_cfg(split={"strategy": "window"}, as_of=bad)


def test_window_needs_a_date_field(data_cfg) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=r"split\.strategy 'window' needs data\.date_field"):
        data_cfg(split={"strategy": "window"}, date_field=None)


def test_data_steps_keep_the_date_and_log_the_window(tmp_path, make_papers, data_cfg, monkeypatch) -> None:
    from steps.data import data_loader as loader_module
    from steps.data import data_preparer as preparer_module

    logged: list[dict] = []
    monkeypatch.setattr(loader_module, "log_metadata", lambda **kw: None)
    monkeypatch.setattr(preparer_module, "log_metadata", lambda metadata, **kw: logged.append(metadata))
    source = tmp_path / "papers.csv"
    dates = ["2024-02-10", "2024-08-01", "2024-11-01", "2025-01-01"]
    make_papers([(f"p{i}", f"Paper {i}", LONG, "a", day) for i, day in enumerate(dates)]).to_csv(source, index=False)
    cfg = _window_cfg(data_cfg, source=str(source))
    raw = loader_module.data_loader.entrypoint(cfg, "sha256:x")
    assert "published_date" in raw.columns  # the window split needs the date, like the fixed-date one
    frame, card = preparer_module.data_preparer.entrypoint(raw, cfg)
    assert frame["id"].tolist() == ["p0", "p1", "p2"]  # p3 is dated as_of
    assert logged[0]["data_window"]["test"] == ["2024-10-01", "2025-01-01"]
    assert "as_of 2025-01-01: train [2023-07-01, 2024-07-01) validation [2024-07-01, 2024-10-01)" in card
