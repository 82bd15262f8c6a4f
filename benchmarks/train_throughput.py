#!/usr/bin/env python
"""Fine-tuning throughput on this machine: fp32, bf16 autocast, length-grouped batches, and the Hugging Face
`Trainer`, in one run, each variant in a fresh process (so its peak memory is its own).

Every variant fine-tunes the identical model (same pretrained weights, same fresh head) on the same
papers with the same batch size, max length, optimizer (AdamW, linear warm-up/decay), learning rate,
seed and thread count. Printed: samples/s and each as a ratio to our fp32 loop (the baseline, measured
in the same run), peak RSS, and the mean padded batch length. With `--quality`, each of our variants
also trains the default config (`configs/train.yaml`, head warm-up included) and scores its test split:
accuracy and macro-F1, the figures a default can only change with. Each process first runs two untimed
training steps (one-off kernel set-up), so samples/s is the steady state.

    python benchmarks/train_throughput.py                      # 512 papers, 128 tokens, batch 16
    python benchmarks/train_throughput.py --quality            # + the default config trained with each (~40 min)
    python benchmarks/train_throughput.py --variants ours-fp32,ours-bf16 --samples 256
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess  # nosec B404  # argv lists only, no shell
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

#: name -> (loop, precision, length grouping)
VARIANTS: dict[str, tuple[str, str, bool]] = {
    "ours-fp32": ("ours", "fp32", False),
    "ours-bf16": ("ours", "bf16", False),
    "ours-fp32-grouped": ("ours", "fp32", True),
    "ours-bf16-grouped": ("ours", "bf16", True),
    "hf-trainer-fp32": ("hf", "fp32", False),
    "hf-trainer-bf16-grouped": ("hf", "bf16", True),
}
BASELINE = "ours-fp32"


def load_texts(n: int, config: str) -> tuple[list[str], list[int], list[str]]:
    from arxiv_classifier.config import load_config, resolve_sources
    from arxiv_classifier.constants import COL_LABEL, COL_TEXT
    from arxiv_classifier.data import prepare_dataset, read_table

    cfg = resolve_sources(load_config(config, {"data.sample.max_train": n, "data.sample.max_validation": 8}))
    prepared = prepare_dataset(read_table(cfg.data.source), cfg.data)
    train = prepared.split("train")
    index = {label: i for i, label in enumerate(prepared.labels)}
    return train[COL_TEXT].tolist(), [index[x] for x in train[COL_LABEL]], prepared.labels


def padded_length(lengths: list[int], batches: list[list[int]]) -> float:
    """Mean tokens per row a batch pads to (its longest row), over `batches` of indices."""
    return sum(max(lengths[i] for i in b) * len(b) for b in batches) / max(sum(len(b) for b in batches), 1)


def run_ours(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    from arxiv_classifier.modeling import (
        TrainSettings,
        _encode,
        _train_loader,
        build_classifier,
        peak_memory_mb,
        train_classifier,
    )

    _, precision, grouped = VARIANTS[variant]
    texts, labels, names = load_texts(args.samples, args.config)
    clf = build_classifier(args.model, names, args.max_length, seed=args.seed)
    settings = TrainSettings(
        batch_size=args.batch_size,
        epochs=1,
        learning_rate=1e-4,
        seed=args.seed,
        device=args.device,
        precision=precision,
        length_grouping=grouped,
        num_threads=args.threads,
        eval_every_epoch=False,
        show_progress=False,
    )
    feats = _encode(clf.tokenizer, texts, labels, clf.max_length)
    lengths = [len(f["input_ids"]) for f in feats]
    order = list(_train_loader(feats, settings, lambda rows: rows)[0].batch_sampler)  # type: ignore[arg-type,union-attr]
    # Validation on 1 example: the loop always scores the last epoch; keep that cost negligible.
    result = train_classifier(clf, texts, labels, texts[:1], labels[:1], settings)
    return {
        "samples_per_second": result.train_samples_per_second,
        "precision": result.precision_reason,
        "padded_length": padded_length(lengths, order),
        "mean_length": sum(lengths) / len(lengths),
        "peak_rss_mb": peak_memory_mb(None),
    }


def run_hf_trainer(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from arxiv_classifier.modeling import build_classifier, peak_memory_mb, pick_device

    _, precision, grouped = VARIANTS[variant]
    texts, labels, names = load_texts(args.samples, args.config)
    clf = build_classifier(args.model, names, args.max_length, seed=args.seed)
    enc = clf.tokenizer(texts, truncation=True, max_length=clf.max_length)
    features = [{**{k: enc[k][i] for k in enc}, "labels": labels[i]} for i in range(len(texts))]
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=args.batch_size,
            num_train_epochs=1,
            learning_rate=1e-4,
            weight_decay=0.01,
            warmup_steps=math.ceil(0.1 * math.ceil(len(features) / args.batch_size)),
            lr_scheduler_type="linear",
            seed=args.seed,
            data_seed=args.seed,
            logging_strategy="no",
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=pick_device(args.device).type == "cpu",
            dataloader_num_workers=0,
            bf16=precision == "bf16",
            group_by_length=grouped,
            max_grad_norm=1.0,
        )
        trainer = Trainer(
            model=clf.model,
            args=targs,
            train_dataset=features,  # type: ignore[arg-type]
            data_collator=DataCollatorWithPadding(clf.tokenizer),
        )
        start = time.perf_counter()
        trainer.train()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return {
        "samples_per_second": len(texts) / seconds,
        "precision": f"Trainer(bf16={precision == 'bf16'}, group_by_length={grouped})",
        "peak_rss_mb": peak_memory_mb(None),
    }


def run_quality(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train the default config with the variant's precision and grouping; its test accuracy and macro-F1."""
    import numpy as np

    from arxiv_classifier.config import load_config, resolve_sources
    from arxiv_classifier.constants import COL_LABEL, COL_TEXT
    from arxiv_classifier.data import prepare_dataset, read_table
    from arxiv_classifier.metrics import encode_labels, prediction_metrics
    from arxiv_classifier.modeling import build_classifier, settings_from_config, train_on_prepared

    _, precision, grouped = VARIANTS[variant]
    overrides = {"train.precision": precision, "train.length_grouping": grouped}
    if args.threads:
        overrides["train.num_threads"] = args.threads
    cfg = resolve_sources(load_config(args.config, overrides))
    prepared = prepare_dataset(read_table(cfg.data.source), cfg.data)
    clf = build_classifier(cfg.train.model, prepared.labels, cfg.train.max_length, seed=cfg.train.seed)
    start = time.perf_counter()
    result = train_on_prepared(clf, prepared.frame, settings_from_config(cfg.train, show_progress=False))
    seconds = time.perf_counter() - start
    test = prepared.split("test")
    proba = clf.predict_proba(test[COL_TEXT].tolist(), batch_size=cfg.train.eval_batch_size)
    truth = encode_labels(test[COL_LABEL].tolist(), prepared.labels)
    scores = prediction_metrics(truth, proba.argmax(1), np.arange(len(prepared.labels)))
    return {
        "test_accuracy": scores["accuracy"],
        "test_macro_f1": scores["macro_f1"],
        "train_minutes": seconds / 60,
        "fine_tune_samples_per_second": result.train_samples_per_second,
    }


def child(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    loop = VARIANTS[variant][0]
    run = run_ours if loop == "ours" else run_hf_trainer
    # The first backward passes of a process pay one-off kernel set-up (~10 s, more with bf16): two
    # warm-up steps, untimed, so the measured run is the steady state a real training run spends its time in.
    run(variant, argparse.Namespace(**{**vars(args), "samples": 2 * args.batch_size}))
    out = run(variant, args)
    if args.quality and loop == "ours":
        out.update(run_quality(variant, args))
    out["threads"] = torch.get_num_threads()
    return out


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--config", default=str(REPO_ROOT / "configs" / "train.yaml"))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"Comma-separated, of {list(VARIANTS)}.")
    parser.add_argument("--quality", action="store_true", help="Also train the default config with each of ours.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args)), flush=True)
        return 0

    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if BASELINE not in chosen:
        chosen.insert(0, BASELINE)  # every ratio is against the baseline of the same run
    from arxiv_classifier.modeling import cpu_bf16_instructions

    print(
        f"CPU: {cpu_name()} (bf16 instructions: {cpu_bf16_instructions() or 'none'}); {args.samples} arXiv papers, "
        f"max_length {args.max_length}, batch {args.batch_size}, threads {args.threads or 'torch default'}",
        flush=True,
    )
    passthrough = [
        *("--samples", str(args.samples), "--max-length", str(args.max_length), "--batch-size", str(args.batch_size)),
        *("--model", args.model, "--config", args.config, "--device", args.device, "--seed", str(args.seed)),
        *(("--threads", str(args.threads)) if args.threads else ()),
        *(("--quality",) if args.quality else ()),
    ]
    results: dict[str, dict[str, Any]] = {}
    for variant in chosen:
        done = subprocess.run(  # nosec B603  # argv list, no shell
            [sys.executable, __file__, *passthrough, "--child", variant], capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            print(f"{variant}: failed (exit {done.returncode})\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        results[variant] = json.loads(lines[-1][len("RESULT ") :])
        r = results[variant]
        print(f"  {variant:24s} {r['samples_per_second']:7.2f} samples/s  ({r['precision']})", flush=True)

    base = results[BASELINE]["samples_per_second"]
    columns = ["variant", "samples/s", f"ratio to {BASELINE}", "padded tokens/row", "peak RSS MB", "test acc"]
    print("\n| " + " | ".join([*columns, "test macro-F1"]) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant, r in results.items():
        pad = f"{r['padded_length']:.1f}" if "padded_length" in r else "—"
        acc = f"{r['test_accuracy']:.4f}" if "test_accuracy" in r else "—"
        f1 = f"{r['test_macro_f1']:.4f}" if "test_macro_f1" in r else "—"
        print(
            f"| {variant} | {r['samples_per_second']:.2f} | {r['samples_per_second'] / base:.2f}x | {pad} | "
            f"{r['peak_rss_mb']:.0f} | {acc} | {f1} |"
        )
    if "mean_length" in results[BASELINE]:
        print(f"(mean tokens per paper before padding: {results[BASELINE]['mean_length']:.1f})")
    Path(REPO_ROOT / "outputs").mkdir(exist_ok=True)
    (REPO_ROOT / "outputs" / "train_throughput.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
