"""run.py fails fast, before any ZenML or data work, on bad options and bad config values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import run
from arxiv_classifier.config import BatchInferenceConfig, DeployRunConfig, RunConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--pipeline",
        "--config",
        "--no-cache",
        "--model",
        "--max-train",
        "--epochs",
        "--max-length",
        "--dataset-version",
        "--data-source",
        "--as-of",
        "--setup-stack",
        "--dashboard",
        "--mlflow-ui",
        "--set",
    ):
        assert option in out, f"{option} missing from --help"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pipelin", "train"], "unrecognized arguments: --pipelin"),
        (["--pipeline", "deploy-everything"], "invalid choice: 'deploy-everything'"),
        (["--pipeline", "train", "--epochs", "0"], "expected a positive integer, got 0"),
        (["--pipeline", "train", "--learning-rate", "fast"], "expected a positive number, got 'fast'"),
        (["--list-datasets", "--epochs", "2"], "only apply with --pipeline"),
        (["--pipeline", "deploy", "--epochs", "2"], "--epochs only apply with --pipeline train"),
        (["--pipeline", "deploy", "--data-source", "x.csv"], "--data-source only applies with --pipeline train"),
        (["--endpoint", "--set", "train.epochs=2"], "--set only apply with --pipeline or --doctor"),
        (["--pipeline", "train", "--set", "epochs"], "expected KEY=VALUE"),
        (["--pipeline", "train", "--set", "train.epochs=[2"], "the value of train.epochs is not valid YAML"),
        (["--pipeline", "train", "--epochs", "2", "--set", "train.epochs=3"], "train.epochs: given both by --set"),
        ([], "say what to do"),
    ],
)
def test_bad_options_exit_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_config_values_are_named_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  split: {strategy: weekly}\ntrain:\n  epoch: 3\n  max_length: 4\n")
    assert run.main(["--pipeline", "train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "data.split.strategy: Input should be 'date', 'window', 'given' or 'random'" in err
    assert "train.epoch: unknown field" in err
    assert "train.max_length" in err


def test_missing_data_says_how_to_point_elsewhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", "/nonexistent/data")
    assert run.main(["--pipeline", "train"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent/data/arxiv/papers.csv.gz not found" in err and "--data-source" in err


def _config(argv: list[str], pipeline: str) -> Any:
    return run.load_run_config(run.build_parser().parse_args(argv), pipeline)


def test_set_overrides_any_field_of_every_pipeline_config() -> None:
    train = _config(["--set", "train.epochs=2", "--set", "data.sample.max_train=8000", "--max-test", "9"], "train")
    assert isinstance(train, RunConfig)
    assert (train.train.epochs, train.data.sample.max_train, train.data.sample.max_test) == (2, 8000, 9)
    # YAML values: null clears a field, a list is a list, a date stays the text the field validates.
    train = _config(
        [
            "--set",
            "data.top_n_labels=null",
            "--set",
            "data.text_fields=[title]",
            "--set",
            "data.split.train_end=2022-06-01",
        ],
        "train",
    )
    assert (train.data.top_n_labels, train.data.text_fields, train.data.split.train_end) == (
        None,
        ["title"],
        "2022-06-01",
    )
    deploy = _config(["--set", "drift.current.max_rows=500", "--set", "serving.top_k=2"], "deploy")
    assert isinstance(deploy, DeployRunConfig)
    assert (deploy.drift.current.max_rows, deploy.serving.top_k) == (500, 2)
    batch = _config(["--set", "papers.max_rows=7", "--set", "top_k=1"], "batch-inference")
    assert isinstance(batch, BatchInferenceConfig)
    assert (batch.papers.max_rows, batch.top_k) == (7, 1)
    assert "${" not in batch.papers.source, "sources are expanded, as ZenML needs"


@pytest.mark.parametrize(
    ("argv", "messages"),
    [
        (
            ["--pipeline", "train", "--set", "train.epoch=2"],
            ["override 'train.epoch': train has no field 'epoch'", "epochs, eval_batch_size"],
        ),
        (["--pipeline", "train", "--set", "trian.epochs=2"], ["the top level has no field 'trian'", "train"]),
        (["--pipeline", "train", "--set", "train.epochs=0"], ["train.epochs: Input should be greater than or equal"]),
        (["--pipeline", "deploy", "--set", "drift.current.sauce=x"], ["drift.current has no field 'sauce'", "source"]),
        (["--pipeline", "batch-inference", "--set", "top_k=many"], ["top_k: Input should be a valid integer"]),
    ],
)
def test_bad_set_names_the_key_and_exits_2(
    argv: list[str], messages: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main(argv) == 2
    err = capsys.readouterr().err
    for message in messages:
        assert message in err


def test_doctor_checks_the_training_configs_data_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stacks import doctor

    checked: list[str | None] = []

    def diagnose(data_source: str | None = None) -> list[doctor.Finding]:
        checked.append(data_source)
        return [doctor.Finding("ok", "the stack is fine")]

    monkeypatch.setattr(doctor, "diagnose", diagnose)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert run.main(["--doctor"]) == 0
    assert run.main(["--doctor", "--data-source", "gs://bucket/papers.csv.gz"]) == 0
    quick = str(REPO_ROOT / "configs" / "train_quick.yaml")
    assert run.main(["--doctor", "--config", quick, "--set", "data.source=${DATA_DIR}/other.csv"]) == 0
    assert checked == [f"{tmp_path}/arxiv/papers.csv.gz", "gs://bucket/papers.csv.gz", f"{tmp_path}/other.csv"]
    assert "ready" in capsys.readouterr().out


def test_pipeline_failures_are_explained_by_exception_type() -> None:
    from deployers.errors import NoRunningDeployment
    from steps.deployment.deployment_gate import DeploymentBlocked

    def raised(inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise RuntimeError("step 'deployment_gate' failed") from exc
        except RuntimeError as outer:
            return outer

    assert run.failure_message(raised(DeploymentBlocked("3 of 5 checks drifted"))) == "3 of 5 checks drifted"
    assert run.failure_message(raised(NoRunningDeployment("nothing runs"))) == "nothing runs"

    class SmokeTestFailed(Exception):  # the name of ours, but not ours: no special treatment
        pass

    message = run.failure_message(raised(SmokeTestFailed("unrelated")))
    assert message == "step 'deployment_gate' failed (the failing step's message is above)"


def test_as_of_sets_data_as_of_of_a_window_config() -> None:
    recent = str(REPO_ROOT / "configs" / "train_recent.yaml")
    train = _config(["--config", recent, "--as-of", "2025-01-01"], "train")
    assert (train.data.split.strategy, train.data.as_of.isoformat()) == ("window", "2025-01-01")
    assert _config(["--config", recent], "train").data.as_of is None  # default: the day after the newest paper


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pipeline", "train", "--as-of", "2025-13-01"], "expected a date YYYY-MM-DD, got '2025-13-01'"),
        (["--pipeline", "train", "--as-of", "20250101"], "expected a date YYYY-MM-DD, got '20250101'"),
        (["--pipeline", "train", "--as-of", "2025-W01-1"], "expected a date YYYY-MM-DD"),
        (["--pipeline", "deploy", "--as-of", "2025-01-01"], "--as-of only apply with --pipeline train"),
        (
            ["--pipeline", "train", "--as-of", "2025-01-01", "--set", "data.as_of=2024-01-01"],
            "data.as_of: given both by --set and by its own option",
        ),
    ],
)
def test_bad_as_of_exits_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_as_of_with_the_fixed_date_split_says_which_config_to_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--pipeline", "train", "--as-of", "2025-01-01"]) == 2
    err = capsys.readouterr().err
    assert "data.as_of (2025-01-01) only applies to split.strategy 'window', not 'date'" in err
    assert "configs/train_recent.yaml" in err
