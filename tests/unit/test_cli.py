"""run.py fails fast, before any ZenML or data work, on bad options and bad config values."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import run  # noqa: E402


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
        "--setup-stack",
        "--dashboard",
        "--mlflow-ui",
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
    assert "data.split.strategy: Input should be 'date', 'given' or 'random'" in err
    assert "train.epoch: unknown field" in err
    assert "train.max_length" in err


def test_missing_data_says_how_to_point_elsewhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", "/nonexistent/data")
    assert run.main(["--pipeline", "train"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent/data/arxiv/papers.csv.gz not found" in err and "--data-source" in err
