"""Monitoring pipeline: the served (or newly arrived) papers -> the gate's drift check + decay -> verdict."""

from zenml import pipeline

from arxiv_classifier.config import MonitorRunConfig
from arxiv_classifier.constants import MONITORING_PIPELINE
from steps import decay_evaluator, drift_checker, model_history_reporter, monitor_reporter, monitored_papers_loader


@pipeline(name=MONITORING_PIPELINE, enable_cache=False)
def monitoring_pipeline(config: MonitorRunConfig) -> None:
    """Judge the pipeline model's version (the `production` one, pinned when the run starts).

    Acting on the verdict (retrain, then deploy) is the launcher's job (`pipelines/loop.py`), after
    this run: each triggered run is then a run of its own, linked from this one's metadata.
    """
    papers, window = monitored_papers_loader(config=config)
    drift_result, _report, _summary = drift_checker(config=config.drift, current=papers)
    decay = decay_evaluator(papers=papers, batch_size=config.drift.batch_size)
    verdict, _monitoring_report = monitor_reporter(
        drift_result=drift_result, decay=decay, window=window, config=config.monitor
    )
    model_history_reporter(latest=verdict)
