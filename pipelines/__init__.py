"""Pipelines only wire steps; all logic lives in the steps and the `arxiv_classifier` library."""

from pipelines.training import training_pipeline

__all__ = ["training_pipeline"]
