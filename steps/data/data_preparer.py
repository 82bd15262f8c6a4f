"""Validate, split and label the raw rows into the versioned prepared dataset and its card."""

import html
from typing import Annotated, Any

import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType
from zenml.types import HTMLString

from arxiv_classifier.config import DataConfig
from arxiv_classifier.constants import DATASET_CARD, PREPARED_DATASET, SPLITS
from arxiv_classifier.data import prepare_dataset
from arxiv_classifier.reports import dataset_card_html
from steps.data.data_loader import ORIGIN_COLUMN


def window_line(window: dict[str, Any]) -> str:
    """One line naming each split's date range, e.g. `as_of 2025-01-01: train [2021-07-01, 2024-07-01) ...`."""
    ranges = " ".join(f"{s} [{window[s][0] or '...'}, {window[s][1] or '...'})" for s in SPLITS)
    return f"as_of {window['as_of']}: {ranges}" if window.get("as_of") else ranges


@step
def data_preparer(
    raw: pd.DataFrame, config: DataConfig
) -> tuple[
    Annotated[pd.DataFrame, ArtifactConfig(name=PREPARED_DATASET, artifact_type=ArtifactType.DATA)],
    Annotated[HTMLString, DATASET_CARD],
]:
    """Produce the prepared dataset (a new artifact version per content) and its dataset card.

    The dataset's metadata carries `data_window` for the date-based splits, so the model history
    and the replay can show which period each version was trained and tested on.
    """
    train_raw = raw[raw[ORIGIN_COLUMN] == "train"].drop(columns=ORIGIN_COLUMN)
    test_raw = raw[raw[ORIGIN_COLUMN] == "test"].drop(columns=ORIGIN_COLUMN)
    prepared = prepare_dataset(train_raw, config, test_raw if len(test_raw) else None)
    metadata = prepared.metadata()
    window = metadata.get("data_window")
    print(
        f"Prepared dataset {metadata['content_hash'][:12]}: train={metadata['rows_train']} "
        f"validation={metadata['rows_validation']} test={metadata['rows_test']} labels={metadata['num_labels']}; "
        f"dropped {metadata['validation']['dropped']}" + (f"; window {window_line(window)}" if window else "")
    )
    log_metadata(metadata=metadata, artifact_name=PREPARED_DATASET, infer_artifact=True)
    card = dataset_card_html(prepared.frame, metadata)
    if window:
        card += f"\n<h3>Data window</h3>\n<p>{html.escape(window_line(window))} (each range is [start, end))</p>"
    return prepared.frame, HTMLString(card)
