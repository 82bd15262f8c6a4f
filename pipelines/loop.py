"""The loop: monitor the production version, and on `drifted` or `decayed` retrain on the recent window,
then deploy through the gate if the retrained version was promoted.

Acting happens here, in the launcher, after the monitoring run finished: each triggered run is a run
of its own (its own dashboard page, cache and failure), and the links between them are written back
as `monitoring_actions` metadata on the monitoring run and on the monitored model version. A
schedule (`monitor.schedule_cron`) runs the monitoring pipeline on orchestrators that have schedules
(Vertex); those runs report, and the launcher acts when run (`python run.py --pipeline monitor`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from arxiv_classifier.config import REPO_ROOT, ConfigError, DeployRunConfig, MonitorRunConfig, RunConfig
from arxiv_classifier.constants import MONITORING_PIPELINE, MONITORING_VERDICT, PROMOTION_DECISION
from arxiv_classifier.monitoring import ACTIONABLE, ACTIONS_KEY

logger = logging.getLogger(__name__)

REPORTER_STEP = "monitor_reporter"
PROMOTER_STEP = "model_promoter"


class ScheduleRefused(RuntimeError):
    """The active orchestrator cannot run schedules; the message gives the crontab line to use instead."""


@dataclass
class LoopOutcome:
    """What one `monitor_and_act` did: the verdict, the monitoring run, the triggered runs' links."""

    verdict: str
    monitoring_run_id: str
    actions: dict[str, Any] = field(default_factory=dict)
    ok: bool = True

    def summary(self) -> str:
        a = self.actions
        lines = [f"Monitoring verdict: {self.verdict} (run {self.monitoring_run_id})"]
        if a.get("monitored"):
            lines.append(f"Judged: {a['monitored']}")
        if not a.get("triggered"):
            lines.append(f"No retraining: {a.get('why')}")
            return "\n".join(lines)
        train = a.get("training_run") or {}
        lines.append(
            f"Retrained with as_of {a.get('as_of')}: run {train.get('name')} -> version {a.get('retrained_version')}, "
            f"{'PROMOTED' if a.get('promoted') else 'not promoted'} ({a.get('promotion_reason')})"
        )
        if a.get("deployment_run"):
            state = "deployed" if a.get("deployed") else "NOT deployed"
            lines.append(f"Deployment run {a['deployment_run'].get('name')}: {state} ({a.get('deployment_message')})")
        return "\n".join(lines)


def cron_line(config_path: str | Path | None, cron: str = "0 6 * * *") -> str:
    """The crontab line that runs the monitor (and the loop) on a machine without a scheduling orchestrator."""
    config = f" --config {config_path}" if config_path else ""
    return f"{cron} cd {REPO_ROOT} && .venv/bin/python run.py --pipeline monitor{config}"


def repo_path(path: str) -> Path:
    """A config path as given, or relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def _run_link(run: Any) -> dict[str, Any]:
    return {"id": str(run.id), "name": run.name, "status": str(getattr(run.status, "value", run.status))}


def _last_run(pipeline_name: str) -> Any:
    from zenml.client import Client

    return Client().get_pipeline(pipeline_name).last_run


def schedule(config: MonitorRunConfig, config_path: str | Path | None) -> Any | None:
    """The ZenML `Schedule` of `monitor.schedule_cron`, or None when none is configured.

    Raises:
        ScheduleRefused: a cron line is configured but the active orchestrator has no schedules (the
            local one): the message shows the crontab line that does the same.
    """
    cron = config.monitor.schedule_cron
    if cron is None:
        return None
    from zenml.client import Client
    from zenml.config.schedule import Schedule

    orchestrator = Client().active_stack.orchestrator
    if not orchestrator.config.is_schedulable:
        raise ScheduleRefused(
            f"the active stack's orchestrator '{orchestrator.name}' ({orchestrator.flavor}) cannot run schedules "
            f"(monitor.schedule_cron is {cron!r}). Use cron on this machine instead (`crontab -e`):\n"
            f"  {cron_line(config_path, cron)}\n"
            "or set monitor.schedule_cron to null (--set monitor.schedule_cron=null) to run the monitor once."
        )
    return Schedule(name=f"{config.model_name}-monitor", cron_expression=cron)


def monitored_version(config: MonitorRunConfig) -> tuple[str, str]:
    """The version the monitor judges (a number or a stage, as ZenML's `Model(version=)` takes it) and why.

    `version: served` (the default) judges what answers requests: the version of the newest running
    deployment. Promotion happens in training, before the gate, so after a blocked deployment the
    `production` stage names a version that never served; judging it would report on papers it never
    answered (and `source: served` would find none of its requests). With nothing running, the `stage`
    version is judged, and the reason says so.
    """
    from deployers.deployments import served_version

    if isinstance(config.version, int):
        return str(config.version), f"version {config.version}, as configured"
    if config.version == "stage":
        return config.stage, f"the {config.stage} version, as configured"
    if config.monitor.schedule_cron is not None:  # a schedule's runs are pinned when it is created
        return config.stage, f"the {config.stage} version: a schedule judges the stage at each run"
    number = served_version(config.model_name)
    if number is None:
        return config.stage, f"the {config.stage} version: no deployment of {config.model_name} is running"
    return str(number), f"version {number}: the newest running deployment serves it"


def run_monitoring(config: MonitorRunConfig, config_path: str | Path | None = None) -> tuple[Any, str]:
    """Run (or, with a schedule, schedule) the monitoring pipeline on the judged version; (run, why that version)."""
    from zenml import Model

    from pipelines.monitoring import monitoring_pipeline
    from stacks.remote import remote_settings

    version, why = monitored_version(config)
    logger.info("Monitoring %s: %s", config.model_name, why)
    options: dict[str, Any] = {"model": Model(name=config.model_name, version=version)}
    cron = schedule(config, config_path)
    if cron is not None:
        options["schedule"] = cron
    run = monitoring_pipeline.with_options(settings=remote_settings(), **options)(config=config)
    return run, why


def verdict_of(run: Any) -> dict[str, Any]:
    """The `monitoring_verdict` artifact a monitoring run produced."""
    from zenml.client import Client

    run = Client().get_pipeline_run(run.id)
    return dict(run.steps[REPORTER_STEP].outputs[MONITORING_VERDICT][0].load())


def retrain(config: MonitorRunConfig, as_of: str) -> tuple[Any, dict[str, Any]]:
    """Run the training pipeline of `monitor.retrain_config` with `data.as_of = as_of`.

    Returns:
        The training run and its promotion decision.
    """
    from zenml import Model

    from arxiv_classifier.config import load_config, resolve_sources
    from arxiv_classifier.data import source_fingerprint
    from pipelines.training import training_pipeline
    from stacks.remote import remote_settings

    path = repo_path(config.monitor.retrain_config)
    train = resolve_sources(load_config(path, {"data.as_of": as_of}, RunConfig, [("model_name", config.model_name)]))
    if train.data.split.strategy != "window":
        raise ConfigError(
            f"monitor.retrain_config {path} splits by {train.data.split.strategy!r}; retraining as of the monitor's "
            "date needs the window split (configs/train_recent.yaml)"
        )
    pipe = training_pipeline.with_options(model=Model(name=config.model_name), settings=remote_settings())
    run = pipe(config=train, data_fingerprint=source_fingerprint(train.data.source)) or _last_run("training_pipeline")
    run = _fresh(run)
    decision = dict(run.steps[PROMOTER_STEP].outputs[PROMOTION_DECISION][0].load())
    return run, decision


def _fresh(run: Any) -> Any:
    from zenml.client import Client

    return Client().get_pipeline_run(run.id)


def _failure(exc: BaseException) -> str:
    """The gate / smoke-test / deployer message behind a failed deployment run, else the exception itself."""
    from pipelines.deployment import deployment_failure

    return deployment_failure(exc) or f"{type(exc).__name__}: {exc}"


def traffic_before(deploy: DeployRunConfig, as_of: str | date) -> DeployRunConfig:
    """The deploy config with the gate's traffic ending at the monitor's date (dated sources without an end).

    The loop deploys as of the monitor's date: the gate then reads the papers that arrived before it
    (with `newest_months`, the newest months before it), as the retraining did, never later ones.
    """
    current = deploy.drift.current
    if current.date_field is None or current.end is not None:
        return deploy
    end = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    drift = deploy.drift.model_copy(update={"current": current.model_copy(update={"end": end})})
    return deploy.model_copy(update={"drift": drift})


def redeploy(config: MonitorRunConfig, as_of: str | date | None = None) -> tuple[Any, bool, str]:
    """Run the deployment pipeline of `monitor.deploy_config` (the gate decides); (run, deployed, message).

    With `as_of` (the monitor's date), the gate's traffic ends there (`traffic_before`).
    """
    from zenml import Model

    from arxiv_classifier.config import load_config, resolve_sources
    from pipelines.deployment import deployment_pipeline
    from stacks import select_stack_for_run
    from stacks.remote import remote_settings

    deploy = resolve_sources(
        load_config(
            repo_path(config.monitor.deploy_config),
            None,
            DeployRunConfig,
            [("model_name", config.model_name), ("stage", config.stage)],
        )
    )
    if as_of is not None:
        deploy = traffic_before(deploy, as_of)
    select_stack_for_run(require_model_deployer=True)
    pipe = deployment_pipeline.with_options(
        model=Model(name=config.model_name, version=config.stage), settings=remote_settings()
    )
    try:
        run = pipe(config=deploy) or _last_run("deployment_pipeline")
    except Exception as exc:  # the gate blocking is an outcome of the loop, recorded, not a crash of it
        return _fresh(_last_run("deployment_pipeline")), False, _failure(exc)
    return _fresh(run), True, "the gate passed and the smoke test passed"


def record_actions(monitoring_run: Any, verdict: dict[str, Any], actions: dict[str, Any]) -> None:
    """Link the triggered runs from the monitoring run and from the monitored model version."""
    from zenml import log_metadata

    log_metadata(metadata={ACTIONS_KEY: actions}, run_id_name_or_prefix=monitoring_run.id)
    log_metadata(
        metadata={ACTIONS_KEY: actions}, model_name=verdict["model_name"], model_version=verdict["model_version"]
    )


def monitor_and_act(
    config: MonitorRunConfig, trigger: bool = True, config_path: str | Path | None = None
) -> LoopOutcome:
    """Monitor; on `drifted` or `decayed` (and `trigger`) retrain as of the monitor's date, then deploy if promoted.

    Raises:
        ScheduleRefused: `monitor.schedule_cron` is set and the orchestrator has no schedules.
    """
    from stacks import select_stack_for_run

    select_stack_for_run(require_experiment_tracker=False)
    run, monitored = run_monitoring(config, config_path)
    if config.monitor.schedule_cron is not None:
        return LoopOutcome(
            verdict="scheduled",
            monitoring_run_id=str(getattr(run, "id", "")),
            actions={
                "triggered": False,
                "monitored": monitored,
                "why": f"scheduled ({config.monitor.schedule_cron}); each run reports",
            },
        )
    run = run or _last_run(MONITORING_PIPELINE)
    verdict = verdict_of(run)
    outcome = LoopOutcome(verdict=verdict["verdict"], monitoring_run_id=str(run.id))
    actions: dict[str, Any] = {"triggered": False, "monitored": monitored}
    if verdict["verdict"] not in ACTIONABLE:
        actions["why"] = f"the verdict is {verdict['verdict']}"
    elif not trigger:
        actions["why"] = "--no-trigger: report only"
    else:
        actions.update(triggered=True, as_of=verdict["as_of"])
        select_stack_for_run()
        try:
            train_run, decision = retrain(config, verdict["as_of"])
        except Exception as exc:
            actions.update(training_error=f"{type(exc).__name__}: {exc}")
            record_actions(run, verdict, actions)
            outcome.actions, outcome.ok = actions, False
            raise
        promoted = bool(decision.get("promote"))
        actions.update(
            training_run=_run_link(train_run),
            retrained_version=decision.get("candidate_version"),
            promoted=promoted,
            promotion_reason="; ".join(decision.get("reasons") or []) or None,
        )
        if promoted:
            deploy_run, deployed, message = redeploy(config, verdict["as_of"])
            actions.update(deployment_run=_run_link(deploy_run), deployed=deployed, deployment_message=message)
            outcome.ok = deployed
    record_actions(run, verdict, actions)
    outcome.actions = actions
    return outcome
