#!/usr/bin/env python
"""Which reference the drift gate should compare traffic with: a version's gate scores per reference split.

For each model version, the library's drift check (`drift.model_features` + `drift.run_drift_check`,
the gate's own code and thresholds from the deploy config) runs with each split of the version's own
prepared dataset as the reference (train = its whole training window, validation = the months before
its test period, test) against each traffic source: the labelled papers arXiv announced in the newest
months, and the unlabelled feed (all of it, and its 2024 and 2026 parts). 1,000 papers a side by
default. It prints one line per (reference, traffic) pair and saves them as JSON.

    python benchmarks/gate_references.py --versions 1,5         # versions of arxiv-classifier
    python benchmarks/gate_references.py --versions production --rows 300

The figures behind the README's "Which reference" table. The (test, newest months) pair overlaps when
a version's test split is those months: it is printed, but it is not an independent sample.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-name", default="arxiv-classifier")
    parser.add_argument("--versions", default="production", help="Comma-separated version numbers or stages.")
    parser.add_argument("--deploy-config", default=str(REPO_ROOT / "configs" / "deploy.yaml"))
    parser.add_argument("--rows", type=int, default=1000, help="Papers per side.")
    parser.add_argument("--newest-months", type=int, default=3, help="Months of the newest labelled papers.")
    parser.add_argument(
        "--windows",
        default="",
        help="Extra labelled traffic: comma-separated START:END date windows, e.g. 2026-06-01:2026-07-01.",
    )
    parser.add_argument("--splits", default="train,validation,test", help="Reference splits to measure.")
    parser.add_argument(
        "--reference-windows",
        default="",
        help="Extra references: labelled papers of START:END date windows (what a split of those months would hold).",
    )
    parser.add_argument("--no-feed", action="store_true", help="Leave the unlabelled feed out.")
    parser.add_argument("--out", default=str(REPO_ROOT / "outputs" / "benchmarks" / "gate_references.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")

    import pandas as pd
    from zenml.client import Client

    from arxiv_classifier import drift
    from arxiv_classifier.config import (
        CurrentDataConfig,
        DeployRunConfig,
        load_config,
        resolve_papers_source,
        resolve_sources,
    )
    from arxiv_classifier.constants import COL_DATE, COL_SPLIT, COL_TEXT
    from arxiv_classifier.papers import load_papers, sample_rows
    from steps.deployment._common import classifier_artifact, training_dataset

    cfg = resolve_sources(load_config(args.deploy_config, None, DeployRunConfig)).drift
    labelled = cfg.current.model_copy(update={"newest_months": args.newest_months, "max_rows": args.rows})
    traffic = {f"labelled, newest {args.newest_months} months": load_papers(resolve_papers_source(labelled))}
    for window in filter(None, args.windows.split(",")):
        start, end = (date.fromisoformat(x) for x in window.split(":"))
        dated = labelled.model_copy(update={"newest_months": None, "start": start, "end": end})
        traffic[f"labelled, {start} .. {end}"] = load_papers(resolve_papers_source(dated))
    if not args.no_feed:
        feed = load_papers(resolve_papers_source(CurrentDataConfig(date_field="first_seen", max_rows=None)))
        years = pd.to_datetime(feed[COL_DATE], utc=True).dt.year
        traffic.update({"feed, all": feed, "feed, 2024": feed[years == 2024], "feed, 2026": feed[years == 2026]})
    rows: list[dict[str, Any]] = []
    for name in args.versions.split(","):
        version = Client().get_model_version(args.model_name, int(name) if name.isdigit() else name)
        classifier = classifier_artifact(version).load()
        dataset = training_dataset(version)
        window = drift.token_window(classifier)

        def features(papers: pd.DataFrame, seed: int, classifier: Any = classifier) -> tuple[Any, Any]:
            sample = sample_rows(papers, args.rows, seed)
            found, _, embeddings = drift.model_features(classifier, sample[COL_TEXT].tolist(), cfg.batch_size)
            return found, embeddings

        current = {key: features(papers, cfg.current.seed) for key, papers in traffic.items()}
        references = {split: dataset[dataset[COL_SPLIT] == split] for split in filter(None, args.splits.split(","))}
        for span in filter(None, args.reference_windows.split(",")):
            start, end = (date.fromisoformat(x) for x in span.split(":"))
            dated = labelled.model_copy(update={"newest_months": None, "start": start, "end": end, "max_rows": None})
            references[f"papers {start} .. {end}"] = load_papers(resolve_papers_source(dated))
        for split, part in references.items():
            dates = pd.to_datetime(part[COL_DATE], utc=True)
            ref = features(part, cfg.reference_seed)
            for key, cur in current.items():
                result, _ = drift.run_drift_check(ref[0], ref[1], cur[0], cur[1], cfg, window=window)
                scores = {c.name: round(float(c.score), 3) for c in result.checks}
                row = {
                    "version": version.number,
                    "reference": f"{split} ({dates.min():%Y-%m} .. {dates.max():%Y-%m})",
                    "traffic": key,
                    "blocked": result.blocked,
                    **scores,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"saved {len(rows)} rows to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
