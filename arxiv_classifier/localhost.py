"""The one copy of each helper for servers the project starts on this machine: a free port, a
readiness poller, JSON over HTTP, and a process-tree killer.

The model deployer, the dashboard launcher, the benchmarks and the tests all start servers; each used
to carry its own copy of these. Standard library plus psutil (a ZenML dependency); nothing of ZenML.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import psutil

LOOPBACK = "127.0.0.1"
#: Seconds the descendants of a process stopped with SIGTERM get to exit after it, before SIGKILL.
ORPHAN_GRACE = 2.0


class HTTPError(RuntimeError):
    """A server could not be reached (`status` None) or answered an error status."""

    def __init__(self, message: str, status: int | None = None, payload: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the OS picks it; a race with another process is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """Whether something accepts connections on `host:port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.25,
    give_up: Callable[[], str | None] | None = None,
) -> None:
    """Poll `check` until it is true.

    Args:
        check: Returns True when the awaited state is reached; an exception counts as "not yet" (the
            last one is named in the timeout's message, so a broken check does not look like a slow server).
        timeout: Seconds to wait in all.
        what: What is awaited, for the error message ("the model server at http://...").
        interval: Seconds between polls.
        give_up: Called between polls; a non-empty string means waiting is pointless (e.g. the server
            process died) and becomes the error message.

    Raises:
        TimeoutError: `check` did not become true in time, or `give_up` said to stop.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            if check():
                return
        except Exception as exc:  # not ready yet, e.g. connection refused while the server starts
            last_error = exc
        if give_up is not None and (reason := give_up()):
            raise TimeoutError(f"stopped waiting for {what}: {reason}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise TimeoutError(f"{what} was not ready after {timeout:.0f} s{detail}")
        time.sleep(min(interval, remaining))


def request(
    url: str,
    *,
    method: str | None = None,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    data: bytes | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """Send one HTTP request; return (status, body decoded as JSON, or as text when it is not JSON).

    An error status is returned, not raised: callers decide what a 4xx means to them.

    Raises:
        HTTPError: the server could not be reached (`status` None).
    """
    sent = dict(headers or {})
    sent.setdefault("Accept", "application/json")
    if json_body is not None:
        data, content_type = json.dumps(json_body).encode(), "application/json"
    elif form is not None:
        data, content_type = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    if data is not None:
        sent["Content-Type"] = content_type or "application/json"
    if not url.startswith(("http://", "https://")):  # urllib would also open file:// and ftp:// URLs
        raise HTTPError(f"not an http(s) URL: {url!r}")
    req = urllib.request.Request(url, data=data, headers=sent, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # nosec B310  # http(s) only, checked above
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        # URLError: refused or unresolvable; HTTPException: not an HTTP answer (a port of another
        # protocol, a server that died mid-answer); ValueError: not an http(s) URL.
        reason = getattr(error, "reason", error)
        raise HTTPError(f"could not reach {url}: {reason}") from error
    text = raw.decode("utf-8", errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def kill_process_tree(pid: int, timeout: float = 20, force: bool = False) -> list[int]:
    """Stop a process and every process below it, so no orphan keeps a port.

    Without `force` the root gets SIGTERM first (a server stops its own workers cleanly) and has
    `timeout` seconds to exit; descendants still alive a moment after it (or when the time is up) get
    SIGKILL, as do any they started meanwhile. With `force` all get SIGKILL at once.

    Returns:
        The PIDs that were alive when the call started (root first); empty if `pid` was gone.
    """
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    if not force:
        with contextlib.suppress(psutil.Error):
            root.terminate()
        started = time.monotonic()
        psutil.wait_procs([root], timeout=timeout)
        # A server stops its workers before it exits; what outlives it by more than a moment is orphaned.
        grace = min(ORPHAN_GRACE, max(0.0, timeout - (time.monotonic() - started)))
        psutil.wait_procs(tree[1:], timeout=grace)
    survivors = [proc for proc in tree if _alive(proc)]
    for proc in list(survivors):  # children started since the tree was listed (e.g. a respawned worker)
        with contextlib.suppress(psutil.Error):
            survivors += [c for c in proc.children(recursive=True) if c not in survivors and _alive(c)]
    for proc in survivors:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(survivors, timeout=5)
    return [proc.pid for proc in tree]


def _alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a dead process its parent has not reaped yet holds no port)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
