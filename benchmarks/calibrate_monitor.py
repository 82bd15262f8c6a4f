#!/usr/bin/env python
"""Calibrate the monitor's decay thresholds on measured sampling noise, the way the gate's were.

The monitor says `decayed` when accuracy (or macro-F1) on n labelled papers falls more than a
threshold below the version's own test figure. With no decay at all, the two figures still differ:
both are samples (the test split of N papers, the monitored n). This script measures that difference
where nothing changed, on a real version's own test answers: each resample draws a test figure from
N test rows and a monitored figure from n other draws of the same rows, and records the drop in
points. A threshold at the 99th percentile raises a false `decayed` on at most 1 % of healthy
windows of that size. Figures are printed per n, with the thresholds to configure.

    python benchmarks/calibrate_monitor.py                         # production of arxiv-classifier
    python benchmarks/calibrate_monitor.py --version 3 --sizes 200,300,1000 --resamples 10000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-name", default="arxiv-classifier")
    parser.add_argument("--version", default="production", help="Model version: a number or a stage.")
    parser.add_argument("--sizes", default="200,300,500,1000", help="Monitored sample sizes n, comma-separated.")
    parser.add_argument("--resamples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO_ROOT / "outputs" / "benchmarks" / "monitor_calibration.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")

    from zenml.client import Client

    from arxiv_classifier.constants import COL_ID, COL_LABEL, COL_SPLIT, TEST_PREDICTIONS
    from arxiv_classifier.metrics import encode_labels
    from arxiv_classifier.monitoring import decay_noise
    from steps.deployment._common import label_space, training_dataset

    version = Client().get_model_version(args.model_name, args.version)
    answers = version.get_artifact(TEST_PREDICTIONS).load()
    dataset = training_dataset(version)
    test = dataset[dataset[COL_SPLIT] == "test"].set_index(COL_ID)
    labels = label_space(version)
    truth = encode_labels(test.loc[answers[COL_ID], COL_LABEL].tolist(), labels)
    predicted = encode_labels(answers["predicted"].tolist(), labels)
    sizes = [int(s) for s in args.sizes.split(",")]
    table = decay_noise(truth, predicted, np.arange(len(labels)), sizes, args.resamples, args.seed)

    accuracy = float((truth == predicted).mean())
    print(
        f"{args.model_name} version {version.number}: {len(truth)} test papers, accuracy {accuracy:.3f}, "
        f"{len(labels)} labels; {args.resamples} resamples per n, no decay by construction"
    )
    print("| monitored n | accuracy drop sd | 95th | 99th | macro-F1 drop sd | 95th | 99th |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, row in table.items():
        acc, f1 = row["accuracy"], row["macro_f1"]
        print(
            f"| {n} | {acc['sd']:.2f} | {acc['q95']:.2f} | {acc['q99']:.2f} | "
            f"{f1['sd']:.2f} | {f1['q95']:.2f} | {f1['q99']:.2f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"model": args.model_name, "version": version.number, "n_test": len(truth), "table": table}, indent=2
        )
    )
    print(f"Saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
