"""Static checks of the Dockerfile and .dockerignore (no Docker engine here: nothing is built).

The Dockerfile is parsed into stages and instructions; .dockerignore is evaluated with docker-py's own
matcher (the one ZenML's image builder uses for its build context too).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deployers.serving_env import REPO_ROOT, SERVING_LOCK

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
PIPELINE_LOCK = "requirements/pipeline.lock"
SERVING_CLASS_FILE = "serving/arxiv_model.py"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[tuple[int, str]]:
        return [(i, args) for i, (kw, args) in enumerate(self.instructions) if kw == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """(global ARG defaults, stages by name): comments dropped, continuation lines joined."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        logical.append(current.strip())
        current = ""
    assert not current, "the Dockerfile ends with a continuation"
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, f"cannot parse FROM {args}"
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), match.group(1))
            name = (match.group(2) or f"stage{len(stages)}").lower()
            stage = stages[name] = Stage(name=name, base=image)
        elif stage is None:
            assert keyword == "ARG", f"only ARG may come before the first FROM, got {keyword}"
            key, _, value = args.partition("=")
            global_args[key] = value
        else:
            stage.instructions.append((keyword, args))
    return global_args, stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())[1]


def root_image(stages: dict[str, Stage], name: str) -> str:
    base = stages[name].base
    while base.lower() in stages:
        base = stages[base.lower()].base
    return base


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    chain = [stages[name]]
    while chain[-1].base.lower() in stages:
        chain.append(stages[chain[-1].base.lower()])
    return chain


def copies(stage: Stage) -> list[tuple[int, list[str], str]]:
    """(index, sources, destination) of each COPY/ADD (flags dropped; exec form understood)."""
    found = []
    for i, (keyword, args) in enumerate(stage.instructions):
        if keyword in ("COPY", "ADD"):
            parts = json.loads(args) if args.startswith("[") else shlex.split(args)
            parts = [p for p in parts if not p.startswith("--")]
            found.append((i, parts[:-1], parts[-1]))
    return found


def pip_installs(stage: Stage) -> list[tuple[int, str]]:
    return [(i, args) for i, args in stage.all("RUN") if re.search(r"\bpip install\b", args)]


def exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"use the exec form (JSON array) so signals reach the server: {args}"
    parsed = json.loads(args)
    assert isinstance(parsed, list)
    return [str(p) for p in parsed]


def test_two_targets_on_python_3_11_slim(stages: dict[str, Stage]) -> None:
    assert {"pipeline", "serving"} <= set(stages)
    for target in ("pipeline", "serving"):
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", root_image(stages, target))


def test_pipeline_installs_the_lock_before_copying_the_source(stages: dict[str, Stage]) -> None:
    pipeline = stages["pipeline"]
    copied = copies(pipeline)
    lock_copy = [(i, dest) for i, sources, dest in copied if sources == [PIPELINE_LOCK]]
    assert lock_copy, "the pipeline target must COPY requirements/pipeline.lock on its own"
    lock_index, lock_dest = lock_copy[0]
    installs = [(i, a) for i, a in pip_installs(pipeline) if re.search(rf"-r\s+{re.escape(lock_dest)}(\s|$)", a)]
    assert installs, "no `pip install -r requirements/pipeline.lock`"
    install_index = installs[0][0]
    source_copy = [i for i, sources, _ in copied if "." in sources or "./" in sources]
    assert source_copy, "the pipeline target must copy the project source (COPY . .)"
    assert lock_index < install_index < source_copy[0], "the lock must be installed before the source is copied"


def test_pipeline_torch_variant_is_a_build_arg(stages: dict[str, Stage]) -> None:
    pipeline = stages["pipeline"]
    args = dict(a.partition("=")[::2] for _, a in pipeline.all("ARG"))
    assert args.get("TORCH_VARIANT") == "cpu"
    (install,) = [a for _, a in pip_installs(pipeline) if PIPELINE_LOCK in a]
    assert "https://download.pytorch.org/whl/${TORCH_VARIANT}" in install
    assert "--extra-index-url" in install


def test_serving_installs_the_local_deployers_lock_and_copies_only_the_serving_class(stages: dict[str, Stage]) -> None:
    serving = stages["serving"]
    lock = SERVING_LOCK.relative_to(REPO_ROOT).as_posix()
    assert lock == "serving/requirements.lock"
    copied = copies(serving)
    sources = sorted(s for _, srcs, _ in copied for s in srcs)
    assert sources == sorted([lock, SERVING_CLASS_FILE]), f"the serving image copies only these, got {sources}"
    (lock_index, lock_dest) = next((i, dest) for i, srcs, dest in copied if srcs == [lock])
    installs = [(i, a) for i, a in pip_installs(serving) if re.search(rf"-r\s+{re.escape(lock_dest)}(\s|$)", a)]
    assert installs, f"no `pip install -r {lock_dest}`"
    class_index = next(i for i, srcs, _ in copied if srcs == [SERVING_CLASS_FILE])
    assert lock_index < installs[0][0] < class_index
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in installs[0][1]
    # Nothing of the pipeline environment sneaks into the serving lineage.
    for stage in lineage(stages, "serving"):
        for _, args in pip_installs(stage):
            assert PIPELINE_LOCK not in args and "zenml" not in args


def test_every_pip_install_compiles_bytecode(stages: dict[str, Stage]) -> None:
    installs = [a for s in stages.values() for _, a in pip_installs(s)]
    assert installs
    for args in installs:
        assert "--compile" in args and "--no-compile" not in args, args
    for target in ("pipeline", "serving"):
        assert any("compileall" in a for _, a in stages[target].all("RUN")), f"{target}: source not compiled"


def test_serving_entrypoint_runs_the_seldon_microservice(stages: dict[str, Stage]) -> None:
    serving = stages["serving"]
    command = [*exec_form(serving.all("ENTRYPOINT")[-1][1])] if serving.all("ENTRYPOINT") else []
    if serving.all("CMD"):
        command += exec_form(serving.all("CMD")[-1][1])
    assert command[:2] == ["seldon-core-microservice", "arxiv_model.ArxivClassifier"]
    flags = dict(zip(command[2::2], command[3::2], strict=False))
    assert flags["--service-type"] == "MODEL"
    assert flags["--grpc-workers"] == "0"
    # Parameters come from the SeldonDeployment (PREDICTIVE_UNIT_PARAMETERS), not baked into the image.
    assert "--parameters" not in command
    # The class exists in the copied module and is the one the local deployer serves.
    module = ast.parse((REPO_ROOT / SERVING_CLASS_FILE).read_text())
    assert any(isinstance(n, ast.ClassDef) and n.name == "ArxivClassifier" for n in module.body)
    local = ast.parse((REPO_ROOT / "deployers/local_seldon/service.py").read_text())
    consts = {
        t.id: n.value.value
        for n in local.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    assert consts["SERVING_CLASS"] == command[1]


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for _, args in stage.all("ENV"):
        for token in shlex.split(args):
            key, sep, value = token.partition("=")
            assert sep, f"use ENV KEY=VALUE: {args}"
            env[key] = value
    return env


def test_serving_environment_ports_and_user(stages: dict[str, Stage]) -> None:
    serving = stages["serving"]
    env = _env(serving)
    assert env["MODEL_DIR"] == "/mnt/models"
    assert env["PERSISTENCE"] == "0"
    assert env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"] == "9000"
    assert env["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"] == "6000"
    exposed = {p for _, a in serving.all("EXPOSE") for p in a.split()}
    assert {"9000", "6000"} <= exposed
    users = serving.all("USER")
    assert users, "the serving image must not run as root"
    user = users[-1][1].split(":")[0]
    assert user.isdigit() and user != "0", "a numeric non-root USER lets Kubernetes verify runAsNonRoot"
    from deployers.seldon_gke import SERVING_UID

    assert int(user) == SERVING_UID


def test_a_non_root_user_exists_for_the_pipeline_image(stages: dict[str, Stage]) -> None:
    """The pipeline image ends as root for ZenML's build on top; DockerSettings(user="app") switches."""
    runs = [a for s in lineage(stages, "pipeline") for _, a in s.all("RUN")]
    assert any(re.search(r"useradd\b.*--uid 1000\b.*\bapp\b", a) for a in runs)
    assert all(a.split(":")[0] in ("root", "0") for _, a in stages["pipeline"].all("USER"))


# --- .dockerignore ----------------------------------------------------------------------------------------

EXCLUDED = [
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/torch/__init__.py",
    ".venv-serving/bin/python",
    ".venv-serving-install.log",
    "data/arxiv/papers.csv.gz",
    "shared/data/arxiv/papers.csv.gz",
    "outputs/predictions/predictions.csv",
    "runs/2026-01-01/report.html",
    "mlruns/0/meta.yaml",
    ".zen/config.yaml",
    ".git/HEAD",
    "arxiv_classifier/__pycache__/data.cpython-311.pyc",
    "steps/data/__pycache__/data_loader.cpython-311.pyc",
    ".pytest_cache/README.md",
    ".mypy_cache/3.11/cache.db",
]


#: Tracked but deliberately outside the build context: CI configuration.
NOT_IN_IMAGES = (".github/", ".ci/")


def _repo_files() -> list[str]:
    git = shutil.which("git")
    if git and (REPO_ROOT / ".git").exists():
        listed = subprocess.run(
            [git, "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if listed.returncode == 0:
            return [f for f in listed.stdout.splitlines() if (REPO_ROOT / f).is_file()]
    return [
        p.relative_to(REPO_ROOT).as_posix()
        for d in ("arxiv_classifier", "steps", "pipelines", "materializers", "stacks", "deployers", "serving")
        for p in (REPO_ROOT / d).rglob("*.py")
        if "__pycache__" not in p.parts
    ]


def test_dockerignore_keeps_data_envs_and_runs_out_and_the_source_in(tmp_path: Path) -> None:
    from docker.utils.build import exclude_paths

    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    source = _repo_files()
    needed = [PIPELINE_LOCK, "serving/requirements.lock", SERVING_CLASS_FILE, "steps/data/data_loader.py", "run.py"]
    for rel in {*source, *needed, *EXCLUDED}:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    context = exclude_paths(str(tmp_path), patterns)
    leaked = [p for p in EXCLUDED if p in context]
    assert not leaked, f".dockerignore lets these into the build context: {leaked}"
    missing = [p for p in {*source, *needed} if p not in context and not p.startswith(NOT_IN_IMAGES)]
    assert not missing, f".dockerignore excludes source the images need: {sorted(missing)}"


def test_hadolint_if_available() -> None:
    hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint is not installed")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "error", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
