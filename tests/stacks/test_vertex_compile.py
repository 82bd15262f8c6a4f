"""Compile the training pipeline for Vertex AI without submitting it, and check the KFP spec.

The Vertex orchestrator has no dry-run, but `submit_pipeline()` compiles the pipeline to a KFP JSON
file before uploading it: the test stops it at the upload. ZenML would also refuse a remote
orchestrator with a local store (`Stack.requires_remote_server`), build images (skipped: a fixed
parent image) and upload code and logs to the bucket (switched off).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.stacks.gcp_fakes import active_stack_restored, gcp_environment

IMAGE = "europe-west4-docker.pkg.dev/arxiv-test-project/zenml/arxiv-classifier:compile-test"
TRAINING_STEPS = {
    "data_loader",
    "data_preparer",
    "baseline_trainer",
    "model_trainer",
    "model_evaluator",
    "model_promoter",
    "model_history_reporter",
    "onnx_exporter",
}


class Uploaded(Exception):
    """Raised where the orchestrator would upload the compiled pipeline to Vertex AI."""


@pytest.fixture(scope="module")
def compiled_spec() -> Iterator[dict[str, Any]]:
    """The KFP spec the Vertex orchestrator compiles for the training pipeline with configs/train_vertex.yaml."""
    from zenml.config import DockerSettings
    from zenml.integrations.gcp.orchestrators.vertex_orchestrator import VertexOrchestrator
    from zenml.stack import Stack

    from arxiv_classifier.config import load_config, resolve_sources
    from pipelines import training_pipeline
    from stacks.registry import ensure_stack

    captured: dict[str, Any] = {}

    def upload(self: VertexOrchestrator, pipeline_file_path: str, **kwargs: Any) -> None:
        captured["spec"] = json.loads(Path(pipeline_file_path).read_text())
        captured["pipeline_root"] = self._pipeline_root
        raise Uploaded

    with pytest.MonkeyPatch.context() as mp, gcp_environment(mp) as settings, active_stack_restored():
        ensure_stack("gcp", activate=True, variables=settings)
        mp.setattr(VertexOrchestrator, "_upload_and_run_pipeline", upload)
        mp.setattr(Stack, "requires_remote_server", property(lambda self: False))
        mp.setenv("ZENML_DISABLE_PIPELINE_LOGS_STORAGE", "true")
        config = resolve_sources(load_config(REPO_ROOT / "configs" / "train_vertex.yaml"))
        docker = DockerSettings(
            skip_build=True,
            parent_image=IMAGE,
            allow_download_from_code_repository=False,
            allow_download_from_artifact_store=False,
        )
        pipe = training_pipeline.with_options(settings={"docker": docker}, enable_cache=False)
        with pytest.raises(Uploaded):
            pipe(config=config, data_fingerprint="compile-test")
    yield captured


def _tasks(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tasks of the root DAG by step name (the task's display name)."""
    return {task["taskInfo"]["name"]: task for task in spec["root"]["dag"]["tasks"].values()}


def _executor(spec: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    component = spec["components"][task["componentRef"]["name"]]
    return dict(spec["deploymentSpec"]["executors"][component["executorLabel"]])


@pytest.mark.slow
def test_dag_follows_the_pipeline(compiled_spec: dict[str, Any]) -> None:
    spec = compiled_spec["spec"]
    tasks = _tasks(spec)
    assert set(tasks) == TRAINING_STEPS
    step_of = {key: task["taskInfo"]["name"] for key, task in spec["root"]["dag"]["tasks"].items()}

    def upstream(step: str) -> set[str]:
        return {step_of[key] for key in tasks[step].get("dependentTasks", [])}

    assert upstream("data_loader") == set()
    assert upstream("data_preparer") == {"data_loader"}
    assert upstream("baseline_trainer") == {"data_preparer"}
    assert upstream("model_trainer") == {"data_preparer"}
    assert upstream("model_evaluator") == {"data_preparer", "baseline_trainer", "model_trainer"}
    assert upstream("model_promoter") == {"data_preparer", "baseline_trainer", "model_evaluator"}
    assert upstream("model_history_reporter") == {"model_promoter"}
    assert upstream("onnx_exporter") == {"data_preparer", "model_trainer", "model_evaluator"}


@pytest.mark.slow
def test_every_step_runs_the_image_with_zenmls_entrypoint(compiled_spec: dict[str, Any]) -> None:
    spec = compiled_spec["spec"]
    for name, task in _tasks(spec).items():
        container = _executor(spec, task)["container"]
        assert container["image"] == IMAGE, name
        command = " ".join(container["command"] + container.get("args", []))
        assert "zenml.entrypoints" in command and name in command, command
    assert compiled_spec["pipeline_root"].startswith("gs://arxiv-test-bucket/zenml/vertex_pipeline_root/")


@pytest.mark.slow
def test_gpu_is_requested_for_the_trainer_only(compiled_spec: dict[str, Any]) -> None:
    spec = compiled_spec["spec"]
    tasks = _tasks(spec)
    resources = _executor(spec, tasks["model_trainer"])["container"]["resources"]
    accelerator = resources["accelerator"]
    assert accelerator.get("resourceType", accelerator.get("type")) == "NVIDIA_TESLA_T4"
    assert int(accelerator.get("resourceCount", accelerator.get("count"))) == 1
    assert float(resources.get("resourceCpuLimit", resources.get("cpuLimit"))) == 8
    assert str(resources.get("resourceMemoryLimit", resources.get("memoryLimit"))).startswith("30")
    for name, task in tasks.items():
        if name != "model_trainer":
            container = _executor(spec, task)["container"]
            assert "accelerator" not in container.get("resources", {}), f"{name} asks for a GPU"


def test_resources_config_becomes_step_settings() -> None:
    from arxiv_classifier.config import ConfigError, load_config
    from pipelines.training import GKE_ACCELERATOR_LABEL, VERTEX_SETTINGS_KEY, trainer_settings

    assert load_config(REPO_ROOT / "configs" / "train.yaml").resources is None
    resources = load_config(REPO_ROOT / "configs" / "train_vertex.yaml").resources
    assert resources is not None and resources.requested
    settings = trainer_settings(resources)
    assert (settings["resources"].gpu_count, settings["resources"].cpu_count) == (1, 8)
    assert settings["resources"].memory == "30GB"
    node_selectors = settings[VERTEX_SETTINGS_KEY]["pod_settings"]["node_selectors"]
    assert node_selectors == {GKE_ACCELERATOR_LABEL: "NVIDIA_TESLA_T4"}
    cpu_only = trainer_settings(resources.model_copy(update={"gpu_count": 0}))
    assert VERTEX_SETTINGS_KEY not in cpu_only and cpu_only["resources"].gpu_count is None
    with pytest.raises(ConfigError, match=r"resources\.memory"):
        load_config(overrides={"resources.memory": "30 gigs"})
    with pytest.raises(ConfigError, match=r"resources\.gpu_type"):
        load_config(overrides={"resources.gpu_count": 1, "resources.gpu_type": "t4"})


@pytest.mark.slow
def test_local_stack_accepts_the_gpu_config() -> None:
    """The same config on the local stack: resources recorded (and ignored), Vertex settings skipped."""
    from zenml.orchestrators.local.local_orchestrator import LocalOrchestrator

    from arxiv_classifier.config import load_config, resolve_sources
    from pipelines import training_pipeline
    from stacks.registry import ensure_stack

    captured: dict[str, Any] = {}

    def submit(self: LocalOrchestrator, snapshot: Any, **kwargs: Any) -> None:
        captured["snapshot"] = snapshot
        raise Uploaded

    with pytest.MonkeyPatch.context() as mp, active_stack_restored():
        ensure_stack("local", activate=True)
        mp.setattr(LocalOrchestrator, "submit_pipeline", submit)
        config = resolve_sources(load_config(REPO_ROOT / "configs" / "train_vertex.yaml"))
        with pytest.raises(Uploaded):
            training_pipeline.with_options(enable_cache=False)(config=config, data_fingerprint="local-check")
    trainer = captured["snapshot"].step_configurations["model_trainer"].config
    assert trainer.resource_settings.gpu_count == 1
    assert not any(key.startswith("orchestrator") for key in trainer.settings)
    loader = captured["snapshot"].step_configurations["data_loader"].config
    assert loader.resource_settings.empty
