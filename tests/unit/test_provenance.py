"""Where an abstract came from: the provenance sidecar beside the source, or the text's look without it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from arxiv_classifier.constants import COL_TRUNCATED
from arxiv_classifier.data import (
    attach_provenance,
    looks_truncated,
    prepare_dataset,
    provenance_path,
    read_table,
    validate_and_clean,
)


@pytest.mark.parametrize(
    ("abstract", "cut"),
    [
        ("x" * 1000, True),  # cut at the feed's 1,000 characters
        ("x" * 987 + "  ", True),  # whitespace collapsed after the cut
        ("x" * 999 + ".", False),  # ends on a full stop: a whole abstract
        ("x" * 986, False),
        ("x" * 1001, False),  # longer than the feed keeps: not from it
        ("Short and whole.", False),
    ],
)
def test_looks_truncated(abstract: str, cut: bool) -> None:
    assert looks_truncated(pd.Series([abstract])).tolist() == [cut]


def _write(folder: Path, papers: pd.DataFrame, flags: dict[str, str] | None) -> str:
    source = folder / "papers.csv.gz"
    papers.to_csv(source, index=False)
    if flags is not None:
        sidecar = pd.DataFrame({"id": list(flags), "source": "qhduan", COL_TRUNCATED: list(flags.values())})
        sidecar.to_csv(folder / "papers_provenance.csv.gz", index=False)
    return str(source)


def test_the_sidecar_beside_the_source_is_attached_by_id(
    tmp_path: Path, dated_papers: pd.DataFrame, data_cfg: Callable[..., object]
) -> None:
    # The sidecar lists ids in another order and misses one; the source's abstracts all look whole.
    flags = {pid: ("True" if i % 3 == 0 else "False") for i, pid in enumerate(dated_papers["id"][::-1][:-1])}
    source = _write(tmp_path, dated_papers, flags)
    assert provenance_path(source) == tmp_path / "papers_provenance.csv.gz"
    table = attach_provenance(read_table(source), source, "id")
    expected = dated_papers["id"].map(lambda pid: flags.get(pid) == "True" if pid in flags else pd.NA)
    assert table[COL_TRUNCATED].tolist() == expected.tolist()
    clean, _ = validate_and_clean(table, data_cfg())  # type: ignore[arg-type]
    # The id the sidecar misses is judged by its text (a short, whole abstract: full).
    assert clean[COL_TRUNCATED].tolist() == expected.fillna(False).tolist()
    prepared = prepare_dataset(table, data_cfg())  # type: ignore[arg-type]
    assert COL_TRUNCATED in prepared.frame
    kept = prepared.frame.set_index("id")[COL_TRUNCATED]
    assert kept.to_dict() == {pid: bool(expected.fillna(False)[i]) for i, pid in enumerate(dated_papers["id"])}


def test_without_a_sidecar_nothing_is_attached(tmp_path: Path, dated_papers: pd.DataFrame) -> None:
    source = _write(tmp_path, dated_papers, None)
    assert provenance_path(source) is None
    assert provenance_path("gs://bucket/papers.csv.gz") is None
    table = read_table(source)
    assert attach_provenance(table, source, "id") is table
    assert attach_provenance(table, source, None) is table  # no id to match on
