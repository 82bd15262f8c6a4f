"""Seldon Core on GKE: the SeldonDeployment that serves the promoted model from the serving image.

The serving image (Dockerfile target `serving`) runs `seldon-core-microservice arxiv_model.ArxivClassifier`
and reads its model directory from `/mnt/models`. On the `gcp` stack, ZenML's Seldon model deployer applies
a *custom* SeldonDeployment: `spec` builds it (Kubernetes and Seldon only), `adapter` hands it to ZenML's
deployer behind the project's deployer interface, and `cli` prints it for `kubectl`.
"""

from deployers.seldon_gke.adapter import (
    SeldonCoreServerDeployer,
    seldon_deployment_config,
    seldon_deployment_manifest,
    server_config,
    zenml_applied_manifest,
)
from deployers.seldon_gke.spec import (
    DEFAULT_NAMESPACE,
    GRAPH_NODE,
    MODEL_MOUNT,
    MODEL_VOLUME,
    SERVING_UID,
    k8s_name,
    seldon_deployment_spec,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "GRAPH_NODE",
    "MODEL_MOUNT",
    "MODEL_VOLUME",
    "SERVING_UID",
    "SeldonCoreServerDeployer",
    "k8s_name",
    "seldon_deployment_config",
    "seldon_deployment_manifest",
    "seldon_deployment_spec",
    "server_config",
    "zenml_applied_manifest",
]
