"""Model deployers: the local Seldon microservice deployer flavor and the serving environment it runs."""
