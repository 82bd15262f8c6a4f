"""Settings of the `gcp` stack: environment variables or a YAML file -> the placeholders of stacks/gcp.yaml.

`GcpSettings` reads `ARXIV_GCP_*` environment variables and, below them, a YAML settings file (named by
`ARXIV_GCP_SETTINGS` or `--gcp-settings`) whose keys are the same names or their short form
(`project: my-project`). `python run.py --setup-stack gcp` registers the stack with `setup_gcp_stack`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from stacks.registry import StackError, ensure_stack

STACK_NAME = "gcp"
PREFIX = "ARXIV_GCP_"
#: Environment variable naming the YAML settings file.
SETTINGS_ENV = "ARXIV_GCP_SETTINGS"
#: The ZenML secret holding the MLflow credentials (the `secrets:` section of gcp.yaml).
MLFLOW_SECRET = "arxiv_gcp_mlflow"  # nosec B105  # not a password

#: Settings checked for their form: (regular expression the whole value matches, what it should be).
_FORMATS = {
    "project": (r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "a project id (not its name or number)"),
    "region": (r"[a-z]+-[a-z]+[0-9]+", "a region such as us-central1 (not a zone)"),
    "bucket": (r"[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]", "a bucket name without gs:// or a path"),
    "service_account": (r"[^@\s]+@[^@\s]+", "a service account e-mail"),
    "mlflow_tracking_uri": (r"https?://\S+", "an http(s):// URL"),
    "seldon_base_url": (r"https?://\S+", "an http(s):// URL"),
}


class _SettingsFile(YamlConfigSettingsSource):
    """The YAML settings file, with keys in either form (`ARXIV_GCP_PROJECT` or `project`)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        self.path = settings_cls.model_config.get("yaml_file") or os.environ.get(SETTINGS_ENV) or None
        if self.path is not None:
            self.path = Path(str(self.path)).expanduser()
            if not self.path.is_file():
                raise StackError(
                    f"the gcp settings file {self.path} does not exist (set by {SETTINGS_ENV} or --gcp-settings)"
                )
        super().__init__(settings_cls, yaml_file=self.path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            loaded = yaml.safe_load(Path(file_path).read_text()) or {}
        except yaml.YAMLError as exc:
            raise StackError(f"the gcp settings file {file_path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise StackError(
                f"the gcp settings file {file_path} must be a mapping of settings, e.g. `project: my-project`"
            )
        short = (str(k).lower().replace("-", "_").removeprefix(PREFIX.lower()) for k in loaded)
        return {key: value for key, value in zip(short, loaded.values(), strict=True) if value is not None}


class GcpSettings(BaseSettings):
    """What the gcp stack needs to know about your project; each field is `ARXIV_GCP_<FIELD>`."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        coerce_numbers_to_str=True,
    )

    project: str = Field(description="GCP project id, e.g. my-project")
    region: str = Field(
        description="region of Vertex AI, the bucket and the Artifact Registry repository, e.g. us-central1"
    )
    bucket: str = Field(description="GCS bucket name (no gs://) for the artifact store, e.g. my-project-zenml")
    artifact_repo: str = Field(description="Docker repository in Artifact Registry, e.g. zenml")
    service_account: str = Field(
        description="service account the Vertex jobs run as, e.g. zenml@PROJECT.iam.gserviceaccount.com"
    )
    mlflow_tracking_uri: str = Field(description="remote MLflow tracking server, e.g. https://mlflow.example.com")
    mlflow_username: str | None = Field(
        None, description="MLflow user (with ARXIV_GCP_MLFLOW_PASSWORD), or set ARXIV_GCP_MLFLOW_TOKEN"
    )
    mlflow_password: str | None = Field(None, description="MLflow password (with ARXIV_GCP_MLFLOW_USERNAME)")
    # Declared after the user and password, and always validated: its validator checks the three together.
    mlflow_token: str | None = Field(
        None, validate_default=True, description="MLflow bearer token (instead of user and password)"
    )
    gke_context: str = Field(
        description="kubeconfig context of the GKE cluster with Seldon Core, e.g. gke_PROJECT_REGION_CLUSTER"
    )
    seldon_base_url: str = Field(description="base URL of the cluster's Seldon ingress, e.g. http://34.1.2.3")
    seldon_namespace: str | None = Field(None, description="namespace of the SeldonDeployments (default: seldon)")
    seldon_k8s_secret: str | None = Field(
        None, description="Kubernetes secret with GCS credentials for Seldon's storage initializer (optional)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # A variable set in the environment wins over the settings file.
        return init_settings, env_settings, _SettingsFile(settings_cls)

    @field_validator(*_FORMATS)
    @classmethod
    def _well_formed(cls, value: str, info: ValidationInfo) -> str:
        pattern, what = _FORMATS[str(info.field_name)]
        if not re.fullmatch(pattern, value):
            raise PydanticCustomError("malformed", "{value} is not {what}", {"value": repr(value), "what": what})
        return value

    @field_validator("mlflow_token")
    @classmethod
    def _credentials(cls, token: str | None, info: ValidationInfo) -> str | None:
        user, password = info.data.get("mlflow_username"), info.data.get("mlflow_password")
        if token or (user and password):
            return token
        if user or password:
            missing = env_name("mlflow_password" if user else "mlflow_username")
        else:
            missing = f"{env_name('mlflow_username')} + {env_name('mlflow_password')} (or {env_name('mlflow_token')})"
        raise PydanticCustomError("credentials", "{missing}", {"missing": missing})

    def as_variables(self) -> dict[str, str]:
        """The placeholders of stacks/gcp.yaml: `{"ARXIV_GCP_PROJECT": ..., ...}`, unset ones left out."""
        return {env_name(name): value for name, value in self.model_dump().items() if value is not None}


def env_name(field: str) -> str:
    """The environment variable of a setting: `project` -> `ARXIV_GCP_PROJECT`."""
    return PREFIX + field.upper()


#: What each setting is, by variable name; the header of stacks/gcp.yaml says the same.
SETTINGS_HELP: dict[str, str] = {
    env_name(name): field.description or "" for name, field in GcpSettings.model_fields.items()
}


def _explain(error: ValidationError, file: Path | None) -> str:
    """One message naming every missing, malformed and unknown setting at once."""
    problems, unknown = [], []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        if item["type"] == "extra_forbidden":
            unknown.append(field)
        elif item["type"] == "credentials":
            problems.append(f"  {item['ctx']['missing']:<32} MLflow credentials (stored in the secret {MLFLOW_SECRET})")
        elif item["type"] == "missing":
            problems.append(f"  {env_name(field):<32} {SETTINGS_HELP.get(env_name(field), '')}")
        else:
            problems.append(f"  {env_name(field):<32} {item['msg']}")
    parts = []
    if problems:
        source = f" or the settings file {file}" if file else f" or a YAML file named by {SETTINGS_ENV}"
        parts.append(
            "the gcp stack needs these settings (environment variables" + source + "):\n" + "\n".join(problems)
        )
    if unknown:
        known = ", ".join(GcpSettings.model_fields)
        parts.append(f"unknown settings in {file}: {', '.join(unknown)}; known: {known}")
    return "\n".join(parts)


def load_settings(settings_file: str | Path | None = None) -> GcpSettings:
    """The gcp stack's settings: the environment over the settings file.

    Args:
        settings_file: YAML settings file; default: the file named by ARXIV_GCP_SETTINGS, if set.

    Raises:
        StackError: naming every missing, malformed or unknown setting at once.
    """
    settings_cls: type[GcpSettings] = GcpSettings
    if settings_file is not None:
        # The file is part of the class's configuration in pydantic-settings; one subclass per file.
        config = SettingsConfigDict(yaml_file=Path(settings_file))
        settings_cls = type("GcpSettingsFromFile", (GcpSettings,), {"model_config": config})
    file = settings_file or os.environ.get(SETTINGS_ENV) or None
    try:
        return settings_cls()  # type: ignore[call-arg]  # the sources fill the fields
    except ValidationError as exc:
        raise StackError(_explain(exc, Path(file) if file else None)) from None


def resolve_settings(settings_file: str | Path | None = None) -> dict[str, str]:
    """The values of stacks/gcp.yaml's placeholders (`ARXIV_GCP_*` names), from `load_settings`."""
    return load_settings(settings_file).as_variables()


def setup_gcp_stack(settings_file: str | Path | None = None, activate: bool = True) -> list[str]:
    """Register the gcp stack (and the MLflow credentials secret) idempotently; optionally activate it.

    Returns:
        What was created or updated; empty when everything was already registered as described.

    Raises:
        StackError: settings are missing or malformed, or what is registered differs from the
            description (nothing is changed then; the message says how to reconcile).
    """
    return ensure_stack(STACK_NAME, activate=activate, variables=resolve_settings(settings_file))
