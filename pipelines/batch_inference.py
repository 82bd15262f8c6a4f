"""Batch inference: read incoming papers, check drift (a warning, not a gate), predict, write files."""

from zenml import pipeline

from arxiv_classifier.config import BatchInferenceConfig
from steps import batch_predictor, drift_checker, papers_loader


@pipeline(enable_cache=False)
def batch_inference_pipeline(config: BatchInferenceConfig) -> None:
    """Score `config.papers` with the pipeline model's version (the `production` one by default)."""
    papers = papers_loader(config=config.papers)
    drift_checker(config=config.drift, current=papers)
    batch_predictor(papers=papers, top_k=config.top_k, batch_size=config.batch_size, output_dir=config.output_dir)
