"""Argument handling and the bind patch of launch_local.py (the end-to-end run is in test_microservice.py)."""

from __future__ import annotations

import launch_local
import pytest
from seldon_core import gunicorn_utils


def test_seldon_args_pass_through_and_grpc_is_off_by_default() -> None:
    args, seldon = launch_local.split_argv(
        ["--host", "127.0.0.1", "--", "arxiv_model.ArxivClassifier", "--workers", "2"]
    )
    assert args.host == "127.0.0.1" and not args.daemon
    assert seldon == ["arxiv_model.ArxivClassifier", "--workers", "2", "--grpc-workers", "0"]
    _, seldon = launch_local.split_argv(["--", "m.M", "--grpc-workers=0"])
    assert seldon == ["m.M", "--grpc-workers=0"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--host", "127.0.0.1"], "after '--'"),
        (["--daemon", "--log-file", "l", "--", "m.M"], "--daemon needs"),
        (["--", "m.M", "--debug"], "binds 0.0.0.0"),
        (["--", "m.M", "--grpc-workers", "2"], "REST only"),
    ],
)
def test_unsafe_or_incomplete_arguments_are_refused(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        launch_local.split_argv(argv)
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize(("host", "bind"), [("127.0.0.1", "127.0.0.1:9000"), ("::1", "[::1]:9000")])
def test_gunicorn_binds_the_given_host(host: str, bind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = gunicorn_utils.StandaloneApplication.load_config
    monkeypatch.setattr(gunicorn_utils.StandaloneApplication, "load_config", original)  # undone after the test
    launch_local.bind_gunicorn_to(host)
    app = gunicorn_utils.StandaloneApplication(None, options={"bind": "0.0.0.0:9000", "workers": 1})
    assert app.cfg.bind == [bind]
