"""Requirements recorded with models logged to MLflow (so MLflow does not guess them by importing)."""

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

#: What loads each flavour we log: the Hugging Face classifier, and its ONNX exports.
TRANSFORMERS_PACKAGES = ("torch", "transformers", "tokenizers", "numpy")
ONNX_PACKAGES = ("onnx", "onnxruntime", "numpy")


def mlflow_pip_requirements(packages: Sequence[str] = TRANSFORMERS_PACKAGES) -> list[str]:
    reqs = []
    for name in packages:
        try:
            reqs.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            reqs.append(name)
    return reqs
