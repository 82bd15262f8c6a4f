"""Fixtures of the stack tests: fake GCP settings, and the session's active stack restored after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stacks.gcp_fakes import active_stack_restored, gcp_environment


@pytest.fixture
def gcp_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with gcp_environment(monkeypatch) as env:
        yield env


@pytest.fixture
def restore_active_stack() -> Iterator[str]:
    with active_stack_restored() as before:
        yield before
