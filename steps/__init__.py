"""ZenML steps: thin adapters from the pipeline to the `arxiv_classifier` library."""

import materializers  # noqa: F401  (registers the project's materializers)
from steps.data.data_loader import data_loader
from steps.data.data_preparer import data_preparer
from steps.promotion.model_promoter import model_promoter
from steps.training.baseline_trainer import baseline_trainer
from steps.training.model_evaluator import model_evaluator
from steps.training.model_trainer import model_trainer

__all__ = [
    "baseline_trainer",
    "data_loader",
    "data_preparer",
    "model_evaluator",
    "model_promoter",
    "model_trainer",
]
