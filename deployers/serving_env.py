"""The serving virtualenv: seldon-core and its pins cannot live beside ZenML, so serving gets its own.

Created on first use from `serving/requirements.lock` (the file the serving image installs too) and
reused while that file is unchanged; a changed lock file gives a fresh install. Safe to call from
several processes at once (a file lock serialises creation).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess  # nosec B404  # argv lists only, no shell
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVING_DIR = REPO_ROOT / "serving"
SERVING_LOCK = SERVING_DIR / "requirements.lock"
#: Where the serving virtualenv lives unless the deployer's `serving_venv` setting says otherwise.
DEFAULT_SERVING_VENV = REPO_ROOT / ".venv-serving"


class ServingEnvError(RuntimeError):
    """The serving virtualenv could not be created; the message says what failed and where the log is."""


def _stamp_name(requirements: Path) -> str:
    return ".installed-" + hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]


def serving_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_serving_env(
    venv: Path = DEFAULT_SERVING_VENV, requirements: Path = SERVING_LOCK, extra: list[str] | None = None
) -> Path:
    """Create (or reuse) the serving virtualenv and return its python.

    Args:
        venv: the virtualenv directory.
        requirements: the locked serving requirements.
        extra: more requirement files installed on top (e.g. the serving tests' pytest).
    """
    venv = Path(venv).resolve()
    if not requirements.is_file():
        raise ServingEnvError(f"serving requirements {requirements} not found")
    stamp = venv / _stamp_name(requirements)
    extra = extra or []
    extra_stamps = [venv / (_stamp_name(Path(e)) + ".extra") for e in extra]
    if stamp.is_file() and all(s.is_file() for s in extra_stamps):
        return serving_python(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock_path = venv.parent / f"{venv.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        log = venv.parent / f"{venv.name}-install.log"
        if not stamp.is_file():
            _install(venv, requirements, log, fresh=True)
            for old in venv.glob(".installed-*"):
                old.unlink()
            stamp.touch()
        for req, extra_stamp in zip(extra, extra_stamps, strict=True):
            if not extra_stamp.is_file():
                _install(venv, Path(req), log, fresh=False)
                extra_stamp.touch()
    return serving_python(venv)


def _install(venv: Path, requirements: Path, log: Path, fresh: bool) -> None:
    start = time.perf_counter()
    print(f"Creating the serving environment in {venv} from {requirements.name} (first use; a few minutes)...")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    steps = []
    if fresh:
        steps.append([sys.executable, "-m", "venv", "--clear", str(venv)])
        steps.append([str(serving_python(venv)), "-m", "pip", "install", "--quiet", "--upgrade", "pip>=24"])
    steps.append([str(serving_python(venv)), "-m", "pip", "install", "--quiet", "--compile", "-r", str(requirements)])
    with open(log, "a") as out:
        for cmd in steps:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)  # nosec B603  # argv list, no shell
            if result.returncode != 0:
                raise ServingEnvError(
                    f"creating the serving environment failed at `{' '.join(cmd)}` (exit {result.returncode}); "
                    f"see {log}. Fix the cause and re-run; the environment is rebuilt from scratch."
                )
    print(f"Serving environment ready in {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":  # `python -m deployers.serving_env [--with-tests]`, used by the Makefile
    extras = [str(SERVING_DIR / "requirements-test.txt")] if "--with-tests" in sys.argv else []
    print(ensure_serving_env(extra=extras))
