"""Read the configured source (and test source) into one raw table."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from arxiv_classifier.config import DataConfig
from arxiv_classifier.constants import COL_TRUNCATED, RAW_DATA
from arxiv_classifier.data import attach_provenance, read_table, required_columns

#: Marks which file a row came from when the split strategy is 'given'.
ORIGIN_COLUMN = "__origin__"


@step
def data_loader(config: DataConfig, fingerprint: str) -> Annotated[pd.DataFrame, RAW_DATA]:
    """Load the raw rows, keeping only the columns the configuration uses.

    Args:
        config: the data section of the run config.
        fingerprint: identity of the source's content (sha256, GCS generation); part of the
            cache key, so a changed file is read again while an unchanged one is not.
    """
    columns = required_columns(config, need_date=config.split.by_date)
    if config.title_field:
        columns = list(dict.fromkeys([*columns, config.title_field]))
    columns.append(COL_TRUNCATED)  # from the source's provenance sidecar, when it has one
    frames = []
    for origin, source in (("train", config.source), ("test", config.test_source)):
        if source is None:
            continue
        table = attach_provenance(read_table(source), source, config.id_field)
        table = table[[c for c in columns if c in table.columns] or list(table.columns)].copy()
        table[ORIGIN_COLUMN] = origin
        frames.append(table)
    raw = pd.concat(frames, ignore_index=True)
    log_metadata(metadata={"source": config.source, "fingerprint": fingerprint, "rows": len(raw)}, infer_artifact=True)
    return raw
