"""Settings of the `gcp` stack: environment variables or a YAML file -> the placeholders of stacks/gcp.yaml.

`python run.py --setup-stack gcp` registers the stack through `stacks.registry.ensure_stack`, whose
description names `resolve_settings` as its `variables_from`; `setup_gcp_stack` does the same with an
explicit settings file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from stacks.registry import StackError, ensure_stack, stack_variables

STACK_NAME = "gcp"
PREFIX = "ARXIV_GCP_"
#: Environment variable naming the YAML settings file.
SETTINGS_ENV = "ARXIV_GCP_SETTINGS"
#: The ZenML secret holding the MLflow credentials (the `secrets:` section of gcp.yaml).
MLFLOW_SECRET = "arxiv_gcp_mlflow"

#: What each setting is; the header of stacks/gcp.yaml says the same.
SETTINGS_HELP: dict[str, str] = {
    "ARXIV_GCP_PROJECT": "GCP project id, e.g. my-project",
    "ARXIV_GCP_REGION": "region of Vertex AI, the bucket and the Artifact Registry repository, e.g. us-central1",
    "ARXIV_GCP_BUCKET": "GCS bucket name (no gs://) for the artifact store, e.g. my-project-zenml",
    "ARXIV_GCP_ARTIFACT_REPO": "Docker repository in Artifact Registry, e.g. zenml",
    "ARXIV_GCP_SERVICE_ACCOUNT": "service account the Vertex jobs run as, e.g. zenml@PROJECT.iam.gserviceaccount.com",
    "ARXIV_GCP_MLFLOW_TRACKING_URI": "remote MLflow tracking server, e.g. https://mlflow.example.com",
    "ARXIV_GCP_MLFLOW_USERNAME": "MLflow user (with ARXIV_GCP_MLFLOW_PASSWORD), or set ARXIV_GCP_MLFLOW_TOKEN",
    "ARXIV_GCP_MLFLOW_PASSWORD": "MLflow password (with ARXIV_GCP_MLFLOW_USERNAME)",
    "ARXIV_GCP_MLFLOW_TOKEN": "MLflow bearer token (instead of user and password)",
    "ARXIV_GCP_GKE_CONTEXT": "kubeconfig context of the GKE cluster with Seldon Core, e.g. gke_PROJECT_REGION_CLUSTER",
    "ARXIV_GCP_SELDON_BASE_URL": "base URL of the cluster's Seldon ingress, e.g. http://34.1.2.3",
    "ARXIV_GCP_SELDON_NAMESPACE": "namespace of the SeldonDeployments (default: seldon)",
    "ARXIV_GCP_SELDON_K8S_SECRET": "Kubernetes secret with GCS credentials for Seldon's storage initializer (optional)",
}
_CREDENTIALS = ("ARXIV_GCP_MLFLOW_USERNAME", "ARXIV_GCP_MLFLOW_PASSWORD", "ARXIV_GCP_MLFLOW_TOKEN")


def _read_settings_file(path: Path) -> dict[str, str]:
    """A YAML mapping of settings; keys are the variable names or their short form (`project`)."""
    if not path.is_file():
        raise StackError(f"the gcp settings file {path} does not exist (set by {SETTINGS_ENV} or --gcp-settings)")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackError(f"the gcp settings file {path} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise StackError(f"the gcp settings file {path} must be a mapping of settings, e.g. `project: my-project`")
    settings: dict[str, str] = {}
    unknown = []
    for key, value in loaded.items():
        name = str(key).upper().replace("-", "_")
        name = name if name.startswith(PREFIX) else PREFIX + name
        if name not in SETTINGS_HELP:
            unknown.append(str(key))
        elif value is not None:
            settings[name] = str(value)
    if unknown:
        raise StackError(
            f"unknown settings in {path}: {', '.join(unknown)}; known: "
            + ", ".join(n.removeprefix(PREFIX).lower() for n in SETTINGS_HELP)
        )
    return settings


def resolve_settings(
    settings_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The gcp stack's settings: the settings file (if any) overlaid with the environment.

    Args:
        settings_file: YAML settings file; default: the file named by ARXIV_GCP_SETTINGS, if set.
        environ: the environment (default: os.environ).

    Raises:
        StackError: naming every missing or malformed setting at once.
    """
    env = os.environ if environ is None else environ
    file = settings_file or env.get(SETTINGS_ENV)
    settings = _read_settings_file(Path(file).expanduser()) if file else {}
    settings.update({k: v for k, v in env.items() if k in SETTINGS_HELP and v.strip()})
    settings = {k: v.strip() for k, v in settings.items()}

    required, _optional = stack_variables(STACK_NAME)
    missing = [name for name in required if not settings.get(name)]
    user, password, token = (settings.get(n) for n in _CREDENTIALS)
    if not token and not (user and password):
        if user or password:
            missing.append("ARXIV_GCP_MLFLOW_PASSWORD" if user else "ARXIV_GCP_MLFLOW_USERNAME")
        else:
            missing.append("ARXIV_GCP_MLFLOW_USERNAME + ARXIV_GCP_MLFLOW_PASSWORD (or ARXIV_GCP_MLFLOW_TOKEN)")
    problems = [f"  {name:<32} {SETTINGS_HELP.get(name.split(' ')[0], '')}" for name in missing]
    problems += _malformed(settings)
    if problems:
        source = f" or the settings file {file}" if file else f" or a YAML file named by {SETTINGS_ENV}"
        raise StackError(
            "the gcp stack needs these settings (environment variables" + source + "):\n" + "\n".join(problems)
        )
    return settings


def _malformed(settings: Mapping[str, str]) -> list[str]:
    checks = {
        "ARXIV_GCP_BUCKET": (r"[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]", "a bucket name without gs:// or a path"),
        "ARXIV_GCP_REGION": (r"[a-z]+-[a-z]+[0-9]+", "a region such as us-central1 (not a zone)"),
        "ARXIV_GCP_MLFLOW_TRACKING_URI": (r"https?://\S+", "an http(s):// URL"),
        "ARXIV_GCP_SELDON_BASE_URL": (r"https?://\S+", "an http(s):// URL"),
        "ARXIV_GCP_SERVICE_ACCOUNT": (r"[^@\s]+@[^@\s]+", "a service account e-mail"),
        "ARXIV_GCP_PROJECT": (r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "a project id (not its name or number)"),
    }
    return [
        f"  {name:<32} {settings[name]!r} is not {what}"
        for name, (pattern, what) in checks.items()
        if settings.get(name) and not re.fullmatch(pattern, settings[name])
    ]


def setup_gcp_stack(settings_file: str | Path | None = None, activate: bool = True) -> list[str]:
    """Register the gcp stack (and the MLflow credentials secret) idempotently; optionally activate it.

    Returns:
        What was created or updated; empty when everything was already registered as described.

    Raises:
        StackError: settings are missing or malformed, or what is registered differs from the
            description (nothing is changed then; the message says how to reconcile).
    """
    return ensure_stack(STACK_NAME, activate=activate, variables=resolve_settings(settings_file))
