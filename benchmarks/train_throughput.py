#!/usr/bin/env python
"""Training-step throughput: our loop vs. a plain Hugging Face `Trainer` loop, same run, same everything.

Both fine-tune the identical model (same pretrained weights, same fresh head), on the identical
tokenised data, with the same batch size, max length, optimizer (AdamW, linear warm-up/decay),
learning rate, seed and thread count. Prints samples/s for each, the ratio (ours / HF; goal >= 1.0)
and peak memory.

    python benchmarks/train_throughput.py                  # 512 arXiv papers, 128 tokens, batch 16
    python benchmarks/train_throughput.py --samples 256 --repeats 1
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from arxiv_classifier.config import load_config, resolve_sources
from arxiv_classifier.constants import COL_LABEL, COL_TEXT
from arxiv_classifier.data import prepare_dataset, read_table
from arxiv_classifier.modeling import (
    TrainSettings,
    build_classifier,
    peak_memory_mb,
    pick_device,
    train_classifier,
)


def load_texts(n: int, config: str) -> tuple[list[str], list[int], list[str]]:
    cfg = resolve_sources(load_config(config, {"data.sample.max_train": n, "data.sample.max_validation": 8}))
    prepared = prepare_dataset(read_table(cfg.data.source), cfg.data)
    train = prepared.split("train")
    index = {label: i for i, label in enumerate(prepared.labels)}
    return train[COL_TEXT].tolist(), [index[x] for x in train[COL_LABEL]], prepared.labels


def run_ours(texts: list[str], labels: list[int], names: list[str], args: argparse.Namespace) -> float:
    clf = build_classifier(args.model, names, args.max_length, seed=args.seed)
    settings = TrainSettings(
        batch_size=args.batch_size,
        epochs=1,
        learning_rate=1e-4,
        seed=args.seed,
        device=args.device,
        num_threads=args.threads,
        eval_every_epoch=False,
        show_progress=False,
    )
    # Validation on 1 example: the loop always scores the last epoch; keep that cost negligible.
    result = train_classifier(clf, texts, labels, texts[:1], labels[:1], settings)
    return result.train_samples_per_second


def run_hf_trainer(texts: list[str], labels: list[int], names: list[str], args: argparse.Namespace) -> float:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

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
            bf16=False,
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
        return len(texts) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="Alternating repeats; the best of each is kept.")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--config", default=str(Path(__file__).resolve().parent.parent / "configs" / "train.yaml"))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    texts, labels, names = load_texts(args.samples, args.config)
    print(
        f"data: {len(texts)} arXiv papers, {len(names)} labels; model {args.model}; max_length {args.max_length}; "
        f"batch {args.batch_size}; device {pick_device(args.device)}; torch threads {torch.get_num_threads()}"
    )
    ours: list[float] = []
    hf: list[float] = []
    for r in range(args.repeats):
        # Alternate the order so neither side always runs on a warmer machine.
        for name, fn, sink in (("ours", run_ours, ours), ("hf-trainer", run_hf_trainer, hf))[
            :: 1 if r % 2 == 0 else -1
        ]:
            gc.collect()
            value = fn(texts, labels, names, args)
            sink.append(value)
            print(f"  repeat {r + 1}: {name:10s} {value:8.2f} samples/s")
    best_ours, best_hf = max(ours), max(hf)
    print(f"ours      : {best_ours:8.2f} samples/s (best of {len(ours)}; all {np.round(ours, 2).tolist()})")
    print(f"hf trainer: {best_hf:8.2f} samples/s (best of {len(hf)}; all {np.round(hf, 2).tolist()})")
    print(f"ratio ours / hf trainer: {best_ours / best_hf:.3f}  (goal >= 1.0)")
    print(
        f"peak memory: {peak_memory_mb(pick_device(args.device)):.0f} MB "
        f"({'GPU allocated' if pick_device(args.device).type == 'cuda' else 'process max RSS'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
