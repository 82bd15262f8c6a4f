"""read_table and source_fingerprint on files written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from arxiv_classifier.config import ConfigError
from arxiv_classifier.data import DataError, read_table, source_fingerprint

FRAME = pd.DataFrame(
    {"id": ["0704.0001", "2301.01234"], "title": ["NA", "null"], "category": ["cs.LG", "cs.CV"], "n": ["1", "2"]}
)


@pytest.mark.parametrize("name", ["papers.csv", "papers.csv.gz", "papers.CSV"])
def test_read_csv_keeps_strings(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    FRAME.to_csv(path, index=False)
    out = read_table(str(path))
    pd.testing.assert_frame_equal(out, FRAME)
    assert out["title"].tolist() == ["NA", "null"]  # not turned into NaN
    assert out["id"].iloc[0] == "0704.0001"  # not turned into a float


def test_read_tsv(tmp_path: Path) -> None:
    path = tmp_path / "papers.tsv.gz"
    FRAME.to_csv(path, index=False, sep="\t")
    pd.testing.assert_frame_equal(read_table(str(path)), FRAME)


def test_read_parquet(tmp_path: Path) -> None:
    path = tmp_path / "papers.parquet"
    FRAME.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(str(path)), FRAME)


def test_read_expands_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "arxiv").mkdir()
    FRAME.to_csv(tmp_path / "arxiv" / "papers.csv.gz", index=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert read_table("${DATA_DIR}/arxiv/papers.csv.gz")["id"].tolist() == FRAME["id"].tolist()


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "papers.json"
    path.write_text("{}")
    with pytest.raises(ConfigError, match=r"unsupported file type.*papers\.json.*\.csv"):
        read_table(str(path))


@pytest.mark.parametrize("source", ["s3://bucket/papers.csv", "ftp://host/papers.csv.gz"])
def test_unsupported_scheme(source: str) -> None:
    with pytest.raises(ConfigError, match="unsupported data source scheme"):
        read_table(source)


def test_missing_file_points_at_data_source_flag(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        read_table(str(tmp_path / "nope.csv.gz"))
    msg = str(exc.value)
    assert "nope.csv.gz" in msg
    assert "--data-source" in msg
    assert "DATA_DIR" in msg


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "papers.csv"
    FRAME.to_csv(path, index=False)
    first = source_fingerprint(str(path))
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert source_fingerprint(str(path)) == first
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    assert source_fingerprint(str(copy)) == first  # content, not location
    FRAME.assign(category="cs.AI").to_csv(path, index=False)
    assert source_fingerprint(str(path)) != first


def test_fingerprint_expands_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FRAME.to_csv(tmp_path / "p.csv", index=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert source_fingerprint("${DATA_DIR}/p.csv") == source_fingerprint(str(tmp_path / "p.csv"))


def test_fingerprint_of_missing_and_hub_sources(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.csv")
    assert source_fingerprint(missing) == f"missing:{missing}"
    assert source_fingerprint("hf://owner/name@test") == "unpinned:hf://owner/name@test"
