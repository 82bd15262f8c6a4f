"""Start and stop the local ZenML server + dashboard, and open the MLflow UI on the active stack.

The local server is ZenML's own daemon (`zenml login --local`), bound to loopback and running over
the same store as the client (the ZenML global config at `$ZENML_CONFIG_PATH`, or the default one).
While it runs, the client is connected to it; `stop()` shuts it down and reconnects the client to
the local SQLite store.

The local server runs with ZenML's `NO_AUTH` scheme: every request acts as the `default` user, so
the dashboard needs no login. The REST API also accepts a bearer token from `POST /api/v1/login`
(username `default`, empty password); `api_token()` gets one so that the helpers below work the
same way against a server that does check tokens.

Importing this module is cheap: ZenML and MLflow are only imported (or run) inside the functions.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8237
DEFAULT_MLFLOW_PORT = 5000
HOST = "127.0.0.1"
#: The dashboard page that lists pipeline runs (ZenML 0.98 routes everything under a project).
RUNS_PAGE = "/projects/default/runs"
#: Marks the first-use survey done; without it the survey blocks every dashboard page.
ONBOARDING_DONE: dict[str, Any] = {"email_opted_in": False, "user_metadata": {"finished_onboarding_survey": True}}

_START_TIMEOUT_S = 180.0
_STOP_TIMEOUT_S = 120.0
_HTTP_TIMEOUT_S = 10.0


class DashboardError(RuntimeError):
    """The dashboard or the MLflow UI cannot be started or used; the message says what to do."""


def server_url(port: int = DEFAULT_PORT) -> str:
    """Return the base URL of the local ZenML server on loopback.

    Args:
        port: TCP port of the local server.

    Returns:
        The URL, e.g. `http://127.0.0.1:8237`.
    """
    return f"http://{HOST}:{port}"


def _request(
    url: str,
    method: str = "GET",
    token: str | None = None,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    timeout: float = _HTTP_TIMEOUT_S,
) -> Any:
    """Send one HTTP request to the ZenML server and decode its JSON answer.

    Args:
        url: Full URL.
        method: HTTP method.
        token: Bearer token, if any.
        json_body: Body sent as JSON.
        form: Body sent as a URL-encoded form (exclusive with `json_body`).
        timeout: Seconds before giving up.

    Returns:
        The decoded JSON answer (or the raw text when it is not JSON).

    Raises:
        DashboardError: The server answered with an error status or could not be reached.
    """
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise DashboardError(f"{method} {url} failed with HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DashboardError(f"{method} {url} failed: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def api_get(url: str, path: str, token: str | None = None, **params: Any) -> Any:
    """GET a ZenML REST API path (e.g. `/api/v1/runs`) with query parameters.

    Args:
        url: Base URL of the server.
        path: API path starting with `/`.
        token: Bearer token from `api_token()`, if any.
        **params: Query parameters (ZenML filter fields such as `name`, `pipeline_name`, `size`).

    Returns:
        The decoded JSON answer.
    """
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return _request(f"{url.rstrip('/')}{path}{query}", token=token)


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """Tell whether a ZenML server answers `GET /health` at `url`.

    Args:
        url: Base URL of the server.
        timeout: Seconds to wait for the answer.

    Returns:
        True when the server answered with HTTP 200.
    """
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(url: str, timeout: float = 60.0) -> None:
    """Wait until the ZenML server at `url` answers `/health`.

    Args:
        url: Base URL of the server.
        timeout: Seconds to wait in all.

    Raises:
        DashboardError: The server did not answer in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(url):
            return
        time.sleep(0.5)
    raise DashboardError(f"the ZenML server at {url} did not answer /health within {timeout:.0f} s")


def api_token(url: str, username: str = "default", password: str = "") -> str:
    """Log in to the ZenML server's REST API and return a bearer token.

    The local server (NO_AUTH scheme) also serves requests without a token, as the `default` user;
    its `/api/v1/login` still issues tokens for the `default` user with an empty password.

    Args:
        url: Base URL of the server.
        username: ZenML user name.
        password: That user's password (empty for the local server's `default` user).

    Returns:
        The access token, for an `Authorization: Bearer ...` header.

    Raises:
        DashboardError: The login was refused or returned no token.
    """
    answer = _request(
        f"{url.rstrip('/')}/api/v1/login", method="POST", form={"username": username, "password": password}
    )
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not token:
        raise DashboardError(f"login to {url} as {username!r} returned no access token: {answer!r}")
    return str(token)


def finish_onboarding(url: str, token: str | None = None) -> dict[str, Any]:
    """Mark the first-use onboarding survey done for the logged-in user, so no survey blocks pages.

    Args:
        url: Base URL of the server.
        token: Bearer token from `api_token()` (the local server also accepts none).

    Returns:
        The updated user, as the server returns it.

    Raises:
        DashboardError: The server refused the update.
    """
    user = _request(f"{url.rstrip('/')}/api/v1/current-user", method="PUT", token=token, json_body=ONBOARDING_DONE)
    metadata = ((user or {}).get("metadata") or {}).get("user_metadata") or {}
    if not metadata.get("finished_onboarding_survey"):
        raise DashboardError(f"the server at {url} did not record the finished onboarding survey: {user!r}")
    return user


def _zenml_cli(*args: str) -> list[str]:
    """Build the command line of this interpreter's `zenml` CLI.

    Args:
        *args: CLI arguments.

    Returns:
        The command, runnable with `subprocess`.
    """
    return [sys.executable, "-c", "import sys; from zenml.cli import cli; sys.exit(cli())", *args]


def _zenml_env() -> dict[str, str]:
    """Return the environment for the `zenml` CLI: ours (same store), quiet and offline-friendly.

    Returns:
        A copy of `os.environ` with defaults added.
    """
    env = dict(os.environ)
    env.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    env.setdefault("ZENML_AUTO_OPEN_DASHBOARD", "false")
    env.pop("AUTO_OPEN_DASHBOARD", None)  # deprecated name; ZenML warns about it
    return env


def _config_dir() -> Path:
    """Return the ZenML global config directory the CLI will use.

    Returns:
        `$ZENML_CONFIG_PATH`, or ZenML's default config directory.
    """
    from zenml.utils.io_utils import get_global_config_directory

    return Path(get_global_config_directory())


def _port_in_use(port: int) -> bool:
    """Tell whether something listens on `127.0.0.1:port`.

    Args:
        port: TCP port.

    Returns:
        True when a connection succeeds.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def start_server(port: int = DEFAULT_PORT, timeout: float = _START_TIMEOUT_S) -> str:
    """Start (or reuse) the local ZenML server on loopback, skip the first-use survey, return its URL.

    Args:
        port: TCP port on 127.0.0.1.
        timeout: Seconds allowed for the server to start and answer.

    Returns:
        The server URL.

    Raises:
        DashboardError: The port is taken by another program, or the server did not start.
    """
    if not 1 <= port <= 65535:
        raise DashboardError(f"port must be between 1 and 65535, got {port}")
    url = server_url(port)
    if _port_in_use(port) and not is_healthy(url):
        raise DashboardError(f"port {port} on {HOST} is used by another program; choose another with --port")
    # Idempotent: ZenML reuses (or updates) a running local server and reconnects the client to it.
    cmd = _zenml_cli("login", "--local", "--port", str(port), "--ip-address", HOST)
    try:
        proc = subprocess.run(cmd, check=False, env=_zenml_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DashboardError(
            f"`zenml login --local --port {port}` did not finish within {timeout:.0f} s; "
            f"see {_config_dir() / 'zen_server' / 'daemon' / 'service.log'}"
        ) from None
    if proc.returncode != 0:
        raise DashboardError(
            f"`zenml login --local --port {port}` failed (exit {proc.returncode}):\n"
            f"{_tail(proc.stdout + proc.stderr)}\nserver log: {_config_dir() / 'zen_server' / 'daemon' / 'service.log'}"
        )
    wait_healthy(url, timeout=60.0)
    finish_onboarding(url, api_token(url))
    return url


def start(port: int = DEFAULT_PORT) -> int:
    """Start the local ZenML server and dashboard on loopback and print its URL (CLI entry).

    Args:
        port: TCP port on 127.0.0.1.

    Returns:
        Exit status: 0 on success, 1 when the dashboard could not be started (message on stderr).
    """
    try:
        url = start_server(port)
    except DashboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ZenML dashboard: {url}  (runs: {url}{RUNS_PAGE})")
    print("Stop it with: python run.py --stop-dashboard")
    return 0


def stop_server(timeout: float = _STOP_TIMEOUT_S) -> None:
    """Shut the local ZenML server down and reconnect the client to the local store.

    Args:
        timeout: Seconds allowed for the shutdown.

    Raises:
        DashboardError: The shutdown failed.
    """
    try:
        proc = subprocess.run(
            _zenml_cli("logout", "--local"),
            check=False,
            env=_zenml_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise DashboardError(f"`zenml logout --local` did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise DashboardError(
            f"`zenml logout --local` failed (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}"
        )


def stop() -> int:
    """Stop the local ZenML server (CLI entry). Does nothing when none runs.

    Returns:
        Exit status: 0 on success, 1 on failure (message on stderr).
    """
    try:
        stop_server()
    except DashboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("The local ZenML server is stopped.")
    return 0


def mlflow_tracking_uri() -> str:
    """Return the tracking URI of the active stack's MLflow experiment tracker.

    Returns:
        The tracking URI (for the local tracker: a SQLite file under ZenML's local artifact store).

    Raises:
        DashboardError: The active stack has no MLflow experiment tracker.
    """
    from zenml.client import Client

    try:
        stack = Client().active_stack
    except Exception as exc:  # a broken store or stack: say so instead of a traceback
        raise DashboardError(f"cannot load the active ZenML stack: {exc}") from exc
    tracker = stack.experiment_tracker
    if tracker is None or tracker.flavor != "mlflow":
        what = "no experiment tracker" if tracker is None else f"a {tracker.flavor!r} experiment tracker"
        raise DashboardError(
            f"the active stack {stack.name!r} has {what}, not an MLflow one; "
            "register and activate the local stack with `python run.py --setup-stack local`"
        )
    return str(tracker.get_tracking_uri())  # type: ignore[attr-defined]


def mlflow_ui(port: int = DEFAULT_MLFLOW_PORT) -> int:
    """Run the MLflow UI on loopback over the active stack's MLflow tracking store until interrupted.

    Args:
        port: TCP port on 127.0.0.1.

    Returns:
        Exit status: the MLflow UI's own, 0 after Ctrl+C, 1 when it cannot start (message on stderr).
    """
    try:
        uri = mlflow_tracking_uri()
    except DashboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if uri.startswith(("http://", "https://", "databricks")):
        print(f"The active stack tracks to an MLflow server: open {uri}")
        return 0
    if _port_in_use(port):
        print(f"error: port {port} on {HOST} is already in use; choose another with --port", file=sys.stderr)
        return 1
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    base = [str(mlflow_bin)] if mlflow_bin.exists() else [shutil.which("mlflow") or "mlflow"]
    # One worker: the UI is for one person, and each worker takes ~20 s and its own memory to start.
    cmd = [*base, "ui", "--backend-store-uri", uri, "--host", HOST, "--port", str(port), "--workers", "1"]
    print(f"MLflow UI on http://{HOST}:{port}  (store: {uri}); stop with Ctrl+C")
    try:
        return subprocess.call(cmd)
    except FileNotFoundError:
        print("error: the `mlflow` command is not installed in this environment", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
