"""Fixtures of the data tests: the real datasets under DATA_DIR (default <repo>/../shared/data).

Each file is read once per session, and each prepared dataset is built once per session.
Every test here skips, saying why, when the data folder or the file it needs is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from arxiv_classifier.config import RunConfig, SampleConfig, load_config, resolve_sources
from arxiv_classifier.data import PreparedData, prepare_dataset, read_table

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "configs"


def _data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR") or REPO_ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (set DATA_DIR to the folder holding arxiv/, banking77/, ...)")
    return path


def _config(name: str, data_dir: Path) -> RunConfig:
    """configs/<name> with ${DATA_DIR} resolved to `data_dir`; skips if a source file is missing."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATA_DIR", str(data_dir))
        cfg = resolve_sources(load_config(CONFIGS / name))
    for source in (cfg.data.source, cfg.data.test_source):
        if source and not Path(source).is_file():
            pytest.skip(f"{source} (needed by configs/{name}) is absent")
    return cfg


def without_caps(cfg: RunConfig) -> RunConfig:
    """The same run with every split kept whole (load_config ignores None overrides, hence model_copy)."""
    sample = cfg.data.sample.model_copy(update={"max_train": None, "max_validation": None, "max_test": None})
    assert sample == SampleConfig(strategy=cfg.data.sample.strategy)
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"sample": sample})})


# ---------------------------------------------------------------------------------------- arXiv


@pytest.fixture(scope="session")
def arxiv_cfg(data_dir: Path) -> RunConfig:
    """configs/train.yaml, the default training run (with its sample caps)."""
    return _config("train.yaml", data_dir)


@pytest.fixture(scope="session")
def arxiv_raw(arxiv_cfg: RunConfig) -> pd.DataFrame:
    return read_table(arxiv_cfg.data.source)


@pytest.fixture(scope="session")
def arxiv_prepared(arxiv_raw: pd.DataFrame, arxiv_cfg: RunConfig) -> PreparedData:
    """The default run's prepared dataset with the sample caps removed (every row of the top-10 labels)."""
    return prepare_dataset(arxiv_raw, without_caps(arxiv_cfg).data)


# ---------------------------------------------------------------------------------------- banking77


@pytest.fixture(scope="session")
def banking77_cfg(data_dir: Path) -> RunConfig:
    return _config("banking77.yaml", data_dir)


@pytest.fixture(scope="session")
def banking77_raw(banking77_cfg: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    assert banking77_cfg.data.test_source is not None
    return read_table(banking77_cfg.data.source), read_table(banking77_cfg.data.test_source)


# ---------------------------------------------------------------------------------------- disaster tweets


@pytest.fixture(scope="session")
def tweets_cfg(data_dir: Path) -> RunConfig:
    return _config("disaster_tweets.yaml", data_dir)


@pytest.fixture(scope="session")
def tweets_raw(tweets_cfg: RunConfig) -> pd.DataFrame:
    return read_table(tweets_cfg.data.source)


@pytest.fixture(scope="session")
def banking77_prepared(banking77_raw: tuple[pd.DataFrame, pd.DataFrame], banking77_cfg: RunConfig) -> PreparedData:
    train, test = banking77_raw
    return prepare_dataset(train, without_caps(banking77_cfg).data, test)


@pytest.fixture(scope="session")
def tweets_prepared(tweets_raw: pd.DataFrame, tweets_cfg: RunConfig) -> PreparedData:
    return prepare_dataset(tweets_raw, without_caps(tweets_cfg).data)


def assert_split_sizes_equal_caps(prepared: PreparedData, cfg: RunConfig) -> None:
    """Each split of `prepared` has exactly the config's sample cap rows."""
    sample = cfg.data.sample
    counts = prepared.frame["split"].value_counts()
    assert (counts["train"], counts["validation"], counts["test"]) == (
        sample.max_train,
        sample.max_validation,
        sample.max_test,
    )
