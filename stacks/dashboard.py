"""Start and stop the local ZenML server + dashboard, with the first-use survey marked done.

The local server is ZenML's own daemon (`zenml login --local`), bound to loopback and running over
the same store as the client (the ZenML global config at `$ZENML_CONFIG_PATH`, or the default one).
While it runs, the client is connected to it; `stop()` shuts it down and reconnects the client to
the local SQLite store.

The local server runs with ZenML's `NO_AUTH` scheme: every request acts as the `default` user, so
the dashboard needs no login. Onboarding still logs in (`POST /api/v1/login`, user `default`, empty
password) so that it works the same against a server that does check tokens.

Importing this module is cheap: ZenML is only imported (or run) inside the functions.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404  # argv lists only, no shell
import sys
from pathlib import Path
from typing import Any

from arxiv_classifier import localhost

DEFAULT_PORT = 8237
HOST = localhost.LOOPBACK
#: The dashboard page that lists pipeline runs (ZenML 0.98 routes everything under a project).
RUNS_PAGE = "/projects/default/runs"
#: Marks the first-use survey done; without it the survey blocks every dashboard page.
ONBOARDING_DONE: dict[str, Any] = {"email_opted_in": False, "user_metadata": {"finished_onboarding_survey": True}}

_START_TIMEOUT_S = 180.0
_HEALTHY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 120.0
_HTTP_TIMEOUT_S = 10.0


class DashboardError(RuntimeError):
    """The dashboard cannot be started, onboarded or stopped; the message says what to do."""


def server_url(port: int = DEFAULT_PORT) -> str:
    """Return the base URL of the local ZenML server on loopback, e.g. `http://127.0.0.1:8237`.

    Args:
        port: TCP port of the local server.
    """
    return f"http://{HOST}:{port}"


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """Tell whether a ZenML server answers `GET /health` at `url` with HTTP 200.

    Args:
        url: Base URL of the server.
        timeout: Seconds to wait for the answer.
    """
    try:
        status, _ = localhost.request(f"{url.rstrip('/')}/health", timeout=timeout)
    except localhost.HTTPError:
        return False
    return status == 200


def _call(url: str, method: str, token: str | None = None, **body: Any) -> Any:
    """One REST call to the ZenML server; the decoded answer.

    Raises:
        DashboardError: the server could not be reached or answered an error status.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        status, answer = localhost.request(url, method=method, headers=headers, timeout=_HTTP_TIMEOUT_S, **body)
    except localhost.HTTPError as exc:
        raise DashboardError(f"{method} {url} failed: {exc}") from None
    if status >= 400:
        raise DashboardError(f"{method} {url} failed with HTTP {status}: {str(answer)[:500]}")
    return answer


def api_token(url: str, username: str = "default", password: str = "") -> str:  # nosec B107  # passwordless local user
    """Log in to the ZenML server's REST API and return a bearer token.

    The local server (NO_AUTH scheme) also serves requests without a token, as the `default` user;
    its `/api/v1/login` still issues tokens for the `default` user with an empty password.

    Args:
        url: Base URL of the server.
        username: ZenML user name.
        password: That user's password (empty for the local server's `default` user).

    Raises:
        DashboardError: The login was refused or returned no token.
    """
    answer = _call(f"{url.rstrip('/')}/api/v1/login", "POST", form={"username": username, "password": password})
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
    user = _call(f"{url.rstrip('/')}/api/v1/current-user", "PUT", token, json_body=ONBOARDING_DONE)
    metadata = ((user or {}).get("metadata") or {}).get("user_metadata") or {}
    if not metadata.get("finished_onboarding_survey"):
        raise DashboardError(f"the server at {url} did not record the finished onboarding survey: {user!r}")
    return dict(user)


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


def _server_log() -> Path:
    """The local server's log, in the ZenML global config directory the CLI uses (`$ZENML_CONFIG_PATH`)."""
    from zenml.utils.io_utils import get_global_config_directory

    return Path(get_global_config_directory()) / "zen_server" / "daemon" / "service.log"


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
    if localhost.port_in_use(port, HOST) and not is_healthy(url):
        raise DashboardError(f"port {port} on {HOST} is used by another program; choose another with --port")
    # Idempotent: ZenML reuses (or updates) a running local server and reconnects the client to it.
    cmd = _zenml_cli("login", "--local", "--port", str(port), "--ip-address", HOST)
    try:
        proc = subprocess.run(cmd, check=False, env=_zenml_env(), capture_output=True, text=True, timeout=timeout)  # nosec B603  # argv list, no shell
    except subprocess.TimeoutExpired:
        raise DashboardError(
            f"`zenml login --local --port {port}` did not finish within {timeout:.0f} s; see {_server_log()}"
        ) from None
    if proc.returncode != 0:
        raise DashboardError(
            f"`zenml login --local --port {port}` failed (exit {proc.returncode}):\n"
            f"{_tail(proc.stdout + proc.stderr)}\nserver log: {_server_log()}"
        )
    try:
        localhost.wait_until(lambda: is_healthy(url), _HEALTHY_TIMEOUT_S, f"the ZenML server at {url}", interval=0.5)
    except TimeoutError as exc:
        raise DashboardError(f"{exc}; see {_server_log()}") from None
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
        proc = subprocess.run(  # nosec B603  # argv list, no shell
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
