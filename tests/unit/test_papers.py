"""Loading incoming papers: date window, feed boilerplate, model labels, seeded sample (small CSVs in tmp_path)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from arxiv_classifier.config import CurrentDataConfig
from arxiv_classifier.data import DataError, join_text
from arxiv_classifier.papers import load_papers, sample_rows

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


def test_load_date_window_is_half_open(papers_csv: str) -> None:
    cfg = _cfg(papers_csv, date_field="first_seen", start=date(2025, 1, 1), end=date(2025, 2, 1))
    out = load_papers(cfg)
    assert out["id"].tolist() == ["p2", "p3", "p6"]  # 2024-12-31 and 2025-02-01 are outside
    assert pd.api.types.is_datetime64_any_dtype(out["date"])


def test_newest_months_keeps_the_last_months_before_the_newest_paper(papers_csv: str) -> None:
    """Today's traffic when the data lags today: the newest paper (2025-02-01) anchors the window."""
    out = load_papers(_cfg(papers_csv, date_field="first_seen", newest_months=1))
    assert out["id"].tolist() == ["p3", "p4", "p6"]  # [2025-01-02, 2025-02-02); p5 has no text
    # ... inside the date window: its newest paper anchors it (2025-01-21 -> from 2024-12-22)
    window = load_papers(_cfg(papers_csv, date_field="first_seen", end=date(2025, 2, 1), newest_months=1))
    assert window["id"].tolist() == ["p1", "p2", "p3", "p6"]


def test_newest_months_widen_until_they_hold_max_rows(papers_csv: str) -> None:
    """Over a gap in the data, the window grows back a month at a time to hold the sample it draws."""
    # [2025-01-02, 2025-02-02) holds 4 dated papers: enough for 4, so not widened
    assert set(load_papers(_cfg(papers_csv, date_field="first_seen", newest_months=1, max_rows=4))["id"]) == {
        "p3",
        "p4",
        "p6",
    }
    # 5 wanted: widened to [2024-12-02, ...), which holds p1 and p2 as well
    out = load_papers(_cfg(papers_csv, date_field="first_seen", newest_months=1, max_rows=5))
    assert set(out["id"]) == {"p1", "p2", "p3", "p4", "p6"}


def test_newest_months_need_a_date_field() -> None:
    with pytest.raises(ValueError, match=r"start/end/newest_months\) needs date_field"):
        CurrentDataConfig(newest_months=3)


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


def test_sample_rows_is_seeded_ordered_and_reindexed() -> None:
    frame = pd.DataFrame({"id": [f"p{i}" for i in range(50)]}, index=range(100, 150))
    a = sample_rows(frame, 10, seed=3)
    assert a.index.tolist() == list(range(10))
    assert a["id"].tolist() == sample_rows(frame, 10, seed=3)["id"].tolist()
    assert a["id"].tolist() == sorted(a["id"], key=lambda x: int(x[1:]))  # the frame's order is kept
    assert a["id"].tolist() != sample_rows(frame, 10, seed=4)["id"].tolist()
    assert sample_rows(frame, None, seed=3)["id"].tolist() == frame["id"].tolist()
    assert sample_rows(frame, 50, seed=3)["id"].tolist() == frame["id"].tolist()
