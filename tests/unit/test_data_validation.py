"""validate_and_clean and the text helpers on small hand-made frames."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from arxiv_classifier.data import (
    DataError,
    ValidationReport,
    _join_columns,
    join_text,
    normalise_text,
    normalise_title,
    parse_dates,
    required_columns,
    validate_and_clean,
)

LONG = "An abstract that is comfortably long."


def test_canonical_columns_and_text(make_papers, data_cfg) -> None:
    raw = make_papers([("2101.00001", "  A   title ", f" {LONG}\n\t", "cs.LG", "2021-01-05")])
    out, report = validate_and_clean(raw, data_cfg())
    assert list(out.columns) == ["id", "text", "label", "title", "date"]
    row = out.iloc[0]
    assert row["text"] == f"A title\n{LONG}"
    assert row["label"] == "cs.LG"
    assert row["date"] == pd.Timestamp("2021-01-05")
    assert report.as_dict() == {"rows_in": 1, "rows_out": 1, "dropped": {}}


def test_missing_columns_are_named(make_papers, data_cfg) -> None:
    raw = make_papers([("1", "t", LONG, "cs.LG", "2021-01-01")]).drop(columns=["summary", "category"])
    with pytest.raises(DataError) as exc:
        validate_and_clean(raw, data_cfg())
    msg = str(exc.value)
    assert "'summary'" in msg and "'category'" in msg
    assert "'title'" not in msg.split(";")[0]  # only the missing ones are listed as missing
    assert "data.text_fields" in msg


def test_date_column_only_required_for_date_split(make_papers, data_cfg) -> None:
    raw = make_papers([("1", "Some title", LONG, "cs.LG", "2021-01-01")]).drop(columns=["published_date"])
    with pytest.raises(DataError, match="published_date"):
        validate_and_clean(raw, data_cfg())
    out, _ = validate_and_clean(raw, data_cfg(), need_date=False)
    assert "date" not in out.columns and len(out) == 1


def test_required_columns(data_cfg) -> None:
    assert required_columns(data_cfg(), need_date=True) == ["title", "summary", "category", "id", "published_date"]
    assert required_columns(data_cfg(id_field=None), need_date=False) == ["title", "summary", "category"]
    # a column used twice is required once
    assert required_columns(data_cfg(text_fields=["category"]), need_date=False) == ["category", "id"]


def test_bad_rows_are_dropped_and_counted(make_papers, data_cfg) -> None:
    raw = make_papers(
        [
            ("1", "Good paper one", LONG, "cs.LG", "2021-01-01"),
            ("2", "", "   ", "cs.LG", "2021-01-02"),  # empty text
            ("3", "Tiny", "", "cs.LG", "2021-01-03"),  # text shorter than min_text_chars
            ("4", "No label here", LONG, "  ", "2021-01-04"),  # missing label
            ("5", "Bad date here", LONG, "cs.CV", "not a date"),  # unparseable date
            ("1", "Duplicate id paper", LONG, "cs.CV", "2021-01-06"),  # duplicate id
            ("7", "GOOD paper -- one!", LONG, "cs.CV", "2021-01-07"),  # duplicate normalised title
            ("8", "Good paper two", LONG, "cs.CV", "2021-01-08"),
        ]
    )
    out, report = validate_and_clean(raw, data_cfg())
    assert out["id"].tolist() == ["1", "8"]
    assert report.dropped == {
        "empty_or_short_text": 2,
        "missing_label": 1,
        "unparseable_date": 1,
        "duplicate_id": 1,
        "duplicate_title": 1,
    }
    assert report.rows_in == 8 and report.rows_out == 2
    assert out.index.tolist() == [0, 1]


def test_first_occurrence_wins_on_duplicates(make_papers, data_cfg) -> None:
    raw = make_papers(
        [
            ("a", "First title", LONG, "cs.LG", "2021-01-01"),
            ("a", "Second title", LONG, "cs.CV", "2021-01-02"),
        ]
    )
    out, _ = validate_and_clean(raw, data_cfg())
    assert out["label"].tolist() == ["cs.LG"]


def test_empty_titles_are_not_duplicates_of_each_other(make_papers, data_cfg) -> None:
    raw = make_papers([("1", "", LONG, "cs.LG", "2021-01-01"), ("2", "", LONG + " x", "cs.LG", "2021-01-02")])
    out, report = validate_and_clean(raw, data_cfg())
    assert len(out) == 2 and "duplicate_title" not in report.dropped


def test_title_dedup_can_be_switched_off(make_papers, data_cfg) -> None:
    raw = make_papers([("1", "Same", LONG, "cs.LG", "2021-01-01"), ("2", "Same", LONG, "cs.LG", "2021-01-02")])
    assert len(validate_and_clean(raw, data_cfg())[0]) == 1
    assert len(validate_and_clean(raw, data_cfg(title_field=None))[0]) == 2


def test_no_id_field_gives_row_numbers(make_papers, data_cfg) -> None:
    raw = make_papers([("x", "Title one", LONG, "a", "2021-01-01"), ("x", "Title two", LONG, "b", "2021-01-01")])
    out, report = validate_and_clean(raw.drop(columns=["id"]), data_cfg(id_field=None))
    assert out["id"].tolist() == ["0", "1"]
    assert "duplicate_id" not in report.dropped


def test_label_aliases_are_applied(make_papers, data_cfg) -> None:
    raw = make_papers(
        [
            ("1", "Old paper", LONG, "cmp-lg", "1995-01-01"),
            ("2", "New paper", LONG, "cs.CL", "2021-01-01"),
            ("3", "Other paper", LONG, "funct-an", "1996-01-01"),
        ]
    )
    out, _ = validate_and_clean(raw, data_cfg(label_aliases={"cmp-lg": "cs.CL", "funct-an": "math.FA"}))
    assert out["label"].tolist() == ["cs.CL", "cs.CL", "math.FA"]


def test_nothing_left_is_an_error(make_papers, data_cfg) -> None:
    raw = make_papers([("1", "", "", "cs.LG", "2021-01-01")])
    with pytest.raises(DataError, match=r"no usable rows left.*empty_or_short_text"):
        validate_and_clean(raw, data_cfg())


def test_report_accumulates_over_two_files(make_papers, data_cfg) -> None:
    first = make_papers([("1", "Title one", LONG, "a", "2021-01-01"), ("2", "", "", "a", "2021-01-01")])
    second = make_papers([("3", "Title three", LONG, "b", "2021-01-01"), ("4", "", "", "b", "2021-01-01")])
    _, report = validate_and_clean(first, data_cfg())
    _, report = validate_and_clean(second, data_cfg(), report)
    assert report.rows_in == 4
    assert report.dropped == {"empty_or_short_text": 2}


def test_null_values_from_parquet_count_as_missing(data_cfg) -> None:
    raw = pd.DataFrame(
        {
            "id": ["1", "2"],
            "title": ["A real title", None],
            "summary": [LONG, LONG],
            "category": [None, "cs.LG"],
            "published_date": ["2021-01-01", "2021-01-02"],
        }
    )
    out, report = validate_and_clean(raw, data_cfg())
    assert report.dropped.get("missing_label") == 1
    assert "None" not in out["text"].iloc[0]


def test_validation_report_ignores_zero_drops() -> None:
    report = ValidationReport()
    report.drop("a", 0)
    report.drop("b", 2)
    report.drop("b", 3)
    assert report.dropped == {"b": 5}


def test_normalise_helpers() -> None:
    assert normalise_text("  a \t b\n\nc  ") == "a b c"
    assert join_text(["  Title ", "", "   ", "Abstract\ntext"]) == "Title\nAbstract text"
    assert normalise_title("Deep Learning: A Survey!") == normalise_title("deep   learning a survey")


def test_parse_dates_iso_and_fallback() -> None:
    iso = parse_dates(pd.Series(["2021-01-05", "2022-12-31", "garbage"]))
    assert iso.iloc[0] == pd.Timestamp("2021-01-05") and pd.isna(iso.iloc[2])
    mixed = parse_dates(pd.Series(["5 January 2021", "2021/02/03"]))
    assert mixed.tolist() == [pd.Timestamp("2021-01-05"), pd.Timestamp("2021-02-03")]


_PIECES = ["", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "a", "B", "xy", "é", "-", "0"]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 6)))


@pytest.mark.parametrize("n_columns", [1, 2, 3])
def test_join_columns_equals_join_text_rowwise(n_columns: int) -> None:
    rng = random.Random(n_columns)
    columns = [f"c{i}" for i in range(n_columns)]
    rows = [[_random_text(rng) for _ in columns] for _ in range(500)]
    # make sure the tricky cases are present: all empty, only whitespace, one side empty
    rows += [[""] * n_columns, [" \t\n"] * n_columns, ["a"] + [""] * (n_columns - 1), [""] * (n_columns - 1) + ["b"]]
    frame = pd.DataFrame(rows, columns=columns, dtype=str)
    vectorised = _join_columns(frame, columns).tolist()
    assert vectorised == [join_text(row) for row in rows]
