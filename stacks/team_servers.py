"""Start and stop the team stack's servers on loopback: `python -m stacks.team_servers up|down|status|env`.

- MariaDB (Debian's `mariadb-server`) holding the ZenML server's database;
- the ZenML server, run the way ZenML's server image runs it (`uvicorn zenml.zen_server.zen_server_api:app`
  with `ZENML_STORE_URL`), with a real admin user and password;
- PostgreSQL (Debian's `postgresql`) holding the MLflow server's backend store and its users;
- the MLflow tracking server with basic authentication, its artifacts proxied to the bucket;
- the bucket: gcp-storage-emulator, stored on disk.

Every server's data, logs, process ids and the generated credentials live under one directory
(`ARXIV_TEAM_HOME`, default `.team/`). `up` is idempotent: what runs is left alone, what is missing is
started, and the client is logged in with `zenml login URL --api-key` (a service account's key).
`down` logs the client out and stops every server; the data stays, so `up` brings back the same runs,
model versions and secrets.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import getpass
import glob
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess  # nosec B404  # argv lists built here, never a shell
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arxiv_classifier import localhost
from stacks.registry import StackError
from stacks.team import STACK_NAME as TEAM_STACK
from stacks.team import TeamSettings, load_credentials

SERVICE_ACCOUNT = "arxiv-team-client"
MARIADB_SERVER = "/usr/sbin/mariadbd"
#: The order `up` starts them in (each one's dependencies first); `down` stops them in reverse.
SERVICES = ("mariadb", "postgres", "gcs", "zenml", "mlflow")


def _is_root() -> bool:
    return os.geteuid() == 0


def _port_open(host: str, port: int) -> bool:
    return localhost.port_in_use(port, host, timeout=0.5)


def _http_status(url: str) -> int | None:
    try:
        return localhost.request(url, timeout=5)[0]
    except localhost.HTTPError:
        return None


def _wait(ready: Callable[[], bool], what: str, timeout: float, log: Path | None = None) -> None:
    try:
        localhost.wait_until(ready, timeout, what, interval=0.5)
    except TimeoutError as exc:
        tail = ""
        if log is not None and log.is_file():
            tail = f"\n  last lines of {log}:\n    " + "\n    ".join(log.read_text().splitlines()[-15:])
        raise StackError(f"{exc}{tail}") from None


def _run(argv: list[str], as_user: str | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a helper command (as `as_user` when we are root), raising a StackError with its output on failure."""
    if as_user and _is_root():
        argv = ["runuser", "-u", as_user, "--", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # nosec B603  # argv list, no shell
    if proc.returncode != 0:
        raise StackError(f"`{shlex.join(argv)}` failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc


def _check_reachable(home: Path) -> None:
    """As root, MariaDB and PostgreSQL run as their own users: every directory above `home` must let them pass."""
    if not _is_root():
        return
    for parent in [*reversed(home.parents)]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise StackError(
                f"{parent} is closed to other users (mode {parent.stat().st_mode & 0o777:o}), and as root MariaDB and "
                f"PostgreSQL run as the users mysql and postgres: choose a data directory they can reach with "
                "ARXIV_TEAM_HOME=... (e.g. under /srv or /var/tmp), or `chmod o+x` that directory"
            )


def write_emulator_credentials(path: Path) -> None:
    """Application-default credentials holding an unexpired fake token, for a GCS emulator.

    Without credentials, gcsfs and google-auth first probe the GCE metadata server (~15 s off GCP); with
    an access token that has not expired they need no network, and the emulator ignores the token.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "emulator",
                "client_secret": "emulator",  # nosec B105  # not a password
                "refresh_token": "emulator",  # nosec B105  # not a password
                "token": "emulator-token",  # nosec B105  # not a password
                "expiry": "2999-01-01T00:00:00Z",
            }
        )
    )


class TeamServers:
    """The team servers of one data directory."""

    def __init__(self, settings: TeamSettings | None = None) -> None:
        self.settings = settings or TeamSettings()
        self.home = self.settings.home
        self.logs = self.home / "logs"
        self.pids = self.home / "run"

    # -- processes --------------------------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def _pid(self, name: str) -> int | None:
        """The live process id of a server we started, else None."""
        path = {"postgres": self.home / "postgres" / "data" / "postmaster.pid"}.get(name, self._pid_file(name))
        try:
            pid = int(path.read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # nosec B603  # argv list, no shell
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group: `down` stops it and every child
        )
        self._pid_file(name).write_text(f"{proc.pid}\n")

    def _stop_group(self, name: str, timeout: float = 30) -> bool:
        pid = self._pid(name)
        if pid is None:
            self._pid_file(name).unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._pid(name) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if self._pid(name) is not None:
            os.killpg(pid, signal.SIGKILL)
        self._pid_file(name).unlink(missing_ok=True)
        return True

    def _check_port_free(self, name: str, port: int, variable: str) -> None:
        if _port_open(self.settings.host, port):
            raise StackError(
                f"port {port} (the team {name}) is taken by a process this directory did not start: stop it, "
                f"or choose another port with {variable}=..."
            )

    # -- MariaDB: the ZenML server's database -------------------------------------------------------------

    def _mariadb_socket(self) -> Path:
        return self.home / "mariadb" / "run" / "mysqld.sock"

    def _mariadb_sql(self, sql: str) -> None:
        user = "root" if _is_root() else getpass.getuser()  # the socket-authenticated account install-db made
        _run(["mariadb", "--no-defaults", f"--socket={self._mariadb_socket()}", "-u", user, "-e", sql])

    def start_mariadb(self, creds: dict[str, str]) -> str:
        port = self.settings.mariadb_port
        if self._pid("mariadb"):
            return "running"
        if not Path(MARIADB_SERVER).exists():
            raise StackError(
                "MariaDB is not installed: `sudo apt-get install mariadb-server` (Debian's package; the team "
                "ZenML server keeps its database in it)"
            )
        self._check_port_free("MariaDB", port, "ARXIV_TEAM_MARIADB_PORT")
        data, run = self.home / "mariadb" / "data", self._mariadb_socket().parent
        run.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        user_opt = ["--user=mysql"] if _is_root() else []
        if _is_root():
            shutil.chown(data, "mysql", "mysql")
            shutil.chown(run, "mysql", "mysql")
        if not (data / "mysql").is_dir():
            _run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={data}",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                    *user_opt,
                ]
            )
        self._spawn(
            "mariadb",
            [
                MARIADB_SERVER,
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self._mariadb_socket()}",
                f"--port={port}",
                f"--bind-address={self.settings.host}",
                f"--pid-file={run / 'mariadbd.pid'}",
                # Without Debian's config files (--no-defaults) the server default is latin1, and ZenML
                # stores step source code: a non-Latin character in it fails the step ("Incorrect string value").
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                *user_opt,
            ],
        )
        _wait(
            lambda: self._mariadb_socket().exists() and _port_open(self.settings.host, port),
            "MariaDB",
            60,
            self.logs / "mariadb.log",
        )
        pw = creds["zenml_db_password"].replace("'", "''")
        self._mariadb_sql(
            "CREATE DATABASE IF NOT EXISTS zenml CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
            f"CREATE USER IF NOT EXISTS 'zenml'@'127.0.0.1' IDENTIFIED BY '{pw}'; "
            f"ALTER USER 'zenml'@'127.0.0.1' IDENTIFIED BY '{pw}'; "
            "GRANT ALL PRIVILEGES ON zenml.* TO 'zenml'@'127.0.0.1';"
        )
        return "started"

    # -- PostgreSQL: the MLflow server's backend store ---------------------------------------------------

    @staticmethod
    def _pg_bin(tool: str) -> str:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(p.split("/")[4]))
        if not found:
            raise StackError(
                "PostgreSQL is not installed: `sudo apt-get install postgresql` (Debian's package; the team MLflow "
                "server keeps its runs and users in it)"
            )
        return found[-1]

    def start_postgres(self, creds: dict[str, str]) -> str:
        port = self.settings.postgres_port
        base = self.home / "postgres"
        data, run = base / "data", base / "run"
        if self._pid("postgres"):
            return "running"
        self._check_port_free("PostgreSQL", port, "ARXIV_TEAM_POSTGRES_PORT")
        initdb, pg_ctl = self._pg_bin("initdb"), self._pg_bin("pg_ctl")
        run.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        owner = "postgres" if _is_root() else None
        if owner:
            for path in (base, run):
                shutil.chown(path, owner, owner)
        if not (data / "PG_VERSION").is_file():
            _run(
                [
                    initdb,
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ],
                as_user=owner,
            )
        log = self.logs / "postgres.log"
        if owner and not log.exists():
            log.touch()
            shutil.chown(log, owner, owner)
        options = f"-c listen_addresses={self.settings.host} -p {port} -k {run}"
        _run([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"], as_user=owner)

        import psycopg2  # the driver MLflow's server uses for PostgreSQL

        conn = psycopg2.connect(host=str(run), port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'mlflow'")
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(f"{verb} ROLE mlflow LOGIN PASSWORD %s", (creds["mlflow_db_password"],))
            for db in ("mlflow", "mlflow_auth"):
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                if not cur.fetchone():
                    cur.execute(f"CREATE DATABASE {db} OWNER mlflow")
        conn.close()
        return "started"

    def stop_postgres(self) -> bool:
        data = self.home / "postgres" / "data"
        if self._pid("postgres") is None:
            return False
        _run(
            [self._pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            as_user="postgres" if _is_root() else None,
        )
        return True

    # -- the bucket -------------------------------------------------------------------------------------

    def start_gcs(self) -> str:
        port, bucket = self.settings.gcs_port, self.settings.bucket
        if self._pid("gcs"):
            return "running"
        self._check_port_free("bucket (gcp-storage-emulator)", port, "ARXIV_TEAM_GCS_PORT")
        store = self.home / "gcs"
        store.mkdir(parents=True, exist_ok=True)
        self._write_adc()
        emulator = Path(sys.executable).with_name("gcp-storage-emulator")
        self._spawn(
            "gcs",
            [str(emulator), "start", "--host", self.settings.host, "--port", str(port), "--default-bucket", bucket],
            env={"STORAGE_BASE": str(store)},
        )
        url = f"{self.settings.gcs_url}/storage/v1/b/{bucket}"
        _wait(lambda: _http_status(url) == 200, "the bucket (gcp-storage-emulator)", 60, self.logs / "gcs.log")
        return "started"

    def _write_adc(self) -> None:
        write_emulator_credentials(self.settings.adc_file)

    # -- the ZenML server -------------------------------------------------------------------------------

    def zenml_server_env(self, creds: dict[str, str]) -> dict[str, str]:
        pw = urllib.parse.quote(creds["zenml_db_password"], safe="")
        return {
            **self.settings.client_environment(),  # the server reads artifact visualizations from the bucket
            "ZENML_STORE_URL": f"mysql://zenml:{pw}@127.0.0.1:{self.settings.mariadb_port}/zenml",
            "ZENML_SERVER_DEPLOYMENT_TYPE": "docker",
            "ZENML_SERVER_AUTO_ACTIVATE": "1",
            "ZENML_DEFAULT_USER_NAME": creds["zenml_admin_user"],
            "ZENML_DEFAULT_USER_PASSWORD": creds["zenml_admin_password"],
            "ZENML_SERVER_JWT_SECRET_KEY": creds["zenml_jwt_secret_key"],  # sessions survive a restart
            "ZENML_SECRETS_STORE_TYPE": "sql",
            "ZENML_SECRETS_STORE_ENCRYPTION_KEY": creds["zenml_secrets_encryption_key"],
            "ZENML_CONFIG_PATH": str(self.home / "zenml-server" / "config"),  # never the client's own config
            "ZENML_ANALYTICS_OPT_IN": "false",
        }

    def start_zenml(self, creds: dict[str, str]) -> str:
        port = self.settings.zenml_port
        if self._pid("zenml"):
            return "running"
        self._check_port_free("ZenML server", port, "ARXIV_TEAM_ZENML_PORT")
        self._spawn(
            "zenml",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "zenml.zen_server.zen_server_api:app",
                "--host",
                self.settings.host,
                "--port",
                str(port),
                "--no-server-header",
                "--log-level",
                "warning",
            ],
            env=self.zenml_server_env(creds),
        )
        health = f"{self.settings.zenml_url}/health"
        _wait(lambda: _http_status(health) == 200, "the ZenML server", 180, self.logs / "zenml.log")
        from stacks.dashboard import finish_onboarding

        # The admin's first-use survey would otherwise block every dashboard page.
        finish_onboarding(self.settings.zenml_url, self._zenml_admin_token(creds))
        return "started"

    # -- the MLflow tracking server ---------------------------------------------------------------------

    def _pg_url(self, db: str) -> str:
        """The database URL without its password: libpq reads that from the PGPASSFILE (not visible in `ps`)."""
        return f"postgresql://mlflow@127.0.0.1:{self.settings.postgres_port}/{db}"

    def _pgpass(self, creds: dict[str, str]) -> Path:
        path = self.home / "mlflow" / "pgpass"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)  # libpq ignores a password file others can read
        path.write_text(f"127.0.0.1:{self.settings.postgres_port}:*:mlflow:{creds['mlflow_db_password']}\n")
        return path

    def start_mlflow(self, creds: dict[str, str]) -> str:
        port = self.settings.mlflow_port
        if self._pid("mlflow"):
            return "running"
        self._check_port_free("MLflow server", port, "ARXIV_TEAM_MLFLOW_PORT")
        auth_ini = self.home / "mlflow" / "basic_auth.ini"
        auth_ini.parent.mkdir(parents=True, exist_ok=True)
        auth_ini.touch(mode=0o600, exist_ok=True)
        auth_ini.write_text(
            "[mlflow]\n"
            "# Team members may log to each other's experiments; only the admin manages users.\n"
            "default_permission = EDIT\n"
            f"database_uri = {self._pg_url('mlflow_auth')}\n"
            "admin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "# Each request checks the password (PBKDF2, ~0.3 s here); a check that passed is reused for 60 s.\n"
            "auth_cache_ttl_seconds = 60\n"
        )
        self._spawn(
            "mlflow",
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                self._pg_url("mlflow"),
                "--artifacts-destination",
                f"gs://{self.settings.bucket}/mlflow",
                "--host",
                self.settings.host,
                "--port",
                str(port),
                "--app-name",
                "basic-auth",
                "--workers",
                "1",
            ],
            env={
                **self.settings.client_environment(),  # artifacts are proxied to the bucket
                "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
                "PGPASSFILE": str(self._pgpass(creds)),
                "MLFLOW_AUTH_ADMIN_PASSWORD": creds["mlflow_admin_password"],
                "MLFLOW_FLASK_SERVER_SECRET_KEY": creds["mlflow_flask_secret_key"],
            },
            cwd=self.home / "mlflow",
        )
        health = f"{self.settings.mlflow_url}/health"
        _wait(lambda: _http_status(health) == 200, "the MLflow server", 180, self.logs / "mlflow.log")
        self._ensure_mlflow_user(creds)
        return "started"

    def _mlflow_admin(self, path: str, body: dict[str, Any], method: str = "POST") -> tuple[int, Any]:
        creds = load_credentials(self.settings)
        token = base64.b64encode(f"admin:{creds['mlflow_admin_password']}".encode()).decode()
        return localhost.request(
            f"{self.settings.mlflow_url}{path}",
            method=method,
            json_body=body,
            headers={"Authorization": f"Basic {token}"},
        )

    def _ensure_mlflow_user(self, creds: dict[str, str]) -> None:
        """The pipelines' MLflow user (not the admin), with the password in the credentials file."""
        user = {"username": creds["mlflow_username"], "password": creds["mlflow_password"]}
        status, body = self._mlflow_admin("/api/2.0/mlflow/users/create", user)
        if status == 200:
            return
        if body.get("error_code") == "RESOURCE_ALREADY_EXISTS":
            status, body = self._mlflow_admin("/api/2.0/mlflow/users/update-password", user, method="PATCH")
            if status == 200:
                return
        raise StackError(f"could not create the MLflow user {user['username']!r}: HTTP {status} {body}")

    # -- the client -------------------------------------------------------------------------------------

    def _zenml_admin_token(self, creds: dict[str, str]) -> str:
        from stacks.dashboard import DashboardError, api_token

        try:
            return api_token(self.settings.zenml_url, creds["zenml_admin_user"], creds["zenml_admin_password"])
        except DashboardError as exc:
            raise StackError(f"the ZenML server refused the admin in {self.settings.credentials_file}: {exc}") from None

    def _zenml_api(self, token: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        return localhost.request(
            f"{self.settings.zenml_url}/api/v1{path}", json_body=body, headers={"Authorization": f"Bearer {token}"}
        )

    def api_key(self, creds: dict[str, str]) -> str:
        """The client's API key: a key of the service account `arxiv-team-client`, made once and kept (0600)."""
        key_file = self.home / "zenml-server" / "client_api_key"
        if key_file.is_file():
            return key_file.read_text().strip()
        token = self._zenml_admin_token(creds)
        status, account = self._zenml_api(token, f"/service_accounts/{SERVICE_ACCOUNT}")
        if status == 404:
            about = {"name": SERVICE_ACCOUNT, "description": "pipelines run from this machine", "active": True}
            status, account = self._zenml_api(token, "/service_accounts", about)
        if status != 200:
            raise StackError(f"could not get or create the service account {SERVICE_ACCOUNT}: HTTP {status} {account}")
        key_request = {"name": f"{socket.gethostname()}-{int(time.time())}", "description": "made by make team-up"}
        status, key = self._zenml_api(token, f"/service_accounts/{account['id']}/api_keys", key_request)
        if status != 200:
            raise StackError(f"could not create an API key for {SERVICE_ACCOUNT}: HTTP {status} {key}")
        value = str(key["body"]["key"])
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600, exist_ok=True)
        key_file.write_text(value + "\n")
        return value

    def login(self, creds: dict[str, str]) -> None:
        """`zenml login URL --api-key` for this client (its own ZenML configuration)."""
        zenml = Path(sys.executable).with_name("zenml")
        proc = subprocess.run(  # nosec B603  # argv list, no shell
            [str(zenml), "login", self.settings.zenml_url, "--api-key"],
            input=self.api_key(creds) + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise StackError(f"`zenml login {self.settings.zenml_url} --api-key` failed: {proc.stderr or proc.stdout}")
        # A login makes the server's default stack active; come back to the team stack once it is registered.
        subprocess.run([str(zenml), "stack", "set", TEAM_STACK], capture_output=True, text=True, check=False)  # nosec B603  # argv list, no shell

    def logout(self) -> bool:
        """Disconnect this client if it is connected to the team server (it returns to its local store)."""
        from zenml.config.global_config import GlobalConfiguration

        url = (GlobalConfiguration().store_configuration.url or "").rstrip("/")
        if url != self.settings.zenml_url:
            return False
        zenml = Path(sys.executable).with_name("zenml")
        subprocess.run([str(zenml), "logout"], capture_output=True, text=True, check=False)  # nosec B603  # argv list, no shell
        return True

    # -- all of it --------------------------------------------------------------------------------------

    def up(self, login: bool = True) -> dict[str, str]:
        """Start what is not running (dependencies first), then log the client in. Returns each server's state."""
        _check_reachable(self.home)
        creds = load_credentials(self.settings, create=True)
        states = {
            "mariadb": self.start_mariadb(creds),
            "postgres": self.start_postgres(creds),
            "gcs": self.start_gcs(),
            "zenml": self.start_zenml(creds),
            "mlflow": self.start_mlflow(creds),
        }
        if login:
            self.login(creds)
        return states

    def down(self) -> dict[str, str]:
        """Log the client out, stop every server (dependents first). The data stays under the home directory."""
        self.logout()
        stopped = {}
        for name in reversed(SERVICES):
            done = self.stop_postgres() if name == "postgres" else self._stop_group(name)
            stopped[name] = "stopped" if done else "not running"
        return stopped

    def status(self) -> dict[str, str]:
        ports = {
            "mariadb": self.settings.mariadb_port,
            "postgres": self.settings.postgres_port,
            "gcs": self.settings.gcs_port,
            "zenml": self.settings.zenml_port,
            "mlflow": self.settings.mlflow_port,
        }
        return {
            name: (f"running (pid {pid}, port {ports[name]})" if (pid := self._pid(name)) else "stopped")
            for name in SERVICES
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.team_servers", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--no-login", action="store_true", help="with up: do not log this client in")
    args = parser.parse_args(argv)
    servers = TeamServers()
    settings = servers.settings
    try:
        if args.command == "env":
            for key, value in settings.client_environment().items():
                print(f"export {key}={shlex.quote(value)}")
            return 0
        if args.command == "up":
            states = servers.up(login=not args.no_login)
        elif args.command == "down":
            states = servers.down()
        else:
            states = servers.status()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, state in states.items():
        print(f"  {name:<9} {state}")
    if args.command == "up":
        creds = load_credentials(settings)
        print(
            f"ZenML server and dashboard: {settings.zenml_url} (user {creds['zenml_admin_user']}, password in "
            f"{settings.credentials_file})\nMLflow server: {settings.mlflow_url}\nBucket: gs://{settings.bucket} "
            f"at {settings.gcs_url}\n"
            + ("This client is logged in to the team server. " if not args.no_login else "")
            + 'Next: eval "$(make -s team-env)" && python run.py --setup-stack team'
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
