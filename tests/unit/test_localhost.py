"""The local-server helpers against real sockets, a real HTTP server and a real process tree."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil
import pytest

from arxiv_classifier import localhost

# --- process trees ----------------------------------------------------------------------------------------

#: A root with two children, each with a child of its own. On SIGTERM the root says so and exits,
#: orphaning them; with `ignore` it ignores SIGTERM.
TREE = """
import os, signal, subprocess, sys, time
sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
spawn = "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(600)"
parent = [sys.executable, "-c", spawn, *sleeper]
children = [subprocess.Popen(parent) for _ in range(2)]

def asked(*_):
    print("got SIGTERM", flush=True)
    os._exit(0)

signal.signal(signal.SIGTERM, signal.SIG_IGN if sys.argv[1] == "ignore" else asked)
print("ready", flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie its (re)parent has not reaped (it holds no port)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def tree(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    mode = getattr(request, "param", "default")
    root = subprocess.Popen([sys.executable, "-c", TREE, mode], stdout=subprocess.PIPE, text=True)
    assert root.stdout is not None and root.stdout.readline().strip() == "ready"
    proc = psutil.Process(root.pid)
    localhost.wait_until(lambda: len(proc.children(recursive=True)) == 4, 30, "the process tree")
    pids = [root.pid, *(child.pid for child in proc.children(recursive=True))]
    yield root, pids
    for pid in pids:  # whatever a failing test left behind
        if not _gone(pid):
            psutil.Process(pid).kill()
    root.wait(timeout=10)


def test_kill_process_tree_leaves_no_descendant_when_the_root_orphans_them(
    tree: tuple[subprocess.Popen[str], list[int]],
) -> None:
    root, pids = tree
    start = time.monotonic()
    killed = localhost.kill_process_tree(root.pid, timeout=30)
    assert sorted(killed) == sorted(pids)
    assert all(_gone(pid) for pid in pids), [pid for pid in pids if not _gone(pid)]
    assert root.stdout is not None and root.stdout.read() == "got SIGTERM\n"  # asked first, not killed
    # The orphans are killed shortly after their root exits, not after the whole 30 s allowance.
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("tree", ["ignore"], indirect=True)
def test_kill_process_tree_kills_a_root_that_ignores_sigterm(tree: tuple[subprocess.Popen[str], list[int]]) -> None:
    root, pids = tree
    localhost.kill_process_tree(root.pid, timeout=1)
    assert all(_gone(pid) for pid in pids)


def test_kill_process_tree_with_force_kills_everything(tree: tuple[subprocess.Popen[str], list[int]]) -> None:
    root, pids = tree
    localhost.kill_process_tree(root.pid, force=True)
    assert all(_gone(pid) for pid in pids)
    assert root.stdout is not None and root.stdout.read() == ""  # never asked


def test_kill_process_tree_of_a_finished_process_is_a_no_op() -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=30)
    assert localhost.kill_process_tree(done.pid) == []


# --- ports ------------------------------------------------------------------------------------------------


def test_free_port_is_bindable_and_port_in_use_sees_a_listener() -> None:
    port = localhost.free_port()
    assert not localhost.port_in_use(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((localhost.LOOPBACK, port))
        sock.listen()
        assert localhost.port_in_use(port)
    assert not localhost.port_in_use(port)


# --- waiting ----------------------------------------------------------------------------------------------


def test_wait_until_returns_once_the_check_holds() -> None:
    calls: list[float] = []

    def third_time() -> bool:
        calls.append(time.monotonic())
        return len(calls) >= 3

    localhost.wait_until(third_time, timeout=10, what="the third call", interval=0.01)
    assert len(calls) == 3


def test_wait_until_times_out_with_what_it_waited_for_and_the_last_error() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nothing listens")

    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"the server at :1 was not ready after 0 s") as raised:
        localhost.wait_until(refused, timeout=0.3, what="the server at :1", interval=0.05)
    assert "ConnectionRefusedError: nothing listens" in str(raised.value)
    assert time.monotonic() - start >= 0.3


def test_wait_until_stops_early_when_give_up_says_so() -> None:
    polls: list[int] = []

    def died() -> str | None:
        polls.append(1)
        return "the process exited (code 1)" if len(polls) >= 2 else None

    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"stopped waiting for the server: the process exited \(code 1\)"):
        localhost.wait_until(lambda: False, timeout=60, what="the server", interval=0.01, give_up=died)
    assert len(polls) == 2
    assert time.monotonic() - start < 30


# --- HTTP -------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/json":
            self._send(200, json.dumps({"status": "ready", "accept": self.headers["Accept"]}).encode())
        elif self.path == "/text":
            self._send(200, b"arxiv_requests_total 3.0\n", "text/plain")
        else:
            self._send(404, json.dumps({"status": {"info": f"no {self.path}"}}).encode())

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        echo = {"method": "POST", "content_type": self.headers["Content-Type"], "body": raw.decode()}
        self._send(201, json.dumps(echo).encode())

    def do_PUT(self) -> None:
        self._send(200, json.dumps({"method": "PUT"}).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer((localhost.LOOPBACK, 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{localhost.LOOPBACK}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_request_returns_status_and_json(server: str) -> None:
    assert localhost.request(f"{server}/json") == (200, {"status": "ready", "accept": "application/json"})


def test_request_returns_text_that_is_not_json(server: str) -> None:
    assert localhost.request(f"{server}/text") == (200, "arxiv_requests_total 3.0\n")


def test_request_returns_an_error_status_instead_of_raising(server: str) -> None:
    assert localhost.request(f"{server}/missing") == (404, {"status": {"info": "no /missing"}})


@pytest.mark.parametrize(
    ("kwargs", "content_type", "body"),
    [
        ({"json_body": {"jsonData": [1]}}, "application/json", '{"jsonData": [1]}'),
        ({"form": {"username": "a b"}}, "application/x-www-form-urlencoded", "username=a+b"),
        ({"data": b"raw", "content_type": "text/plain"}, "text/plain", "raw"),
        ({"data": b'{"a": '}, "application/json", '{"a": '),
    ],
)
def test_request_posts_each_kind_of_body(server: str, kwargs: dict[str, Any], content_type: str, body: str) -> None:
    status, answer = localhost.request(f"{server}/post", **kwargs)
    assert status == 201
    assert answer == {"method": "POST", "content_type": content_type, "body": body}


def test_request_honours_the_method(server: str) -> None:
    assert localhost.request(f"{server}/put", method="PUT", json_body={}) == (200, {"method": "PUT"})


def test_request_raises_httperror_for_a_closed_port() -> None:
    url = f"http://{localhost.LOOPBACK}:{localhost.free_port()}/health"
    with pytest.raises(localhost.HTTPError, match="could not reach") as raised:
        localhost.request(url, timeout=5)
    assert raised.value.status is None


def test_request_raises_httperror_when_the_port_does_not_speak_http() -> None:
    """A port of another protocol answers garbage: that is "could not reach", not a crash of the caller."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((localhost.LOOPBACK, 0))
        listener.listen()

        def answer_garbage() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

        thread = threading.Thread(target=answer_garbage, daemon=True)
        thread.start()
        with pytest.raises(localhost.HTTPError, match="could not reach"):
            localhost.request(f"http://{localhost.LOOPBACK}:{listener.getsockname()[1]}/", timeout=5)
        thread.join(timeout=5)
