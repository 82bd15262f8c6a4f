"""The serving modules (serving/*.py), loaded in the project's environment.

The training pipeline scores ONNX models with `serving/onnx_runner.py` itself (so recorded figures come from
the code that serves), and the tests compare the serving class with the library.

The serving class runs in its own environment with serving/ as its import root (the image's
/microservice, the local launcher's sys.path), so `arxiv_model.py` imports its siblings by plain name
(`from request_logger import ...`). Loading it here by file path needs that root for the duration of
the import, and no more: the siblings are dropped from `sys.modules` afterwards so the project's import
namespace stays as it was (the loaded module keeps its own references).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SERVING_DIR = Path(__file__).resolve().parents[1] / "serving"


def load_serving_module(name: str, as_name: str) -> ModuleType:
    """serving/<name>.py imported as module `as_name`, its sibling imports resolved from serving/."""
    # A module of another package imported under a sibling's plain name would shadow it (onnxruntime's
    # transformers tools put their own `onnx_model` on sys.path): set such modules aside meanwhile.
    shadowing = {
        sibling.stem: sys.modules.pop(sibling.stem)
        for sibling in SERVING_DIR.glob("*.py")
        if sibling.stem in sys.modules
    }
    before = set(sys.modules)
    sys.path.insert(0, str(SERVING_DIR))
    try:
        spec = importlib.util.spec_from_file_location(as_name, SERVING_DIR / f"{name}.py")
        assert spec is not None and spec.loader is not None  # nosec B101  # invariant, for mypy
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SERVING_DIR))
        for added in set(sys.modules) - before:
            origin = getattr(sys.modules[added], "__file__", None) or ""
            if Path(origin).parent == SERVING_DIR:
                del sys.modules[added]
        sys.modules.update(shadowing)
    return module


def sibling_imports(path: Path) -> list[Path]:
    """`path` and every serving/ module it imports, transitively (absolute imports of a top-level name)."""
    found: list[Path] = []
    pending = [path]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.append(current)
        for node in ast.walk(ast.parse(current.read_text(), filename=str(current))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                sibling = SERVING_DIR / f"{name.partition('.')[0]}.py"
                if sibling.is_file():
                    pending.append(sibling)
    return found
