"""Read the incoming papers a batch run scores (and checks for drift)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import get_step_context, log_metadata, step

from arxiv_classifier.config import CurrentDataConfig, resolve_papers_source
from arxiv_classifier.constants import INCOMING_PAPERS
from steps.deployment._common import classifier_artifact


@step(enable_cache=False)
def papers_loader(config: CurrentDataConfig) -> Annotated[pd.DataFrame, INCOMING_PAPERS]:
    """Incoming papers with their joined model text (same text preparation as training)."""
    from arxiv_classifier.papers import load_papers

    labels = None
    if config.restrict_to_model_labels:
        labels = classifier_artifact(get_step_context().model).load().labels
    papers = load_papers(resolve_papers_source(config), labels)
    log_metadata(metadata={"rows": len(papers), "source": config.source}, infer_artifact=True)
    return papers
