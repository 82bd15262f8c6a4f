#!/usr/bin/env python
"""What int8 costs in quality and buys in speed: ONNX Runtime quantisation variants against PyTorch fp32.

Exports a classifier directory to ONNX (fp32), quantises it to int8 several ways (per tensor or per
channel, with or without ONNX Runtime's pre-processing, all default operators or MatMul only), scores
the same labelled papers with each and with PyTorch, and prints per variant: accuracy, macro-F1, their
drops against PyTorch in points, argmax agreement, the largest probability difference, the model size
and the single-paper latency on one thread (p50, as a ratio to PyTorch fp32 measured in the same run).
The training pipeline's export uses the variant `export.per_channel` / `export.preprocess` name.

    python benchmarks/quantization_accuracy.py --model-dir <classifier dir> [--start 2026-06-22] [--n 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VARIANTS = {
    "per-tensor": {},
    "per-channel": {"per_channel": True},
    "preprocessed per-tensor": {"preprocess": True},
    "preprocessed per-channel": {"preprocess": True, "per_channel": True},
    "MatMul only, per-channel": {"per_channel": True, "op_types": ["MatMul"]},
}


def p50_ms(score: object, texts: list[str]) -> float:
    import numpy as np

    times = []
    for text in texts:
        start = time.perf_counter()
        score([text])  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.percentile(times, 50))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model-dir", type=Path, required=True, help="a TextClassifier directory")
    parser.add_argument("--papers", default="${DATA_DIR}/arxiv/papers.csv.gz", help="labelled papers source")
    parser.add_argument("--start", default="2024-01-01", help="keep papers dated on or after this day")
    parser.add_argument("--n", type=int, default=1000, help="papers scored")
    parser.add_argument("--latency-papers", type=int, default=200, help="papers timed one at a time")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    from arxiv_classifier.classifier import TextClassifier
    from arxiv_classifier.config import CurrentDataConfig, resolve_papers_source
    from arxiv_classifier.modeling import batched_forward, softmax
    from arxiv_classifier.onnx_export import (
        compare_with_torch,
        export_onnx,
        load_runner,
        onnx_probabilities,
        quantize_int8,
    )
    from arxiv_classifier.papers import load_papers

    torch.set_num_threads(1)
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
    texts, truth = papers["text"].tolist(), papers["label"].tolist()
    timed = texts[: args.latency_papers]
    print(f"{len(texts)} labelled papers from {args.start} on, {len(clf.labels)} labels; one thread")
    torch_logits, _ = batched_forward(clf.model, clf.tokenizer, texts, clf.max_length, 32)
    torch_proba = softmax(torch_logits)
    torch_ms = p50_ms(lambda batch: batched_forward(clf.model, clf.tokenizer, batch, clf.max_length, 1), timed)
    rows = [("PyTorch fp32", compare_with_torch(torch_proba, torch_proba, truth, clf.labels), torch_ms, float("nan"))]
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(clf, Path(tmp) / "fp32")
        dirs = {"ONNX fp32": fp32}
        for name, options in VARIANTS.items():
            dirs[f"int8 {name}"] = quantize_int8(fp32, Path(tmp) / name.replace(" ", "_"), **options)  # type: ignore[arg-type]
        for name, path in dirs.items():
            runner = load_runner(path, threads=1)
            figures = compare_with_torch(onnx_probabilities(runner, texts, 32), torch_proba, truth, clf.labels)
            size = (path / "model.onnx").stat().st_size / 2**20
            rows.append((name, figures, p50_ms(runner.logits, timed), size))
    print(
        "\n| variant | accuracy | Δ points | macro-F1 | Δ points | agreement | max abs Δp | MB | p50 ms (1 paper) "
        "| speed-up vs PyTorch fp32 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for name, f, ms, size in rows:
        print(
            f"| {name} | {f['accuracy']:.4f} | {-f['accuracy_drop_points']:+.2f} | {f['macro_f1']:.4f} | "
            f"{-f['macro_f1_drop_points']:+.2f} | {f['agreement']:.4f} | {f['max_probability_difference']:.2e} | "
            f"{size:.1f} | {ms:.1f} | {torch_ms / ms:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
