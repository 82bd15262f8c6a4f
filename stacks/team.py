"""Settings of the `team` stack: where its servers listen and keep their data, and the stack's placeholders.

The team stack is the step between `local` and `gcp`: one shared ZenML server (on MariaDB), one MLflow
tracking server (on PostgreSQL, with authentication, artifacts proxied to the bucket) and a bucket
(gcp-storage-emulator), all on loopback. `make team-up` starts them (`stacks.team_servers`) and logs this
client in; `python run.py --setup-stack team` registers the stack on that server.

Each setting is an `ARXIV_TEAM_<FIELD>` environment variable; the defaults suit one machine.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stacks.registry import StackError, ensure_stack

STACK_NAME = "team"
PREFIX = "ARXIV_TEAM_"
#: The ZenML secret holding the MLflow credentials of the pipelines (stacks/team.yaml `secrets:`).
MLFLOW_SECRET = "arxiv_team_mlflow"  # nosec B105  # not a password
REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = ("127.0.0.1", "localhost")


class TeamSettings(BaseSettings):
    """Where the team servers run; each field is `ARXIV_TEAM_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    home: Path = Field(
        default=REPO_ROOT / ".team", description="directory holding every server's data, logs and credentials"
    )
    host: str = Field(default="127.0.0.1", description="address every server listens on (loopback only)")
    zenml_port: int = Field(default=8390, description="ZenML server (API and dashboard)")
    mlflow_port: int = Field(default=5390, description="MLflow tracking server")
    gcs_port: int = Field(default=9390, description="gcp-storage-emulator (the bucket)")
    mariadb_port: int = Field(default=3390, description="MariaDB (the ZenML server's database)")
    postgres_port: int = Field(default=5490, description="PostgreSQL (the MLflow server's backend store)")
    bucket: str = Field(default="arxiv-team", description="bucket of the artifact store and of MLflow's artifacts")
    project: str = Field(default="arxiv-team", description="GCP project id the emulated bucket reports")

    @field_validator("host")
    @classmethod
    def _loopback(cls, host: str) -> str:
        if host not in LOOPBACK:
            raise ValueError(f"the team servers listen on loopback only (127.0.0.1), not {host!r}")
        return host

    @field_validator("home")
    @classmethod
    def _absolute(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    @property
    def zenml_url(self) -> str:
        return f"http://{self.host}:{self.zenml_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def gcs_url(self) -> str:
        return f"http://{self.host}:{self.gcs_port}"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    @property
    def adc_file(self) -> Path:
        """Application-default credentials with a never-expiring fake token: no metadata-server probe."""
        return self.home / "gcs" / "application_default_credentials.json"

    def client_environment(self) -> dict[str, str]:
        """What a process using the team stack needs in its environment: the emulated bucket's address."""
        return {
            "STORAGE_EMULATOR_HOST": self.gcs_url,
            "GOOGLE_APPLICATION_CREDENTIALS": str(self.adc_file),
            "GOOGLE_CLOUD_PROJECT": self.project,
            "NO_GCE_CHECK": "True",
        }


def load_credentials(settings: TeamSettings, create: bool = False) -> dict[str, str]:
    """The team's generated passwords and keys (`HOME/credentials.json`, mode 0600).

    Args:
        settings: the team settings.
        create: generate the file (or the values it lacks) when missing.

    Raises:
        StackError: the file is missing and `create` is False.
    """
    path = settings.credentials_file
    current: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    if not create:
        if not current:
            raise StackError(f"no team credentials in {path}: start the team servers first (`make team-up`)")
        return current
    wanted = {
        "zenml_admin_user": "admin",
        "zenml_admin_password": secrets.token_urlsafe(18),
        "zenml_db_password": secrets.token_urlsafe(18),
        "zenml_jwt_secret_key": secrets.token_hex(32),
        "zenml_secrets_encryption_key": secrets.token_hex(32),
        "mlflow_admin_password": secrets.token_urlsafe(18),
        "mlflow_db_password": secrets.token_urlsafe(18),
        "mlflow_flask_secret_key": secrets.token_hex(32),
        "mlflow_username": "pipelines",
        "mlflow_password": secrets.token_urlsafe(18),
    }
    merged = {**wanted, **current}
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def stack_variables(settings: TeamSettings | None = None) -> dict[str, str]:
    """The values of stacks/team.yaml's placeholders, from the settings and the generated credentials."""
    settings = settings or TeamSettings()
    creds = load_credentials(settings)
    return {
        "ARXIV_TEAM_BUCKET": settings.bucket,
        "ARXIV_TEAM_MLFLOW_TRACKING_URI": settings.mlflow_url,
        "ARXIV_TEAM_MLFLOW_USERNAME": creds["mlflow_username"],
        "ARXIV_TEAM_MLFLOW_PASSWORD": creds["mlflow_password"],
    }


def setup_team_stack(activate: bool = True) -> list[str]:
    """Register the team stack (and the MLflow credentials secret) on the connected ZenML server, idempotently.

    Raises:
        StackError: the client is not connected to the team server, or the servers were never started.
    """
    from zenml.client import Client

    settings = TeamSettings()
    store: Any = Client().zen_store
    url = str(getattr(store, "url", ""))
    if url.rstrip("/") != settings.zenml_url:
        raise StackError(
            f"the team stack lives on the team ZenML server {settings.zenml_url}, but this client is connected to "
            f"{url or 'its local store'}: run `make team-up` (it starts the servers and logs this client in)"
        )
    return ensure_stack(STACK_NAME, activate=activate, variables=stack_variables(settings))
