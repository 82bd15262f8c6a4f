#!/usr/bin/env python
"""Which training recipe beats TF-IDF on the default config's rows: measured, variant by variant.

Loads exactly the rows `python run.py --pipeline train` trains on (the config's source, validation,
label space, split and sample, through `arxiv_classifier.data`), then prints one table:

- `tfidf`: the baseline (`arxiv_classifier.baseline`) trained on the same training rows;
- `frozen/<pooling>/<weighting>`: a linear head trained by the library's `train_head` on frozen
  MiniLM features (mean-pooled, the [CLS] hidden state, or the pooler output that the Hugging Face
  classification head reads), cached once per dataset;
- `finetune/<name>`: the library's `train_classifier` with the config's `train` section plus the
  variant's overrides (see VARIANTS), on `--finetune-rows` training papers (default: all of them).

Each row: train seconds, test accuracy and macro-F1, and both as a ratio to TF-IDF trained on the
same rows. The 1-minute load average is printed with each row: other processes share the cores.

    python benchmarks/recipe_probe.py --frozen-only
    python benchmarks/recipe_probe.py --finetune-rows 2000 --variants today,sqrt,head,head+sqrt
    python benchmarks/recipe_probe.py --variants default            # the config as it is, all rows
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pandas as pd
import torch

from arxiv_classifier import modeling
from arxiv_classifier.baseline import baseline_proba, train_baseline
from arxiv_classifier.config import RunConfig, TrainConfig, load_config, resolve_sources
from arxiv_classifier.constants import COL_LABEL, COL_SPLIT, COL_TEXT
from arxiv_classifier.data import dataset_hash, prepare_dataset, read_table, required_columns
from arxiv_classifier.metrics import overall_metrics
from arxiv_classifier.modeling import (
    build_classifier,
    class_weights,
    encode,
    settings_from_config,
    train_classifier,
    train_head,
)

OUT = Path("outputs/benchmarks")

#: Fine-tuning variants: overrides of the config's `train` section. "default" is the config as it is.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "today": {"class_weighting": "none", "head_warmup_epochs": 0, "learning_rate": 1e-4},
    "sqrt": {"class_weighting": "sqrt", "head_warmup_epochs": 0, "learning_rate": 1e-4},
    "balanced": {"class_weighting": "balanced", "head_warmup_epochs": 0, "learning_rate": 1e-4},
    "head": {"class_weighting": "none", "head_warmup_epochs": 20, "head_learning_rate": 3e-3, "learning_rate": 1e-4},
    "head+sqrt": {
        "class_weighting": "sqrt",
        "head_warmup_epochs": 20,
        "head_learning_rate": 3e-3,
        "learning_rate": 1e-4,
    },
    "head+sqrt+lr5e-5": {
        "class_weighting": "sqrt",
        "head_warmup_epochs": 20,
        "head_learning_rate": 3e-3,
        "learning_rate": 5e-5,
    },
    "head+sqrt+lr2e-4": {
        "class_weighting": "sqrt",
        "head_warmup_epochs": 20,
        "head_learning_rate": 3e-3,
        "learning_rate": 2e-4,
    },
    "head+balanced": {
        "class_weighting": "balanced",
        "head_warmup_epochs": 20,
        "head_learning_rate": 3e-3,
        "learning_rate": 1e-4,
    },
    "sqrt+2ep": {"class_weighting": "sqrt", "head_warmup_epochs": 0, "learning_rate": 1e-4, "epochs": 2},
}


def load_rows(config: str) -> tuple[RunConfig, pd.DataFrame, list[str]]:
    """The prepared dataset of `config`, built as the pipeline's data_loader and data_preparer build it."""
    cfg: RunConfig = resolve_sources(load_config(config))
    raw = read_table(cfg.data.source)
    columns = required_columns(cfg.data, need_date=cfg.data.split.by_date)
    if cfg.data.title_field:
        columns = list(dict.fromkeys([*columns, cfg.data.title_field]))
    raw = raw[[c for c in columns if c in raw.columns]]
    test_raw = None
    if cfg.data.test_source:
        test_raw = read_table(cfg.data.test_source)
        test_raw = test_raw[[c for c in columns if c in test_raw.columns]]
    prepared = prepare_dataset(raw, cfg.data, test_raw)
    return cfg, prepared.frame, prepared.labels


def load_avg() -> float:
    return os.getloadavg()[0]


def row(name: str, seconds: float, metrics: dict[str, float], tfidf: dict[str, float], **extra: Any) -> dict[str, Any]:
    out = {
        "variant": name,
        "train_seconds": round(seconds, 1),
        "accuracy": round(metrics["accuracy"], 4),
        "macro_f1": round(metrics["macro_f1"], 4),
        "accuracy_ratio": round(metrics["accuracy"] / tfidf["accuracy"], 3),
        "macro_f1_ratio": round(metrics["macro_f1"] / tfidf["macro_f1"], 3),
        "load": round(load_avg(), 2),
        **extra,
    }
    print(
        f"{name:<28} {out['train_seconds']:>8} {out['accuracy']:>7.4f} {out['macro_f1']:>7.4f} "
        f"{out['accuracy_ratio']:>6.3f} {out['macro_f1_ratio']:>6.3f} {out['load']:>5}  {extra or ''}",
        flush=True,
    )
    return out


def tfidf_metrics(cfg: RunConfig, train: pd.DataFrame, test: pd.DataFrame, labels: list[str]) -> dict[str, Any]:
    """The baseline's test metrics (cached per training rows, test rows and baseline settings)."""
    settings = hashlib.sha256(cfg.baseline.model_dump_json().encode()).hexdigest()[:8]
    key = f"{dataset_hash(pd.concat([train, test]))[:12]}_{settings}"
    path = OUT / f"recipe_tfidf_{key}.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    start = time.perf_counter()
    model = train_baseline(train[COL_TEXT], train[COL_LABEL], cfg.baseline, cfg.data.seed)
    seconds = time.perf_counter() - start
    y = test[COL_LABEL].map({label: i for i, label in enumerate(labels)}).to_numpy()
    metrics = {**overall_metrics(y, baseline_proba(model, test[COL_TEXT], labels)), "seconds": seconds}
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    return metrics


def frozen_features(cfg: RunConfig, frame: pd.DataFrame, labels: list[str]) -> dict[str, np.ndarray]:
    """Mean-pooled, [CLS] and pooler features of every row from the frozen encoder, cached per dataset."""
    path = OUT / f"recipe_features_{dataset_hash(frame)[:12]}_{cfg.train.max_length}.npz"
    if path.exists():
        with np.load(path) as cached:
            return {k: cached[k] for k in cached.files}
    clf = build_classifier(cfg.train.model, labels, cfg.train.max_length, seed=cfg.train.seed)
    base = clf.model.base_model.eval()
    texts = frame[COL_TEXT].tolist()
    hidden = clf.model.config.hidden_size
    feats = {k: np.zeros((len(texts), hidden), dtype=np.float32) for k in ("mean", "cls", "pooler")}
    order = np.argsort([len(t) for t in texts], kind="stable")
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(texts), cfg.train.eval_batch_size):
            idx = order[i : i + cfg.train.eval_batch_size]
            enc = encode(clf.tokenizer, [texts[j] for j in idx], clf.max_length)
            out = base(**enc)
            mask = enc["attention_mask"].unsqueeze(-1).float()
            feats["mean"][idx] = ((out.last_hidden_state * mask).sum(1) / mask.sum(1)).numpy()
            feats["cls"][idx] = out.last_hidden_state[:, 0].numpy()
            feats["pooler"][idx] = out.pooler_output.numpy()
    print(f"encoded {len(texts)} papers in {time.perf_counter() - start:.0f} s (load {load_avg():.2f})", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(path, mean=feats["mean"], cls=feats["cls"], pooler=feats["pooler"])
    return feats


def frozen_heads(
    cfg: RunConfig,
    frame: pd.DataFrame,
    labels: list[str],
    tfidf: dict[str, float],
    epochs: list[int],
    learning_rates: list[float],
    poolings: list[str],
    weightings: list[str],
) -> list[dict[str, Any]]:
    feats = frozen_features(cfg, frame, labels)
    index = {label: i for i, label in enumerate(labels)}
    y = frame[COL_LABEL].map(index).to_numpy()
    train, test = (frame[COL_SPLIT] == "train").to_numpy(), (frame[COL_SPLIT] == "test").to_numpy()
    rows = []
    grid = [(p, w, e, lr) for p in poolings for w in weightings for e in epochs for lr in learning_rates]
    for pooling, weighting, n_epochs, lr in grid:
        x = torch.from_numpy(feats[pooling])
        update = {"head_warmup_epochs": n_epochs, "head_learning_rate": lr}
        settings = settings_from_config(cfg.train.model_copy(update=update), show_progress=False)
        torch.manual_seed(cfg.train.seed)
        head = torch.nn.Linear(x.shape[1], len(labels))
        weight = class_weights(y[train], len(labels), weighting)
        start = time.perf_counter()
        train_head(head, x[train], torch.from_numpy(y[train]), settings, weight)
        seconds = time.perf_counter() - start
        with torch.inference_mode():
            proba = torch.softmax(head(x[test]), dim=-1).numpy()
        metrics = overall_metrics(y[test], proba)
        rows.append(row(f"frozen/{pooling}/{weighting}/{n_epochs}ep/lr{lr:g}", seconds, metrics, tfidf))
    return rows


def serve_cached_head_features(cfg: RunConfig, frame: pd.DataFrame, labels: list[str]) -> None:
    """Let the head warm-up read the cached pooler features instead of encoding again (same values).

    The pooler output is exactly what the Hugging Face BERT head reads in eval mode; a text not in
    the cache (none, on these rows) is encoded by the library as usual.
    """
    pooler = frozen_features(cfg, frame, labels)["pooler"]
    row_of = {text: i for i, text in enumerate(frame[COL_TEXT])}
    encode_features = modeling.head_features

    def cached(model: Any, tokenizer: Any, texts: Any, max_length: int, batch_size: int) -> np.ndarray:
        texts = list(texts)
        if max_length != cfg.train.max_length or any(t not in row_of for t in texts):
            return encode_features(model, tokenizer, texts, max_length, batch_size)
        return pooler[[row_of[t] for t in texts]]

    modeling.head_features = cached  # type: ignore[assignment]


def finetune(
    cfg: RunConfig, frame: pd.DataFrame, labels: list[str], name: str, tfidf: dict[str, float]
) -> dict[str, Any]:
    train_cfg = TrainConfig.model_validate({**cfg.train.model_dump(), **VARIANTS[name]})
    settings = settings_from_config(train_cfg, show_progress=False)
    index = {label: i for i, label in enumerate(labels)}
    parts = {s: frame[frame[COL_SPLIT] == s] for s in ("train", "validation", "test")}
    clf = build_classifier(train_cfg.model, labels, train_cfg.max_length, seed=train_cfg.seed)
    load_before = load_avg()
    result = train_classifier(
        clf,
        parts["train"][COL_TEXT].tolist(),
        parts["train"][COL_LABEL].map(index).tolist(),
        parts["validation"][COL_TEXT].tolist(),
        parts["validation"][COL_LABEL].map(index).tolist(),
        settings,
    )
    seconds = result.train_seconds + result.head_warmup.get("head_warmup_seconds", 0.0)
    proba = clf.predict_proba(parts["test"][COL_TEXT].tolist(), batch_size=train_cfg.eval_batch_size, device="cpu")
    metrics = overall_metrics(parts["test"][COL_LABEL].map(index).to_numpy(), proba)
    return row(
        f"finetune/{name}",
        seconds,
        metrics,
        tfidf,
        best_epoch=result.best_epoch,
        best_val_macro_f1=round(result.best_val_macro_f1, 4),
        warmup_val_macro_f1=round(result.head_warmup.get("val_macro_f1", float("nan")), 4),
        samples_per_second=round(result.train_samples_per_second, 2),
        load_before=round(load_before, 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/train.yaml")
    parser.add_argument("--finetune-rows", type=int, default=None, help="training papers of each fine-tune (all)")
    parser.add_argument("--variants", default="", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--frozen-only", action="store_true", help="only the cached-feature heads")
    parser.add_argument("--no-frozen", action="store_true", help="skip the cached-feature heads")
    parser.add_argument("--head-epochs", default="20", help="comma-separated epochs of the frozen heads")
    parser.add_argument("--head-lrs", default="0.001", help="comma-separated learning rates of the frozen heads")
    parser.add_argument("--poolings", default="mean,cls,pooler", help="frozen features: mean, cls, pooler")
    parser.add_argument("--weightings", default="none,sqrt,balanced", help="class weightings of the frozen heads")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--encode-warmup", action="store_true", help="head warm-up encodes its features (default: the cache)"
    )
    parser.add_argument("--output", default=str(OUT / "recipe_probe.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg, frame, labels = load_rows(args.config)
    counts = frame[COL_SPLIT].value_counts().to_dict()
    print(f"rows {counts}, {len(labels)} labels, dataset {dataset_hash(frame)[:12]}, load {load_avg():.2f}")
    train = frame[frame[COL_SPLIT] == "train"]
    test = frame[frame[COL_SPLIT] == "test"]
    tfidf = tfidf_metrics(cfg, train, test, labels)
    print(f"{'variant':<28} {'train s':>8} {'acc':>7} {'mF1':>7} {'acc/tf':>6} {'F1/tf':>6} {'load':>5}")
    rows = [row("tfidf", tfidf["seconds"], tfidf, tfidf, train_rows=len(train))]
    if not args.no_frozen:
        rows += frozen_heads(
            cfg,
            frame,
            labels,
            tfidf,
            [int(e) for e in args.head_epochs.split(",")],
            [float(lr) for lr in args.head_lrs.split(",")],
            args.poolings.split(","),
            args.weightings.split(","),
        )
    if not args.frozen_only and args.variants:
        ft_frame, ft_tfidf = frame, tfidf
        if args.finetune_rows and args.finetune_rows < len(train):
            keep = train.groupby(COL_LABEL, group_keys=False).sample(
                frac=args.finetune_rows / len(train), random_state=cfg.data.seed
            )
            ft_frame = pd.concat([keep, frame[frame[COL_SPLIT] != "train"]])
            ft_tfidf = tfidf_metrics(cfg, keep, test, labels)
            rows.append(row(f"tfidf@{len(keep)}", ft_tfidf["seconds"], ft_tfidf, ft_tfidf, train_rows=len(keep)))
        if not args.encode_warmup:
            serve_cached_head_features(cfg, frame, labels)
        for name in args.variants.split(","):
            rows.append(finetune(cfg, ft_frame, labels, name, ft_tfidf))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"config": args.config, "rows": rows}, indent=2))
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
