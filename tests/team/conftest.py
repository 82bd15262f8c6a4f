"""The team stack's real servers for the `team` test layer, in a throw-away directory on free loopback ports.

Every pipeline here runs the way a user runs it: `python run.py ...` in a subprocess whose environment
is the team one (`make team-up` logs that client in; `make team-env` gives the bucket's address). The
test process itself never connects its ZenML client to the team server, so the other layers' isolated
store is untouched; it asks the servers over their REST APIs, or runs a short query in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from arxiv_classifier import localhost
from stacks.team import TeamSettings, load_credentials
from stacks.team_servers import MARIADB_SERVER, TeamServers
from tests.conftest import ARXIV, REPO_ROOT

PYTHON = sys.executable


@dataclass
class Team:
    """The started servers, and a way to run commands as a team member on this machine."""

    settings: TeamSettings
    servers: TeamServers
    env: dict[str, str]
    client_dir: Path

    @property
    def credentials(self) -> dict[str, str]:
        return load_credentials(self.settings)

    def run(self, *args: str, timeout: float = 900, check: bool = False) -> subprocess.CompletedProcess[str]:
        """`python run.py ARGS` as a team member (the team client and the bucket's address)."""
        return self.command([PYTHON, "run.py", *args], timeout=timeout, check=check)

    def command(self, argv: list[str], timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(argv, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        return proc

    def query(self, code: str) -> Any:
        """Run Python code with the team client; it prints one JSON line, returned decoded."""
        # A script file, not `python -c`: ZenML needs a main module with a file to load custom flavors.
        script = self.client_dir.parent / "query.py"
        script.write_text(code)
        proc = self.command([PYTHON, str(script)], check=True)
        line = next(ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("JSON "))
        return json.loads(line.removeprefix("JSON "))

    def zenml_token(self) -> str:
        creds = self.credentials
        status, body = localhost.request(
            f"{self.settings.zenml_url}/api/v1/login",
            form={"username": creds["zenml_admin_user"], "password": creds["zenml_admin_password"]},
        )
        assert status == 200, body
        return str(body["access_token"])

    def zenml_get(self, path: str, **params: Any) -> Any:
        from urllib.parse import urlencode

        query = f"?{urlencode(params)}" if params else ""
        status, body = localhost.request(
            f"{self.settings.zenml_url}/api/v1{path}{query}", headers={"Authorization": f"Bearer {self.zenml_token()}"}
        )
        assert status == 200, f"GET {path}: HTTP {status} {body}"
        return body

    def mlflow(self, path: str, body: dict[str, Any] | None = None, auth: tuple[str, str] | None = None) -> Any:
        """An MLflow REST call as the pipelines' user (or `auth`); returns (status, body)."""
        import base64

        user, password = auth or (self.credentials["mlflow_username"], self.credentials["mlflow_password"])
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return localhost.request(
            f"{self.settings.mlflow_url}{path}", json_body=body, headers={"Authorization": f"Basic {token}"}
        )


def _require_packages() -> None:
    missing = [what for what, path in (("mariadb-server", MARIADB_SERVER),) if not Path(path).exists()]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("postgresql")
    if missing:
        message = f"the team layer needs Debian's {' and '.join(missing)} (`apt-get install {' '.join(missing)}`)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs them")
        pytest.skip(message)


@pytest.fixture(scope="session")
def team() -> Iterator[Team]:
    """`make team-up` in a fresh directory on free ports, the stack registered; `make team-down` afterwards."""
    _require_packages()
    if not ARXIV.is_file():
        pytest.skip(f"real arXiv data not found at {ARXIV}")
    # Not under pytest's temporary directory: it is closed to other users (mode 700), and as root the
    # databases run as the users mysql and postgres (`make team-up` says so when that happens).
    home = Path(tempfile.mkdtemp(prefix="arxiv-team-test-"))
    home.chmod(0o755)
    client_dir = home / "client"
    ports = {
        f"ARXIV_TEAM_{name}_PORT": str(localhost.free_port())
        for name in ("ZENML", "MLFLOW", "GCS", "MARIADB", "POSTGRES")
    }
    settings_env = {"ARXIV_TEAM_HOME": str(home / "servers"), **ports}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ZENML_STORE", "ARXIV_TEAM_"))},
        **settings_env,
        "ZENML_CONFIG_PATH": str(client_dir),
        "ZENML_ANALYTICS_OPT_IN": "false",
    }
    saved = {k: os.environ.get(k) for k in settings_env}
    os.environ.update(settings_env)  # TeamSettings() in this process reads the same ports and directory
    try:
        settings = TeamSettings()
        env.update(settings.client_environment())
        team = Team(settings=settings, servers=TeamServers(settings), env=env, client_dir=client_dir)
        up = team.command([PYTHON, "-m", "stacks.team_servers", "up"], timeout=600)
        assert up.returncode == 0, f"team-up failed:\n{up.stdout}\n{up.stderr}"
        team.run("--setup-stack", "team", check=True)
        yield team
    finally:
        # The model servers the deployment started from this client (the team servers' `down` leaves them).
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if any("launch_local.py" in part for part in cmdline) and any(str(client_dir) in p for p in cmdline):
                localhost.kill_process_tree(proc.info["pid"])
        down = subprocess.run(
            [PYTHON, "-m", "stacks.team_servers", "down"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
        )
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        assert down.returncode == 0, down.stderr
        shutil.rmtree(home, ignore_errors=True)
