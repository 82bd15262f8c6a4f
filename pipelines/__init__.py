"""Pipelines only wire steps; all logic lives in the steps and the `arxiv_classifier` library."""

from pipelines.batch_inference import batch_inference_pipeline
from pipelines.deployment import deployment_pipeline
from pipelines.monitoring import monitoring_pipeline
from pipelines.training import training_pipeline

__all__ = ["batch_inference_pipeline", "deployment_pipeline", "monitoring_pipeline", "training_pipeline"]
