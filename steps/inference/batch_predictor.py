"""Score incoming papers with the served model version; write the predictions as artifact and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from arxiv_classifier.constants import BATCH_PREDICTIONS, COL_ID, COL_TEXT
from steps.deployment._common import classifier_artifact

logger = get_logger(__name__)


def predictions_frame(
    papers: pd.DataFrame, proba: np.ndarray, labels: list[str], top_k: int, model_version: str
) -> pd.DataFrame:
    order = np.argsort(-proba, axis=1)[:, :top_k]
    out = pd.DataFrame(
        {
            "id": papers[COL_ID].to_numpy() if COL_ID in papers else np.arange(len(papers)).astype(str),
            "title": papers["title"].to_numpy() if "title" in papers else "",
            "category": [labels[row[0]] for row in order],
            "confidence": proba[np.arange(len(proba)), order[:, 0]].round(6) if len(proba) else [],
            "top_k": [
                json.dumps([{"category": labels[j], "probability": round(float(p[j]), 6)} for j in row])
                for row, p in zip(order, proba, strict=True)
            ],
        }
    )
    out["model_version"] = model_version
    return out


@step(enable_cache=False)
def batch_predictor(
    papers: pd.DataFrame, top_k: int, batch_size: int, output_dir: str
) -> Annotated[pd.DataFrame, BATCH_PREDICTIONS]:
    """Predict every paper; also write `<output_dir>/<run name>.csv` and `.jsonl`."""
    context = get_step_context()
    model = context.model
    classifier = classifier_artifact(model).load()
    proba = classifier.predict_proba(papers[COL_TEXT].tolist(), batch_size=batch_size)
    preds = predictions_frame(papers, proba, classifier.labels, min(top_k, len(classifier.labels)), str(model.number))
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / context.pipeline_run.name
    preds.to_csv(stem.with_suffix(".csv"), index=False)
    with open(stem.with_suffix(".jsonl"), "w") as fh:
        for record in preds.to_dict(orient="records"):
            record["top_k"] = json.loads(record["top_k"])
            fh.write(json.dumps(record) + "\n")
    mix = preds["category"].value_counts(normalize=True).round(4).to_dict()
    log_metadata(
        metadata={"rows": len(preds), "predicted_mix": mix, "files": [str(stem) + ".csv", str(stem) + ".jsonl"]},
        infer_artifact=True,
    )
    logger.info("Wrote %d predictions to %s.csv and .jsonl", len(preds), stem)
    print(f"Predictions of {model.name} version {model.number}: {stem}.csv and {stem}.jsonl ({len(preds)} papers)")
    return preds
