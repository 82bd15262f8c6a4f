"""Shared fixtures of the unit tests: small hand-made frames and configs, no real data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from arxiv_classifier.config import DataConfig

PAPER_COLUMNS = ["id", "title", "summary", "category", "published_date"]


def _papers(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    """Rows of (id, title, summary, category, published_date) as an all-string frame (like read_table)."""
    return pd.DataFrame(rows, columns=PAPER_COLUMNS, dtype=str)


def _data_cfg(**fields: Any) -> DataConfig:
    """A DataConfig from plain values (nested sections as dicts), validated like a YAML file."""
    return DataConfig.model_validate(fields)


@pytest.fixture
def make_papers() -> Callable[[list[tuple[str, str, str, str, str]]], pd.DataFrame]:
    return _papers


@pytest.fixture
def data_cfg() -> Callable[..., DataConfig]:
    return _data_cfg


@pytest.fixture
def dated_papers() -> pd.DataFrame:
    """30 clean papers: 10 per year 2021/2023/2025 (train/validation/test under the default cutoffs)."""
    rows = []
    for year in (2021, 2023, 2025):
        for i in range(10):
            label = "cs.LG" if i % 2 else "cs.CV"
            rows.append(
                (
                    f"{year}.{i:05d}",
                    f"Paper {i} of {year} about {label}",
                    f"An abstract of sufficient length, number {i}, year {year}.",
                    label,
                    f"{year}-0{1 + i % 9}-1{i % 10}",
                )
            )
    return _papers(rows)
