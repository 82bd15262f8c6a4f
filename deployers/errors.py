"""What goes wrong when deploying, as exceptions a caller can match by type."""

from __future__ import annotations


class DeploymentError(RuntimeError):
    """Deployment cannot go on; the message says why and what to do."""


class NoRunningDeployment(DeploymentError):
    """No deployment of the model is running; the message says how to deploy or start one."""
