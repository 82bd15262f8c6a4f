"""Send real papers to the new server; keep it and retire the old one, or roll back."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from arxiv_classifier.config import ServingConfig
from arxiv_classifier.constants import (
    COL_ID,
    COL_SPLIT,
    COL_TEXT,
    FAILURE_KEY,
    ONNX_METADATA_KEY,
    SMOKE_TEST,
    TEST_PREDICTIONS,
)
from arxiv_classifier.endpoint import check_answers, check_contract
from arxiv_classifier.serving_format import FP32, TORCH
from deployers import for_deployer
from deployers.deployments import active_model_deployer, current_deployments
from steps.deployment._common import classifier_artifact, split_title_summary, training_dataset

logger = get_logger(__name__)


class SmokeTestFailed(RuntimeError):
    """The new deployment broke the contract; it was removed and the previous one restored."""


#: Largest probability difference allowed for formats that compute what PyTorch computes (torch, ONNX fp32).
EXACT_TOLERANCE = 1e-3


def _smoke_papers(model: Any, n: int, seed: int = 0) -> tuple[list[dict[str, str]], list[Any]]:
    """`n` test papers of the version ({"title", "summary"}) and their ids."""
    dataset = training_dataset(model)
    pool = dataset[dataset[COL_SPLIT] == "test"]
    if pool.empty:
        pool = dataset
    rows = pool.sample(n=min(n, len(pool)), random_state=seed)
    papers = [dict(zip(("title", "summary"), split_title_summary(t), strict=True)) for t in rows[COL_TEXT]]
    return papers, rows[COL_ID].tolist()


def _answer_check(
    model: Any, deployment: dict[str, Any], papers: list[dict[str, str]], ids: list[Any], labels: list[str]
) -> list[str]:
    """`check_answers` against the version's recorded PyTorch test probabilities (skipped where none are recorded).

    The tolerance is the served format's largest probability difference against PyTorch on the test
    split (the ONNX evaluation), or EXACT_TOLERANCE for formats that compute the same logits.
    """
    artifact = model.get_artifact(TEST_PREDICTIONS)
    recorded = artifact.load() if artifact is not None else None
    if recorded is None or "probabilities" not in recorded:
        logger.info("No recorded test probabilities on this version: the answers are not compared")
        return []
    by_id = dict(zip(recorded[COL_ID], recorded["probabilities"], strict=True))
    keep = [i for i, paper_id in enumerate(ids) if paper_id in by_id]
    expected = [dict(zip(labels, map(float, by_id[ids[i]]), strict=True)) for i in keep]
    fmt = deployment.get("format") or TORCH
    tolerance = EXACT_TOLERANCE
    if fmt not in (TORCH, FP32):
        figures = (model.run_metadata.get(ONNX_METADATA_KEY) or {}).get(fmt) or {}
        tolerance = float(figures.get("max_probability_difference", 1.0))
    return check_answers(deployment["url"], [papers[i] for i in keep], expected, tolerance)


@step(enable_cache=False)
def smoke_tester(deployment: dict[str, Any], serving: ServingConfig) -> Annotated[dict[str, Any], SMOKE_TEST]:
    """Check the protocol-v1 contract on the new server with real papers and bad payloads, and that its
    answers are the evaluated model's (each paper alone, against the recorded test probabilities).

    Pass: the previous deployments are retired (the local deployer keeps them, stopped, for a manual
    rollback; Seldon Core deletes them) and older stopped ones deleted. Fail: the new deployment is
    deleted, the previous one is (re)started, and the step raises.
    """
    model = get_step_context().model
    deployer = active_model_deployer()
    new_id = UUID(deployment["service_id"])
    previous = [UUID(s) for s in deployment.get("previous_service_ids", [])]
    labels = classifier_artifact(model).load().labels
    papers, ids = _smoke_papers(model, serving.smoke_papers)
    problems = check_contract(
        deployment["url"], papers, labels=labels, top_k=deployment.get("top_k"), max_batch=deployment.get("max_batch")
    )
    problems += _answer_check(model, deployment, papers, ids, labels)
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
    record = {
        "passed": True,
        "papers": len(papers),
        "format": deployment.get("format"),
        "retired": [str(u) for u in previous],
    }
    log_metadata(metadata={"smoke_test": record, "deployment": {**deployment, "status": "serving"}}, infer_model=True)
    logger.info("Smoke test passed: %s version %s serves at %s", model.name, model.number, deployment["url"])
    print(f"Deployed {model.name} version {model.number}: {deployment['url']}/api/v1.0/predictions")
    return record
