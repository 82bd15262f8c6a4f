"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

import pytest
from zenml.client import Client


@pytest.fixture(scope="module")
def delete_servers_afterwards(training_run):  # type: ignore[no-untyped-def]
    """Delete every model server a test module started, once the module is done."""
    yield
    deployer = Client().active_stack.model_deployer
    if deployer is not None:
        for service in deployer.find_model_server():
            deployer.delete_model_server(service.uuid, force=True)
