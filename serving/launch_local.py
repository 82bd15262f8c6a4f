"""Start the Seldon Core microservice for a local deployment: bound to one host, optionally as a daemon.

Run with the serving environment's Python:

    python serving/launch_local.py --host 127.0.0.1 --pid-file F --log-file L --daemon -- \\
        arxiv_model.ArxivClassifier --service-type MODEL --http-port P --metrics-port M \\
        --grpc-workers 0 --workers N --threads T --parameters '<json>'

Everything after `--` goes to `seldon-core-microservice` unchanged. seldon-core 1.18 binds its REST and
metrics servers to 0.0.0.0 with no option to change it; this launcher patches gunicorn's bind address to
`--host` for both. The gRPC server and the Flask debug server would still bind every interface, so
`--grpc-workers` other than 0 and `--debug` / SELDON_DEBUG are refused (gRPC is off unless asked for).

With `--daemon` it double-forks, detaches (setsid), sends stdout/stderr to `--log-file`, writes the
daemon's pid to `--pid-file` and returns as soon as that file is written. That pid is the REST server's
gunicorn master: SIGTERM to it stops its workers, the metrics server and Seldon's helper process; if it
is killed outright, they get SIGTERM from the kernel (`die_with_parent`), so nothing of it survives.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
from pathlib import Path

SERVING_DIR = Path(__file__).resolve().parent
TRUE_VALUES = {"1", "true", "yes", "on", "t", "y"}


def split_argv(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(launcher options, seldon-core-microservice arguments); exits with a usage error when invalid."""
    ours, seldon = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(
        prog="launch_local.py",
        description="Run seldon-core-microservice bound to one host (default 127.0.0.1), optionally as a daemon.",
        epilog="Pass the seldon-core-microservice arguments after '--'.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address the REST and metrics servers bind")
    parser.add_argument("--pid-file", help="write the server's pid here (removed when it exits)")
    parser.add_argument("--log-file", help="append stdout and stderr here (required with --daemon)")
    parser.add_argument("--daemon", action="store_true", help="detach and return once the pid file is written")
    args = parser.parse_args(ours)
    if not seldon:
        parser.error("pass the seldon-core-microservice arguments after '--', e.g. -- arxiv_model.ArxivClassifier ...")
    if args.daemon and not (args.log_file and args.pid_file):
        parser.error("--daemon needs --log-file and --pid-file")
    if "--debug" in seldon or os.environ.get("SELDON_DEBUG", "").lower() in TRUE_VALUES:
        parser.error("--debug / SELDON_DEBUG start Flask's debug server, which binds 0.0.0.0; not allowed here")
    grpc_workers = _option_value(seldon, "--grpc-workers")
    if grpc_workers is None:
        seldon += ["--grpc-workers", "0"]  # seldon's default (1) starts a gRPC server on 0.0.0.0
    elif grpc_workers.strip() != "0":
        parser.error(
            f"--grpc-workers {grpc_workers}: seldon binds gRPC to 0.0.0.0; the local launcher serves REST only"
        )
    return args, seldon


def _option_value(argv: list[str], option: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == option:
            return argv[i + 1] if i + 1 < len(argv) else ""
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def bind_gunicorn_to(host: str) -> None:
    """Make every seldon gunicorn app (REST: UserModelApplication, metrics: StandaloneApplication) bind `host`."""
    from seldon_core import gunicorn_utils

    original = gunicorn_utils.StandaloneApplication.load_config
    address = f"[{host}]" if ":" in host else host

    def load_config(self: gunicorn_utils.StandaloneApplication) -> None:
        bind = (self.options or {}).get("bind")
        if bind:
            self.options["bind"] = f"{address}:{str(bind).rpartition(':')[2]}"
        original(self)

    gunicorn_utils.StandaloneApplication.load_config = load_config  # type: ignore[method-assign]


def daemonize(log_file: str) -> int:
    """Double fork and detach; returns in the daemon only (with the write end of the ready pipe)."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    if (session_leader := os.fork()) > 0:  # the caller: wait until the daemon says its pid file is written
        os.close(write_fd)
        chunks = []
        while chunk := os.read(read_fd, 64):
            chunks.append(chunk)
        # Reap the intermediate process (it exits right after forking the daemon): where PID 1 does not reap
        # orphans, as in some containers, it would otherwise stay a zombie in the server's session.
        os.waitpid(session_leader, 0)
        pid = b"".join(chunks).decode().strip()
        if not pid:
            sys.stderr.write(f"launch_local.py: the daemon failed to start; see {log_file}\n")
            os._exit(1)
        sys.stdout.write(pid + "\n")
        sys.stdout.flush()
        os._exit(0)
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null_fd)
    os.close(log_fd)
    return write_fd


def die_with_parent() -> None:
    """Make every process forked from here on receive SIGTERM when the process that forked it dies (Linux).

    seldon-core starts its metrics server (its own gunicorn master and worker) and a helper with
    multiprocessing, and gunicorn forks the REST workers. A SIGTERM to the master stops them all, but a
    SIGKILL (or a crash) of the master would leave them running, keeping the metrics port; the next
    start of the same deployment then moved to another port and the orphans stayed. With the parent-death
    signal set in every child, no process of a dead server survives it.
    """
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # not Linux: a SIGKILLed master can still leave orphans there
        return
    pr_set_pdeathsig = 1

    forking: list[int] = [0]

    def remember_parent() -> None:
        forking[0] = os.getpid()

    def in_child() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != forking[0]:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    os.register_at_fork(before=remember_parent, after_in_child=in_child)


def write_pid_file(path: str) -> None:
    pid = os.getpid()
    tmp = f"{path}.tmp{pid}"
    Path(tmp).write_text(f"{pid}\n")
    os.replace(tmp, path)

    def remove() -> None:
        # gunicorn workers are forks that exit through sys.exit, so they run this too: only the owner removes.
        if os.getpid() == pid:
            with contextlib.suppress(OSError):
                if Path(path).read_text().strip() == str(pid):
                    os.unlink(path)

    atexit.register(remove)


def main(argv: list[str] | None = None) -> None:
    args, seldon_args = split_argv(sys.argv[1:] if argv is None else argv)
    ready_fd = daemonize(args.log_file) if args.daemon else None
    if args.log_file and not args.daemon:
        log_fd = os.open(args.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    if args.pid_file:
        write_pid_file(args.pid_file)
    if ready_fd is not None:
        os.write(ready_fd, str(os.getpid()).encode())
        os.close(ready_fd)

    sys.path.insert(0, str(SERVING_DIR))
    die_with_parent()
    bind_gunicorn_to(args.host)
    from seldon_core import microservice

    sys.argv = ["seldon-core-microservice", *seldon_args]
    microservice.main()


if __name__ == "__main__":
    main()
