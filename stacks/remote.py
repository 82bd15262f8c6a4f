"""What a pipeline needs when the active orchestrator runs its steps in containers (e.g. Vertex AI)."""

from __future__ import annotations

import os
from typing import Any

from stacks.registry import StackError

#: Environment variable naming the pushed pipeline image (the Dockerfile's `pipeline` target).
PIPELINE_IMAGE_ENV = "ARXIV_PIPELINE_IMAGE"


def remote_settings() -> dict[str, Any]:
    """Pipeline settings for the active stack: Docker settings when its orchestrator runs steps in containers.

    The steps then run in an image built on the project's pipeline image (locked dependencies, CUDA torch
    for the GPU step) with the code on top; nothing changes for the local orchestrator.

    Returns:
        `{"docker": DockerSettings(...)}` for a containerised orchestrator, else an empty dict.

    Raises:
        StackError: the orchestrator runs containers but `ARXIV_PIPELINE_IMAGE` names no image.
    """
    from zenml.client import Client
    from zenml.config import DockerSettings
    from zenml.enums import StackComponentType

    orchestrator = Client().active_stack_model.components.get(StackComponentType.ORCHESTRATOR)
    if not orchestrator or orchestrator[0].flavor_name == "local":
        return {}
    image = os.environ.get(PIPELINE_IMAGE_ENV)
    if not image:
        raise StackError(
            f"the active orchestrator '{orchestrator[0].name}' runs steps in containers: set {PIPELINE_IMAGE_ENV} to "
            "the pushed pipeline image (Dockerfile target `pipeline`; see the README's GCP guide), and run "
            "`python run.py --doctor` to check the rest of the stack"
        )
    return {"docker": DockerSettings(parent_image=image, user="app", install_stack_requirements=False)}
