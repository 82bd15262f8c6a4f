"""ZenML steps: thin adapters from the pipeline to the `arxiv_classifier` library."""

import materializers  # noqa: F401  (registers the project's materializers)
from steps.data.data_loader import data_loader
from steps.data.data_preparer import data_preparer
from steps.deployment.deployment_gate import deployment_gate
from steps.deployment.drift_checker import drift_checker
from steps.deployment.endpoint_deployer import endpoint_deployer
from steps.deployment.papers_loader import papers_loader
from steps.deployment.smoke_tester import smoke_tester
from steps.export.onnx_exporter import onnx_exporter
from steps.inference.batch_predictor import batch_predictor
from steps.monitoring.decay_evaluator import decay_evaluator
from steps.monitoring.monitor_reporter import monitor_reporter
from steps.monitoring.monitored_papers_loader import monitored_papers_loader
from steps.promotion.model_promoter import model_promoter
from steps.reporting.model_history_reporter import model_history_reporter
from steps.training.baseline_trainer import baseline_trainer
from steps.training.model_evaluator import model_evaluator
from steps.training.model_trainer import model_trainer

__all__ = [
    "baseline_trainer",
    "batch_predictor",
    "data_loader",
    "data_preparer",
    "decay_evaluator",
    "deployment_gate",
    "drift_checker",
    "endpoint_deployer",
    "model_evaluator",
    "model_history_reporter",
    "model_promoter",
    "model_trainer",
    "monitor_reporter",
    "monitored_papers_loader",
    "onnx_exporter",
    "papers_loader",
    "smoke_tester",
]
