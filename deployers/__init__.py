"""Model deployers: one interface (`interface`), two implementations (`local_seldon`, `seldon_gke`).

The deployment step calls `deployers.deploy_new_server(deployer, ...)` whatever model deployer the stack
has; `deployers.deployments` answers "what is deployed, and where does it answer". The serving
virtualenv the local deployer runs is `serving_env`.
"""

from deployers.errors import DeploymentError, NoRunningDeployment
from deployers.interface import ModelIdentity, RunContext, ServerDeployer, deploy_new_server, for_deployer
from deployers.serving_class import with_request_log_uri

__all__ = [
    "DeploymentError",
    "ModelIdentity",
    "NoRunningDeployment",
    "RunContext",
    "ServerDeployer",
    "deploy_new_server",
    "for_deployer",
    "with_request_log_uri",
]
