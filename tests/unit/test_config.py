"""Config loading and validation: YAML -> RunConfig, with user-facing ConfigError messages."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from arxiv_classifier.config import (
    DEFAULT_DATA_DIR,
    REPO_ROOT,
    ConfigError,
    RunConfig,
    expand_path_vars,
    load_config,
    resolve_sources,
)

CONFIG_FILES = sorted((REPO_ROOT / "configs").glob("*.yaml"))


def test_defaults_validate() -> None:
    cfg = load_config()
    assert isinstance(cfg, RunConfig)
    assert cfg.data.split.strategy == "date"
    assert cfg.data.split.train_end < cfg.data.split.test_start
    assert cfg.data.source == "${DATA_DIR}/arxiv/papers.csv.gz"
    assert cfg == RunConfig()


def test_configs_folder_is_not_empty() -> None:
    names = {p.name for p in CONFIG_FILES}
    assert {"train.yaml", "train_quick.yaml", "banking77.yaml", "disaster_tweets.yaml"} <= names


def schema_of(path: Path) -> type:
    """Which pipeline a shipped config is for, by its name (as run.py's defaults are named)."""
    from arxiv_classifier.config import BatchInferenceConfig, DeployRunConfig, MonitorRunConfig, ReplayConfig

    if path.name.startswith("replay"):
        return ReplayConfig
    if path.name.startswith("monitor"):
        return MonitorRunConfig
    if path.name.startswith("deploy"):
        return DeployRunConfig
    if path.name.startswith("batch_inference"):
        return BatchInferenceConfig
    return RunConfig


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    schema = schema_of(path)
    cfg = load_config(path, None, schema)
    assert isinstance(cfg, schema)
    assert cfg.model_name
    if isinstance(cfg, RunConfig):
        assert expand_path_vars(cfg.data.source)  # no variable other than ${DATA_DIR}
    elif schema.__name__ == "ReplayConfig":
        assert expand_path_vars(cfg.papers.source)
        for linked in (cfg.train_config, cfg.monitor_config, cfg.deploy_config):
            assert (REPO_ROOT / linked).is_file(), linked
    else:
        for papers in (cfg.drift.current, getattr(cfg, "papers", cfg.drift.current)):
            assert expand_path_vars(papers.source)


def test_deploy_configs_gate_by_default_and_never_override() -> None:
    from arxiv_classifier.config import DeployRunConfig

    for path in CONFIG_FILES:
        if schema_of(path) is DeployRunConfig:
            cfg = load_config(path, None, DeployRunConfig)
            assert cfg.drift.override_reason is None, f"{path.name} must not ship an override"
            assert 0 < cfg.drift.max_drifted_share <= 0.5


def test_override_reason_must_say_something() -> None:
    from arxiv_classifier.config import ConfigError, DeployRunConfig

    with pytest.raises(ConfigError, match="override_reason"):
        load_config(None, {"drift.override_reason": "yes"}, DeployRunConfig)


def test_shipped_configs_carry_their_intent() -> None:
    banking = load_config(REPO_ROOT / "configs" / "banking77.yaml")
    assert banking.data.split.strategy == "given"
    assert banking.data.test_source is not None and banking.data.id_field is None
    tweets = load_config(REPO_ROOT / "configs" / "disaster_tweets.yaml")
    assert tweets.data.split.strategy == "random"
    assert tweets.promotion.metric == "macro_f1"
    train = load_config(REPO_ROOT / "configs" / "train.yaml")
    assert train.data.label_aliases["cmp-lg"] == "cs.CL"
    assert (train.data.sample.max_train, train.data.sample.max_validation, train.data.sample.max_test) == (
        4000,
        800,
        2000,
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_unknown_field_names_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "data:\n  sorce: x.csv\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "data.sorce" in msg
    assert "unknown field" in msg
    assert str(path) in msg


def test_unknown_top_level_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"trian: unknown field"):
        load_config(_write(tmp_path, "trian: {epochs: 2}\n"))


def test_invalid_literal_names_field_and_allowed_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, "data:\n  split: {strategy: weekly}\n"))
    msg = str(exc.value)
    assert "data.split.strategy" in msg
    for allowed in ("'date'", "'given'", "'random'"):
        assert allowed in msg


@pytest.mark.parametrize("bad", ["2023/01/01", "01-01-2023", "2023-1-1", "yesterday"])
def test_bad_date_format(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"data\.split\.train_end: .*expected an ISO date YYYY-MM-DD"):
        load_config(overrides={"data.split.train_end": bad})


def test_impossible_date_is_rejected_up_front() -> None:
    try:
        load_config(overrides={"data.split.train_end": "2023-02-30"})
    except ConfigError as exc:
        assert "train_end" in str(exc)
    else:
        raise AssertionError("2023-02-30 was accepted")


def test_train_end_after_test_start_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"train_end \(2025-01-01\) must not be after test_start \(2024-01-01\)"):
        load_config(overrides={"data.split.train_end": "2025-01-01"})


def test_given_split_needs_test_source() -> None:
    with pytest.raises(ConfigError, match=r"needs data\.test_source"):
        load_config(overrides={"data.split.strategy": "given"})


def test_date_split_needs_date_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs data\.date_field"):
        load_config(_write(tmp_path, "data: {date_field: null}\n"))


def test_out_of_range_number_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"train\.epochs: .*greater than or equal to 1"):
        load_config(overrides={"train.epochs": 0})


def test_dotted_overrides_apply_on_top_of_the_file() -> None:
    path = REPO_ROOT / "configs" / "train.yaml"
    cfg = load_config(path, {"train.epochs": 3, "data.sample.max_train": 10, "promotion.metric": "macro_f1"})
    assert cfg.train.epochs == 3
    assert cfg.data.sample.max_train == 10
    assert cfg.promotion.metric == "macro_f1"
    # untouched values still come from the file
    assert cfg.data.sample.max_test == 2000
    assert cfg.train.batch_size == load_config(path).train.batch_size


def test_none_overrides_are_ignored() -> None:
    path = REPO_ROOT / "configs" / "train.yaml"
    cfg = load_config(path, {"data.sample.max_train": None, "train.epochs": None})
    assert cfg == load_config(path)


def test_override_errors_mention_overrides() -> None:
    with pytest.raises(ConfigError, match="command-line overrides"):
        load_config(overrides={"train.device": "tpu"})


def test_override_through_a_scalar_is_an_error() -> None:
    with pytest.raises(ConfigError, match="model_name is not a section"):
        load_config(REPO_ROOT / "configs" / "train.yaml", {"model_name.sub": 1})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("no/such/config.yaml")


def test_non_mapping_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(_write(tmp_path, "- just\n- a list\n"))


def test_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "data: {source: [unclosed\n"))


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")) == RunConfig()


def test_configs_are_frozen() -> None:
    cfg = load_config()
    with pytest.raises(pydantic.ValidationError):
        cfg.train.epochs = 5  # type: ignore[misc]


def test_expand_data_dir_defaults_to_shared_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_DIR", raising=False)
    assert REPO_ROOT.parent / "shared" / "data" == DEFAULT_DATA_DIR
    assert expand_path_vars("${DATA_DIR}/arxiv/papers.csv.gz") == f"{DEFAULT_DATA_DIR}/arxiv/papers.csv.gz"


def test_expand_data_dir_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "/elsewhere")
    monkeypatch.setenv("SPLIT_NAME", "test")
    assert expand_path_vars("${DATA_DIR}/b77/${SPLIT_NAME}.csv") == "/elsewhere/b77/test.csv"


def test_expand_leaves_plain_strings_alone() -> None:
    assert expand_path_vars("gs://bucket/papers.csv.gz") == "gs://bucket/papers.csv.gz"


def test_expand_unset_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARXIV_TEST_UNSET_VAR", raising=False)
    with pytest.raises(ConfigError, match=r"\$\{ARXIV_TEST_UNSET_VAR\}.*not set"):
        expand_path_vars("${ARXIV_TEST_UNSET_VAR}/x.csv")


def test_resolve_sources_expands_both_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "/data")
    cfg = resolve_sources(load_config(REPO_ROOT / "configs" / "banking77.yaml"))
    assert cfg.data.source == "/data/banking77/train.csv"
    assert cfg.data.test_source == "/data/banking77/test.csv"
    assert resolve_sources(load_config()).data.test_source is None


def test_extends_merges_over_the_base_file(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("data: {top_n_labels: 7, seed: 3}\ntrain: {epochs: 2}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ndata: {top_n_labels: 4}\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert (cfg.data.top_n_labels, cfg.data.seed, cfg.train.epochs) == (4, 3, 2)


def test_extends_cycle_and_missing_base_are_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "c.yaml")


def test_every_training_loop_setting_comes_from_the_config() -> None:
    import dataclasses

    from arxiv_classifier.modeling import TrainSettings, settings_from_config

    # checkpoint_dir is derived by the step (the artifact store and the inputs); `train.checkpoint` switches it.
    loop_fields = {f.name for f in dataclasses.fields(TrainSettings)} - {"show_progress", "checkpoint_dir"}
    assert loop_fields <= set(load_config().train.model_dump()), "a loop setting has no config field"
    assert load_config().train.checkpoint is True
    cfg = load_config(overrides={"train.epochs": 3, "train.learning_rate": 0.002, "train.freeze_backbone": True})
    settings = settings_from_config(cfg.train, show_progress=False)
    assert (settings.epochs, settings.learning_rate, settings.freeze_backbone) == (3, 0.002, True)


def test_parse_override_reads_the_value_as_yaml() -> None:
    from arxiv_classifier.config import parse_override

    assert parse_override("train.epochs=2") == ("train.epochs", 2)
    # YAML 1.1 reads 5e-5 as text; the float field takes it as a config file's value would be taken.
    assert load_config(None, None, None, [parse_override("train.learning_rate=5e-5")]).train.learning_rate == 5e-5
    assert parse_override("train.learning_rate=0.5") == ("train.learning_rate", 0.5)
    assert parse_override("data.text_fields=[title, summary]") == ("data.text_fields", ["title", "summary"])
    assert parse_override("data.test_source=null") == ("data.test_source", None)
    assert parse_override("drift.override_reason=a=b") == ("drift.override_reason", "a=b")
    assert parse_override("data.split.train_end=2022-06-01") == ("data.split.train_end", "2022-06-01")
    for bad in ("train.epochs", "=2", "train..epochs=2", "train.epochs=[2"):
        with pytest.raises(ConfigError):
            parse_override(bad)


def test_assignments_validate_like_the_file_and_may_clear_a_field() -> None:
    from arxiv_classifier.config import parse_override

    path = REPO_ROOT / "configs" / "train.yaml"
    sets = [parse_override(t) for t in ("data.sample.max_train=null", "data.label_aliases.q-bio=q-bio.QM")]
    cfg = load_config(path, {"train.epochs": 3}, None, sets)
    assert cfg.data.sample.max_train is None, "an explicit null is applied, unlike a shortcut left unset"
    assert cfg.data.label_aliases["q-bio"] == "q-bio.QM", "keys below a mapping field are the user's"
    assert cfg.train.epochs == 3
    with pytest.raises(ConfigError, match=r"override 'train\.epochs\.max': train\.epochs is not a section"):
        load_config(path, None, None, [("train.epochs.max", 1)])
    with pytest.raises(ConfigError, match=r"resources has no field 'gpus'; its fields are: cpu_count, gpu_count"):
        load_config(path, None, None, [("resources.gpus", 1)])
    assert load_config(path, None, None, [("resources.gpu_count", 1)]).resources is not None


def test_unknown_field_lists_the_fields_of_its_section(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"data\.split\.train_ed: unknown field .*fields of data\.split are: .*strategy"
    ):
        load_config(_write(tmp_path, "data:\n  split: {train_ed: 2020-01-01}\n"))


def test_resolve_sources_expands_deploy_and_batch_inference_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    from arxiv_classifier.config import BatchInferenceConfig, DeployRunConfig

    monkeypatch.setenv("DATA_DIR", "/data")
    deploy = resolve_sources(load_config(REPO_ROOT / "configs" / "deploy.yaml", None, DeployRunConfig))
    assert deploy.drift.current.source.startswith("/data/")
    batch = resolve_sources(load_config(REPO_ROOT / "configs" / "batch_inference.yaml", None, BatchInferenceConfig))
    assert batch.papers.source.startswith("/data/") and batch.drift.current.source.startswith("/data/")


def test_serving_format_and_the_removed_quantize_switch(tmp_path: Path) -> None:
    from arxiv_classifier.config import DeployRunConfig, ServingConfig

    serving = ServingConfig()
    assert serving.format == "auto" and (serving.int8_max_accuracy_drop, serving.int8_max_macro_f1_drop) == (1.0, 1.5)
    assert ServingConfig(torch_threads=2).inference_threads == 2  # the former name still reads
    cfg = tmp_path / "deploy.yaml"
    cfg.write_text("serving: {quantize: true}\n")
    with pytest.raises(ConfigError, match=r"serving\.quantize was removed.*serving\.format: onnx-int8"):
        load_config(cfg, None, DeployRunConfig)
    cfg.write_text("serving: {format: onnx}\n")
    with pytest.raises(ConfigError, match="format"):
        load_config(cfg, None, DeployRunConfig)
