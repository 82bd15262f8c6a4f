"""Where the monitored papers carry labels: the production version's accuracy and macro-F1 against its test figures."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from zenml import get_step_context, step
from zenml.logger import get_logger

from arxiv_classifier.constants import COL_LABEL, COL_TEXT, DECAY
from steps.deployment._common import classifier_artifact

logger = get_logger(__name__)


@step(enable_cache=False)
def decay_evaluator(papers: pd.DataFrame, batch_size: int = 64) -> Annotated[dict[str, Any], DECAY]:
    """Score the labelled papers with the production version; `{}` when they carry no labels.

    The reference figures are the version's own `test` metadata (accuracy, macro-F1) written by the
    evaluator when it was trained.

    Args:
        papers: the monitored papers (`label` present only for labelled sources).
        batch_size: papers per forward pass.
    """
    from arxiv_classifier.monitoring import measure_decay

    if COL_LABEL not in papers.columns or papers.empty:
        return {}
    model = get_step_context().model
    classifier = classifier_artifact(model).load()
    proba = classifier.predict_proba(papers[COL_TEXT].tolist(), batch_size=batch_size)
    predicted = [classifier.labels[i] for i in proba.argmax(axis=1)]
    test = model.run_metadata.get("test")
    decay = measure_decay(
        papers[COL_LABEL].tolist(), predicted, classifier.labels, test if isinstance(test, dict) else None
    )
    logger.info(
        "Decay on %d labelled papers: accuracy %.3f (test %s), macro-F1 %.3f (test %s)",
        decay.n_labelled,
        decay.accuracy,
        decay.test_accuracy,
        decay.macro_f1,
        decay.test_macro_f1,
    )
    return decay.as_dict()
