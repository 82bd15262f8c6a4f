"""Open the MLflow UI on loopback over the active stack's MLflow tracking store (`run.py --mlflow-ui`).

Importing this module is cheap: ZenML and MLflow are only imported (or run) inside the functions.
"""

from __future__ import annotations

import shutil
import subprocess  # nosec B404  # argv lists only, no shell
import sys
from pathlib import Path

from arxiv_classifier import localhost
from stacks.registry import StackError

DEFAULT_PORT = 5000
HOST = localhost.LOOPBACK


def tracking_uri() -> str:
    """Return the tracking URI of the active stack's MLflow experiment tracker.

    Returns:
        The tracking URI (for the local tracker: a SQLite file under ZenML's local artifact store).

    Raises:
        StackError: The active stack cannot be loaded or has no MLflow experiment tracker.
    """
    from zenml.client import Client

    try:
        stack = Client().active_stack
    except Exception as exc:  # a broken store or stack: say so instead of a traceback
        raise StackError(f"cannot load the active ZenML stack: {exc}") from exc
    tracker = stack.experiment_tracker
    if tracker is None or tracker.flavor != "mlflow":
        what = "no experiment tracker" if tracker is None else f"a {tracker.flavor!r} experiment tracker"
        raise StackError(
            f"the active stack {stack.name!r} has {what}, not an MLflow one; "
            "register and activate the local stack with `python run.py --setup-stack local`"
        )
    return str(tracker.get_tracking_uri())  # type: ignore[attr-defined]


def launch(port: int = DEFAULT_PORT) -> int:
    """Run the MLflow UI on loopback over the active stack's MLflow tracking store until interrupted.

    Args:
        port: TCP port on 127.0.0.1.

    Returns:
        Exit status: the MLflow UI's own, 0 after Ctrl+C, 1 when it cannot start (message on stderr).
    """
    try:
        uri = tracking_uri()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if uri.startswith(("http://", "https://", "databricks")):
        print(f"The active stack tracks to an MLflow server: open {uri}")
        return 0
    if localhost.port_in_use(port, HOST):
        print(f"error: port {port} on {HOST} is already in use; choose another with --port", file=sys.stderr)
        return 1
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    base = [str(mlflow_bin)] if mlflow_bin.exists() else [shutil.which("mlflow") or "mlflow"]
    # One worker: the UI is for one person, and each worker takes ~20 s and its own memory to start.
    cmd = [*base, "ui", "--backend-store-uri", uri, "--host", HOST, "--port", str(port), "--workers", "1"]
    print(f"MLflow UI on http://{HOST}:{port}  (store: {uri}); stop with Ctrl+C")
    try:
        return subprocess.call(cmd)  # nosec B603  # argv list, no shell
    except FileNotFoundError:
        print("error: the `mlflow` command is not installed in this environment", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
