"""Requirements recorded with models logged to MLflow (so MLflow does not guess them by importing)."""

from importlib.metadata import PackageNotFoundError, version


def mlflow_pip_requirements() -> list[str]:
    reqs = []
    for name in ("torch", "transformers", "tokenizers", "numpy"):
        try:
            reqs.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            reqs.append(name)
    return reqs
