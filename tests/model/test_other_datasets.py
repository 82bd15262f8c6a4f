"""The data layer and trainer are dataset-agnostic: banking77 and disaster tweets need only a config file."""

from __future__ import annotations

import numpy as np
import pytest

from arxiv_classifier.config import load_config, resolve_sources
from arxiv_classifier.constants import COL_LABEL, COL_TEXT
from arxiv_classifier.data import prepare_dataset, read_table
from arxiv_classifier.metrics import evaluation_report
from arxiv_classifier.modeling import build_classifier, settings_from_config, train_on_prepared
from tests.conftest import DATA_DIR, REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.data]


@pytest.mark.parametrize(("config_name", "n_labels"), [("banking77.yaml", 77), ("disaster_tweets.yaml", 2)])
def test_trains_from_a_config_change_only(config_name: str, n_labels: int) -> None:
    cfg = resolve_sources(
        load_config(
            REPO_ROOT / "configs" / config_name,
            {"data.sample.max_train": 600, "data.sample.max_validation": 100, "data.sample.max_test": 200},
        )
    )
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared datasets not found at {DATA_DIR}")
    raw = read_table(cfg.data.source)
    raw_test = read_table(cfg.data.test_source) if cfg.data.test_source else None
    prepared = prepare_dataset(raw, cfg.data, raw_test)
    assert len(prepared.labels) == n_labels
    test = prepared.split("test")
    clf = build_classifier(cfg.train.model, prepared.labels, max_length=32)
    settings = settings_from_config(cfg.train, show_progress=False)  # the config's own hyper-parameters
    result = train_on_prepared(clf, prepared.frame, settings)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    report = evaluation_report(test[COL_LABEL].tolist(), clf.predict_proba(test[COL_TEXT].tolist()), prepared.labels)
    majority = test[COL_LABEL].value_counts(normalize=True).iloc[0]
    # better than always answering the most frequent class
    assert report["overall"]["accuracy"] > majority, (report["overall"], majority)
    assert np.isfinite(report["overall"]["ece"])
