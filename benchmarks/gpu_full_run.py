#!/usr/bin/env python
"""Full-data GPU run outside ZenML: fine-tune, score on test, and compare with the TF-IDF baseline.

Reads a *prepared* dataset (parquet with the columns id, text, label, split, as written from
`arxiv_classifier.data.prepare_dataset(...).frame`) instead of the raw CSV, and a local model
directory, so it runs on a machine with neither the data nor a network (nor ZenML). Training uses
the library loop (`train_classifier`) with the settings of the config's `train` section; the test
split is scored with `evaluation_report`. The baseline (TF-IDF + logistic regression) is trained on
the same train split on CPU, by default in a separate process while the GPU trains.

Writes one JSON (rewritten after each stage, so a run cut short keeps what it finished) and prints
a summary:

    python benchmarks/gpu_full_run.py --data prepared.parquet --model /tmp/model --out $OUT/run.json
    PYTHONPATH=. python benchmarks/gpu_full_run.py ...   # where the project is not installed (`make install`)
    python benchmarks/gpu_full_run.py --data prepared.parquet --model DIR --device cpu \
        --epochs 1 --max-rows train=256,validation=64,test=64 --max-length 64     # smoke test
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd

from arxiv_classifier.config import RunConfig, load_config
from arxiv_classifier.constants import COL_LABEL, COL_SPLIT, COL_TEXT, SPLITS
from arxiv_classifier.data import labels_of
from arxiv_classifier.metrics import evaluation_report

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Baseline (CPU), optionally in its own process
# --------------------------------------------------------------------------------------------


def read_prepared(path: str, max_rows: dict[str, int], seed: int) -> pd.DataFrame:
    """Read a prepared dataset; `max_rows` caps splits (random rows, seeded) for smoke tests."""
    frame = pd.read_parquet(path)
    parts = []
    for split in SPLITS:
        part = frame[frame[COL_SPLIT] == split]
        cap = max_rows.get(split)
        if cap is not None and len(part) > cap:
            part = part.sample(n=cap, random_state=seed).sort_index()
        parts.append(part)
    return pd.concat(parts).reset_index(drop=True)


def write_json(results: dict[str, Any], out: Path) -> None:
    """Rewrite the results file atomically (a run cut short keeps what it finished)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str))
    tmp.replace(out)


def run_baseline(frame: pd.DataFrame, cfg: RunConfig, labels: list[str]) -> dict[str, Any]:
    from arxiv_classifier.baseline import baseline_proba, train_baseline

    train = frame[frame[COL_SPLIT] == "train"]
    test = frame[frame[COL_SPLIT] == "test"]
    start = time.perf_counter()
    model = train_baseline(train[COL_TEXT], train[COL_LABEL], cfg.baseline, cfg.data.seed)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    proba = baseline_proba(model, test[COL_TEXT], labels)
    infer_s = time.perf_counter() - start
    report = evaluation_report(
        test[COL_LABEL].tolist(), proba, labels, cfg.evaluation.top_k, cfg.evaluation.calibration_bins
    )
    return {
        "config": cfg.baseline.model_dump(),
        "fit_seconds": fit_s,
        "train_rows": len(train),
        "vocabulary_size": len(model.named_steps["tfidf"].vocabulary_),
        "test_inference_seconds": infer_s,
        "test_inference_samples_per_second": len(test) / infer_s if infer_s else None,
        "test": report,
    }


def _baseline_child(data: str, max_rows: dict[str, int], config: str, overrides: dict[str, Any], out: str) -> None:
    try:
        cfg = load_config(config, overrides)
        frame = read_prepared(data, max_rows, cfg.data.seed)
        result = run_baseline(frame, cfg, labels_of(frame))
    except Exception:  # reported to the parent through the file
        result = {"error": traceback.format_exc()}
    Path(out).write_text(json.dumps(result, default=str))


# --------------------------------------------------------------------------------------------
# Transformer
# --------------------------------------------------------------------------------------------


def run_transformer(
    frame: pd.DataFrame, cfg: RunConfig, labels: list[str], results: dict[str, Any], out: Path, log_every: int
) -> None:
    import torch

    from arxiv_classifier import modeling

    device = modeling.pick_device(cfg.train.device)
    settings = modeling.settings_from_config(cfg.train, show_progress=log_every > 0)
    train = frame[frame[COL_SPLIT] == "train"]
    val = frame[frame[COL_SPLIT] == "validation"]
    test = frame[frame[COL_SPLIT] == "test"]

    start = time.perf_counter()
    clf = modeling.build_classifier(cfg.train.model, labels, cfg.train.max_length, seed=cfg.train.seed)
    dtypes = sorted({str(p.dtype) for p in clf.model.parameters()})
    if dtypes != ["torch.float32"]:
        print(f"model loaded as {dtypes}; casting to float32", flush=True)
        clf.model.float()
    load_s = time.perf_counter() - start
    tr: dict[str, Any] = {
        "settings": {k: v for k, v in vars(settings).items()},
        "model": cfg.train.model,
        "loaded_dtypes": dtypes,
        "max_length_effective": clf.max_length,
        "num_parameters": sum(p.numel() for p in clf.model.parameters()),
        "load_seconds": load_s,
        "device": str(device),
    }
    results["transformer"] = tr

    epoch_marks: list[float] = []

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        epoch_marks.append(time.perf_counter())
        print(f"epoch {epoch}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)

    start = time.perf_counter()
    result = modeling.train_on_prepared(clf, frame, settings, on_epoch_end=on_epoch_end)
    total_s = time.perf_counter() - start
    marks = [start, *epoch_marks]
    history = []
    for i, row in enumerate(result.history):
        entry = dict(row)
        entry["train_samples_per_second"] = len(train) / row["epoch_train_seconds"]
        if "epoch_val_seconds" in row:
            entry["val_samples_per_second"] = len(val) / row["epoch_val_seconds"]
        if i + 1 < len(marks):
            entry["wall_seconds"] = marks[i + 1] - marks[i]  # epoch 1 includes tokenisation and setup
        history.append(entry)
    tr.update(
        history=history,
        best_epoch=result.best_epoch,
        best_val_macro_f1=result.best_val_macro_f1,
        train_samples_per_second=result.train_samples_per_second,
        train_seconds=result.train_seconds,
        peak_memory_mb=result.peak_memory_mb,
        peak_memory_kind="GPU max_memory_allocated" if device.type == "cuda" else "process max RSS",
        train_classifier_wall_seconds=total_s,
    )
    if device.type == "cuda":
        tr["peak_memory_reserved_mb"] = torch.cuda.max_memory_reserved(device) / 2**20
    write_json(results, out)

    # Test: the library's predict_proba (fp32) gives the reported metrics.
    texts = test[COL_TEXT].tolist()
    bs = cfg.train.eval_batch_size
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    proba = clf.predict_proba(texts, batch_size=bs, device=str(device))
    infer_s = time.perf_counter() - start
    report = evaluation_report(
        test[COL_LABEL].tolist(), proba, labels, cfg.evaluation.top_k, cfg.evaluation.calibration_bins
    )
    tr["test"] = report
    tr["test_inference"] = {
        "precision": "fp32",
        "batch_size": bs,
        "seconds": infer_s,
        "samples_per_second": len(texts) / infer_s,
        "peak_memory_mb": modeling.peak_memory_mb(device),
    }
    write_json(results, out)
    if device.type == "cuda":
        # For comparison only: the same pass under bf16 autocast (the metrics above stay fp32).
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            proba16 = clf.predict_proba(texts, batch_size=bs, device=str(device))
        s16 = time.perf_counter() - start
        tr["test_inference_bf16_autocast"] = {
            "seconds": s16,
            "samples_per_second": len(texts) / s16,
            "argmax_agreement_with_fp32": float(np.mean(proba16.argmax(1) == proba.argmax(1))),
            "accuracy": evaluation_report(test[COL_LABEL].tolist(), proba16, labels)["overall"]["accuracy"],
        }
        write_json(results, out)


# --------------------------------------------------------------------------------------------


def parse_max_rows(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (text or "").split(",")):
        split, _, n = item.partition("=")
        if split not in SPLITS:
            raise SystemExit(f"--max-rows: unknown split {split!r}")
        out[split] = int(n)
    return out


def environment() -> dict[str, Any]:
    import sklearn
    import torch
    import transformers

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sklearn": sklearn.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
    return env


def summary(results: dict[str, Any]) -> str:
    lines = [f"rows: {results['rows']}"]
    tr = results.get("transformer", {})
    nan = float("nan")
    for h in tr.get("history", []):
        lines.append(
            f"  epoch {int(h['epoch'])}: train_loss {h['train_loss']:.4f}"
            f"  val_acc {h.get('val_accuracy', nan):.4f}  val_macro_f1 {h.get('val_macro_f1', nan):.4f}"
            f"  train {h.get('epoch_train_seconds', nan):.1f} s"
            f" ({h.get('train_samples_per_second', nan):.0f} samples/s)"
            f"  val {h.get('epoch_val_seconds', nan):.1f} s  epoch wall {h.get('wall_seconds', nan):.1f} s"
        )
    if "train_samples_per_second" in tr:
        lines.append(
            f"  transformer: best epoch {tr['best_epoch']}, {tr['train_samples_per_second']:.0f} samples/s overall, "
            f"peak memory {tr['peak_memory_mb']:.0f} MB ({tr['peak_memory_kind']})"
        )
    for name, block in (("transformer", tr), ("baseline", results.get("baseline", {}))):
        if "test" in block:
            o = block["test"]["overall"]
            top = next((k for k in o if k.startswith("top_")), "top_k")
            lines.append(
                f"  {name:11s} test: accuracy {o['accuracy']:.4f}  macro_f1 {o['macro_f1']:.4f}  "
                f"{top} {o.get(top, float('nan')):.4f}  ece {o['ece']:.4f}  (n={int(o['n'])})"
            )
        elif "error" in block:
            lines.append(f"  {name}: FAILED (see JSON)")
    if "test_inference" in tr:
        ti = tr["test_inference"]
        lines.append(
            f"  transformer inference: {ti['samples_per_second']:.0f} samples/s (fp32, batch {ti['batch_size']})"
        )
    if "test_inference_bf16_autocast" in tr:
        sps = tr["test_inference_bf16_autocast"]["samples_per_second"]
        lines.append(f"  transformer inference bf16 autocast: {sps:.0f} samples/s")
    bl = results.get("baseline", {})
    if "fit_seconds" in bl:
        lines.append(
            f"  baseline: fit {bl['fit_seconds']:.1f} s,"
            f" inference {bl['test_inference_samples_per_second']:.0f} samples/s"
        )
    lines.append(f"  total wall {results.get('wall_seconds', float('nan')):.1f} s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "train_gpu.yaml"))
    parser.add_argument("--data", required=True, help="Prepared dataset parquet (id, text, label, split).")
    parser.add_argument("--model", required=True, help="Local model directory (overrides train.model).")
    out_dir = Path(os.environ["OUT"]) if os.environ.get("OUT") else REPO / "outputs"
    default_out = out_dir / "gpu_full_run.json"
    parser.add_argument("--out", default=str(default_out))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="Overrides train.device.")
    parser.add_argument("--precision", choices=["fp32", "bf16"], help="Overrides train.precision.")
    parser.add_argument("--epochs", type=int, help="Overrides train.epochs.")
    parser.add_argument("--batch-size", type=int, help="Overrides train.batch_size.")
    parser.add_argument("--eval-batch-size", type=int, help="Overrides train.eval_batch_size.")
    parser.add_argument("--max-length", type=int, help="Overrides train.max_length.")
    parser.add_argument("--num-threads", type=int, help="Overrides train.num_threads.")
    parser.add_argument("--max-rows", help="Random caps per split (smoke tests), e.g. train=256,validation=64,test=64")
    parser.add_argument(
        "--baseline",
        choices=["parallel", "after", "skip"],
        default="parallel",
        help="Baseline in a separate process during training (default), after it, or not at all.",
    )
    parser.add_argument("--log-every", type=int, default=200, help="Print progress every N training steps (0: off).")
    args = parser.parse_args()

    overrides = {
        "train.model": args.model,
        "train.device": args.device,
        "train.precision": args.precision,
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "train.eval_batch_size": args.eval_batch_size,
        "train.max_length": args.max_length,
        "train.num_threads": args.num_threads,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    cfg = load_config(args.config, overrides)
    max_rows = parse_max_rows(args.max_rows)
    out = Path(args.out)
    wall_start = time.perf_counter()

    frame = read_prepared(args.data, max_rows, cfg.data.seed)
    labels = labels_of(frame)
    counts = frame[COL_SPLIT].value_counts()
    results: dict[str, Any] = {
        "config": args.config,
        "overrides": overrides,
        "data": args.data,
        "max_rows": max_rows,
        "rows": {s: int(counts.get(s, 0)) for s in SPLITS},
        "labels": labels,
        "label_counts": {s: frame.loc[frame[COL_SPLIT] == s, COL_LABEL].value_counts().to_dict() for s in SPLITS},
        "environment": environment(),
    }
    print(f"rows {results['rows']}, {len(labels)} labels; environment {results['environment']}", flush=True)
    write_json(results, out)

    child = None
    child_out = out.with_name(out.stem + ".baseline.tmp.json")
    if args.baseline == "parallel":
        ctx = mp.get_context("spawn")
        child = ctx.Process(
            target=_baseline_child, args=(args.data, max_rows, args.config, overrides, str(child_out)), daemon=True
        )
        child.start()

    try:
        run_transformer(frame, cfg, labels, results, out, args.log_every)
    except Exception:
        results.setdefault("transformer", {})["error"] = traceback.format_exc()
        print(results["transformer"]["error"], file=sys.stderr, flush=True)
    write_json(results, out)

    if args.baseline == "after":
        try:
            results["baseline"] = run_baseline(frame, cfg, labels)
        except Exception:
            results["baseline"] = {"error": traceback.format_exc()}
    elif child is not None:
        wait_start = time.perf_counter()
        child.join()
        results["baseline"] = (
            json.loads(child_out.read_text()) if child_out.is_file() else {"error": f"exit code {child.exitcode}"}
        )
        results["baseline"]["waited_after_transformer_seconds"] = time.perf_counter() - wait_start
        results["baseline"]["ran"] = "in parallel with the transformer (separate process, CPU)"
        child_out.unlink(missing_ok=True)
    if "error" in results.get("baseline", {}):
        print(results["baseline"]["error"], file=sys.stderr, flush=True)
    results["wall_seconds"] = time.perf_counter() - wall_start
    write_json(results, out)
    print(summary(results), flush=True)
    print(f"wrote {out}")
    return 1 if any("error" in results.get(k, {}) for k in ("transformer", "baseline")) else 0


if __name__ == "__main__":
    sys.exit(main())
