#!/usr/bin/env python
"""What `serving.quantize` costs in quality: fp32 vs int8 dynamic quantisation on labelled papers.

Scores the same labelled papers (default: 1,000 test-era papers, >= 2024, of the model's labels) with
the model directory as trained and with the int8 copy the server makes, and prints accuracy,
macro-F1 and how often the two agree. Pair it with `benchmarks/endpoint_latency.py --quantize` for
the speed side.

    python benchmarks/quantization_accuracy.py --model-dir <classifier dir>
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model-dir", type=Path, required=True, help="a TextClassifier directory")
    parser.add_argument("--papers", default="${DATA_DIR}/arxiv/papers.csv.gz", help="labelled papers source")
    parser.add_argument("--start", default="2024-01-01", help="keep papers dated on or after this day")
    parser.add_argument("--n", type=int, default=1000, help="papers scored")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from sklearn.metrics import f1_score

    from arxiv_classifier.classifier import TextClassifier
    from arxiv_classifier.config import CurrentDataConfig, resolve_papers_source
    from arxiv_classifier.papers import load_papers

    clf = TextClassifier.load(args.model_dir)
    cfg = CurrentDataConfig(
        source=args.papers,
        strip_pattern=None,
        date_field="published_date",
        start=args.start,
        label_field="category",
        restrict_to_model_labels=True,
        max_rows=args.n,
        seed=args.seed,
    )  # type: ignore[call-arg]
    papers = load_papers(resolve_papers_source(cfg), clf.labels)
    texts, truth = papers["text"].tolist(), papers["label"].to_numpy()
    labels = np.array(clf.labels)
    fp32 = labels[clf.predict_proba(texts, batch_size=32).argmax(1)]
    clf.model = torch.ao.quantization.quantize_dynamic(clf.model, {torch.nn.Linear}, dtype=torch.qint8)
    int8 = labels[clf.predict_proba(texts, batch_size=32).argmax(1)]
    acc32, acc8 = float((fp32 == truth).mean()), float((int8 == truth).mean())
    f32, f8 = (float(f1_score(truth, p, average="macro")) for p in (fp32, int8))
    print(f"{len(truth)} labelled papers from {args.start} on, {len(labels)} labels")
    print(f"accuracy  fp32 {acc32:.4f}  int8 {acc8:.4f}  ratio {acc8 / acc32:.3f}")
    print(f"macro-F1  fp32 {f32:.4f}  int8 {f8:.4f}  ratio {f8 / f32:.3f}")
    print(f"same prediction on {float((fp32 == int8).mean()):.1%} of papers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
