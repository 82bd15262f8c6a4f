"""Validate, split and label the raw rows into the versioned prepared dataset and its card."""

from typing import Annotated

import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType
from zenml.types import HTMLString

from arxiv_classifier.config import DataConfig
from arxiv_classifier.constants import DATASET_CARD, PREPARED_DATASET
from arxiv_classifier.data import prepare_dataset
from arxiv_classifier.reports import dataset_card_html
from steps.data.data_loader import ORIGIN_COLUMN


@step
def data_preparer(
    raw: pd.DataFrame, config: DataConfig
) -> tuple[
    Annotated[pd.DataFrame, ArtifactConfig(name=PREPARED_DATASET, artifact_type=ArtifactType.DATA)],
    Annotated[HTMLString, DATASET_CARD],
]:
    """Produce the prepared dataset (a new artifact version per content) and its dataset card."""
    train_raw = raw[raw[ORIGIN_COLUMN] == "train"].drop(columns=ORIGIN_COLUMN)
    test_raw = raw[raw[ORIGIN_COLUMN] == "test"].drop(columns=ORIGIN_COLUMN)
    prepared = prepare_dataset(train_raw, config, test_raw if len(test_raw) else None)
    metadata = prepared.metadata()
    print(
        f"Prepared dataset {metadata['content_hash'][:12]}: train={metadata['rows_train']} "
        f"validation={metadata['rows_validation']} test={metadata['rows_test']} labels={metadata['num_labels']}; "
        f"dropped {metadata['validation']['dropped']}"
    )
    log_metadata(metadata=metadata, artifact_name=PREPARED_DATASET, infer_artifact=True)
    return prepared.frame, HTMLString(dataset_card_html(prepared.frame, metadata))
