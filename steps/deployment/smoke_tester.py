"""Send real papers to the new server; keep it and retire the old one, or roll back."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from arxiv_classifier.config import ServingConfig
from arxiv_classifier.constants import COL_SPLIT, COL_TEXT, FAILURE_KEY, SMOKE_TEST
from arxiv_classifier.endpoint import check_contract
from deployers import for_deployer
from deployers.deployments import active_model_deployer, current_deployments
from steps.deployment._common import classifier_artifact, split_title_summary, training_dataset

logger = get_logger(__name__)


class SmokeTestFailed(RuntimeError):
    """The new deployment broke the contract; it was removed and the previous one restored."""


def _smoke_papers(model: Any, n: int, seed: int = 0) -> list[dict[str, str]]:
    dataset = training_dataset(model)
    pool = dataset[dataset[COL_SPLIT] == "test"]
    if pool.empty:
        pool = dataset
    rows = pool.sample(n=min(n, len(pool)), random_state=seed)
    return [dict(zip(("title", "summary"), split_title_summary(t), strict=True)) for t in rows[COL_TEXT]]


@step(enable_cache=False)
def smoke_tester(deployment: dict[str, Any], serving: ServingConfig) -> Annotated[dict[str, Any], SMOKE_TEST]:
    """Check the protocol-v1 contract on the new server with real papers and bad payloads.

    Pass: the previous deployments are retired (the local deployer keeps them, stopped, for a manual
    rollback; Seldon Core deletes them) and older stopped ones deleted. Fail: the new deployment is
    deleted, the previous one is (re)started, and the step raises.
    """
    model = get_step_context().model
    deployer = active_model_deployer()
    new_id = UUID(deployment["service_id"])
    previous = [UUID(s) for s in deployment.get("previous_service_ids", [])]
    labels = classifier_artifact(model).load().labels
    papers = _smoke_papers(model, serving.smoke_papers)
    problems = check_contract(
        deployment["url"], papers, labels=labels, top_k=deployment.get("top_k"), max_batch=deployment.get("max_batch")
    )
    if problems:
        logger.error("Smoke test failed on %s:\n  %s", deployment["url"], "\n  ".join(problems))
        deployer.delete_model_server(new_id)
        restored = []
        for uuid in previous:  # they were never stopped; restart any that died meanwhile
            found = deployer.find_model_server(service_uuid=uuid)
            if found and not found[0].is_running:
                deployer.start_model_server(uuid, timeout=serving.ready_timeout)
            restored.append(str(uuid))
        record = {"passed": False, "problems": problems, "rolled_back_to": restored}
        log_metadata(metadata={"smoke_test": record, "deployment": {"status": "rolled back"}}, infer_model=True)
        where = f"deployment(s) {restored} keep serving" if restored else "there was no previous deployment"
        failure = (
            f"the new deployment of {model.name} version {model.number} failed its smoke test "
            f"({len(problems)} problem(s): {'; '.join(problems[:3])}). It was removed and {where}."
        )
        log_metadata(metadata={FAILURE_KEY: failure})  # on this step: what the launcher reports
        raise SmokeTestFailed(failure)
    servers = for_deployer(deployer)
    for uuid in previous:
        how = servers.retire_server(uuid, timeout=serving.ready_timeout)
        logger.info("Previous deployment %s %s", uuid, how)
    keep = set(previous) | {new_id}
    for service in current_deployments(deployer, model.name):
        if service.uuid not in keep and not service.is_running:
            deployer.delete_model_server(service.uuid)
    record = {"passed": True, "papers": len(papers), "retired": [str(u) for u in previous]}
    log_metadata(metadata={"smoke_test": record, "deployment": {**deployment, "status": "serving"}}, infer_model=True)
    logger.info("Smoke test passed: %s version %s serves at %s", model.name, model.number, deployment["url"])
    print(f"Deployed {model.name} version {model.number}: {deployment['url']}/api/v1.0/predictions")
    return record
