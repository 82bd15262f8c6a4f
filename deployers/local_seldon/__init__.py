"""A ZenML model-deployer flavor that runs the Seldon Core Python microservice as a local daemon.

It serves the very class the Seldon Core pods run (`serving/arxiv_model.py`), from a separate serving
virtualenv, bound to loopback. Deployments are ZenML services: `zenml model-deployer models list`,
`... describe`, `... stop`, `... start`, `... delete`, `... logs` manage them.
"""

from deployers.local_seldon.flavor import (
    LOCAL_SELDON_FLAVOR,
    LocalSeldonModelDeployerConfig,
    LocalSeldonModelDeployerFlavor,
)

__all__ = ["LOCAL_SELDON_FLAVOR", "LocalSeldonModelDeployerConfig", "LocalSeldonModelDeployerFlavor"]
