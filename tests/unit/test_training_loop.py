"""The fine-tuning loop (`modeling.train_classifier`) on the real offline MiniLM encoder.

Two dozen short texts at 32 tokens, two optimizer steps an epoch: each training takes about a second
(the first backward pass of the process pays a one-off warm-up of ~10 s).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from arxiv_classifier import modeling
from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.modeling import TrainSettings, train_classifier

pytestmark = pytest.mark.slow

VISION = [
    "convolutional network for image segmentation",
    "object detection in video frames with cameras",
    "pixel level depth estimation from stereo images",
    "image super resolution with diffusion models",
    "semantic segmentation of street scene photographs",
    "visual tracking of pedestrians in surveillance video",
    "three dimensional reconstruction from multi view images",
    "face recognition with deep convolutional features",
]
LANGUAGE = [
    "language model for machine translation of sentences",
    "parsing syntax trees of natural language text",
    "question answering over documents with retrieval",
    "speech transcripts and dialogue text generation",
    "named entity recognition in news articles",
    "summarisation of long scientific documents",
    "sentiment analysis of product reviews",
    "word embeddings for low resource languages",
]
TEXTS = VISION + LANGUAGE
LABELS = [0] * len(VISION) + [1] * len(LANGUAGE)
VAL_TEXTS = VISION[:4] + LANGUAGE[:4]
VAL_LABELS = [0] * 4 + [1] * 4

Build = Callable[..., TextClassifier]


def settings(**overrides: Any) -> TrainSettings:
    """Two steps an epoch, no warm-up step at learning rate 0, seeded, quiet."""
    values: dict[str, Any] = {
        "batch_size": 8,
        "epochs": 1,
        "learning_rate": 1e-4,
        "warmup_ratio": 0.0,
        "seed": 0,
        "device": "cpu",
        "num_threads": 2,
        "show_progress": False,
    }
    return TrainSettings(**{**values, **overrides})


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights (state_dict tensors share storage with the live parameters)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_the_best_validation_epoch_is_restored_not_the_last(minilm: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation scores scripted as 1/3, 1, 0 over three epochs: the model keeps epoch 2's weights."""
    clf = minilm()
    truth = np.array(VAL_LABELS)
    scripted = iter([np.zeros_like(truth), truth, 1 - truth])  # one class only, all right, all wrong
    real_evaluate = modeling.evaluate_loss_and_preds

    def evaluate(*args: Any) -> tuple[float, np.ndarray]:
        loss, _preds = real_evaluate(*args)
        return loss, next(scripted)

    monkeypatch.setattr(modeling, "evaluate_loss_and_preds", evaluate)
    weights: dict[int, dict[str, torch.Tensor]] = {}

    def keep(epoch: int, _metrics: dict[str, float]) -> None:
        weights[epoch] = snapshot(clf.model)

    result = train_classifier(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(epochs=3), on_epoch_end=keep)

    assert [h["val_macro_f1"] for h in result.history] == pytest.approx([1 / 3, 1.0, 0.0])
    assert result.best_epoch == 2 and result.best_val_macro_f1 == 1.0
    final = clf.model.state_dict()
    assert all(torch.equal(final[k], weights[2][k]) for k in final)
    assert not torch.equal(final["classifier.weight"], weights[3]["classifier.weight"])
    assert not clf.model.training, "the returned model is in eval mode"


@pytest.mark.parametrize(("metric", "kept"), [("macro_f1", 2), ("accuracy", 1)])
def test_the_selection_metric_picks_the_epoch_kept(
    minilm: Build, monkeypatch: pytest.MonkeyPatch, metric: str, kept: int
) -> None:
    """Epoch 1 answers all 0 (accuracy 0.5, macro-F1 0.333), epoch 2 is worse on accuracy (0.375) but
    better on macro-F1 (0.365): each metric keeps its own epoch."""
    clf = minilm()
    scripted = iter([np.zeros(8, dtype=int), np.array([0, 0, 1, 1, 0, 0, 0, 1])])
    real_evaluate = modeling.evaluate_loss_and_preds

    def evaluate(*args: Any) -> tuple[float, np.ndarray]:
        loss, _preds = real_evaluate(*args)
        return loss, next(scripted)

    monkeypatch.setattr(modeling, "evaluate_loss_and_preds", evaluate)
    result = train_classifier(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(epochs=2, selection_metric=metric))
    assert result.best_epoch == kept
    assert result.best_val_score == pytest.approx(result.history[kept - 1][f"val_{metric}"])


@pytest.mark.parametrize("freeze", [True, False])
def test_a_frozen_backbone_trains_only_the_head(minilm: Build, freeze: bool) -> None:
    """Frozen: every encoder tensor is bit-identical after training and the head moved. Not frozen: both move."""
    clf = minilm()
    before = snapshot(clf.model)
    prefix = clf.model.base_model_prefix + "."
    encoder = [k for k in before if k.startswith(prefix)]
    head = [k for k in before if k.startswith("classifier.")]
    assert encoder and head

    train_classifier(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(freeze_backbone=freeze))

    after = clf.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert set(head) <= changed
    encoder_weights = [k for k in encoder if "position_ids" not in k and "token_type_ids" not in k]
    if freeze:
        assert not changed & set(encoder), sorted(changed & set(encoder))[:5]
    else:
        assert set(encoder_weights) & changed, "a full fine-tune moves the encoder"
    # Handed back ready for a later fine-tune, whatever was frozen during this one.
    assert all(p.requires_grad for p in clf.model.parameters())


def test_precision_fp32_never_autocasts_and_auto_follows_the_cpus_bf16_instructions(minilm: Build) -> None:
    """'fp32' is bit-identical run to run; 'auto' autocasts exactly where the CPU has AMX or AVX512-BF16, and
    the master weights stay fp32 either way."""
    runs: dict[str, tuple[Any, dict[str, torch.Tensor]]] = {}
    for precision in ("fp32", "auto"):
        clf = minilm()
        result = train_classifier(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(epochs=2, precision=precision))
        runs[precision] = (result, snapshot(clf.model))
    fp32, auto = runs["fp32"][0], runs["auto"][0]
    assert fp32.precision == "fp32" and fp32.precision_reason == "fp32, as configured"
    native = modeling.cpu_bf16_instructions()
    assert auto.precision == ("bf16" if native else "fp32")
    assert (native or "neither AMX nor AVX512-BF16") in auto.precision_reason
    for _, weights in runs.values():
        assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float32}
    assert all(np.isfinite(h["train_loss"]) for h in auto.history)
    if native:  # bf16 arithmetic: the same run, not the same bits
        assert auto.history[-1]["train_loss"] != fp32.history[-1]["train_loss"]
        assert auto.history[-1]["train_loss"] == pytest.approx(fp32.history[-1]["train_loss"], rel=0.05)


def test_the_progress_bar_does_not_change_the_trained_model(minilm: Build) -> None:
    """Same seed, same model with or without the bar (tqdm.auto once re-iterated the seeded DataLoader)."""
    weights = []
    for show in (False, True):
        clf = minilm()
        train_classifier(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(show_progress=show, precision="fp32"))
        weights.append(snapshot(clf.model))
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


class Killed(RuntimeError):
    """Stands for the process dying after an epoch's checkpoint was written."""


@pytest.mark.parametrize(("precision", "warmup"), [("fp32", 0), ("auto", 1)])
def test_a_run_resumed_from_its_checkpoint_equals_an_uninterrupted_one(
    minilm: Build, tmp_path: Any, precision: str, warmup: int
) -> None:
    """Three epochs straight vs. killed after epoch 2 and re-run: bit-identical weights and history."""
    common = {"epochs": 3, "precision": precision, "head_warmup_epochs": warmup}
    straight = minilm()
    expected = train_classifier(straight, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(**common))

    directory = str(tmp_path / "checkpoints")

    def die_after_two(epoch: int, _metrics: dict[str, float]) -> None:
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        train_classifier(
            minilm(), TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(**common, checkpoint_dir=directory), die_after_two
        )
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
    epochs_run: list[int] = []
    again = minilm()  # a fresh process would build the model from scratch too
    resumed = train_classifier(
        again,
        TEXTS,
        LABELS,
        VAL_TEXTS,
        VAL_LABELS,
        settings(**common, checkpoint_dir=directory),
        lambda epoch, _m: epochs_run.append(epoch),
    )
    assert epochs_run == [3]  # epochs 1 and 2 came from the checkpoint
    final, want = snapshot(again.model), snapshot(straight.model)
    assert all(torch.equal(final[k], want[k]) for k in want)
    drop = {"epoch_train_seconds", "epoch_val_seconds", "head_warmup_seconds", "head_warmup_encode_seconds"}
    assert [{k: v for k, v in h.items() if k not in drop} for h in resumed.history] == [
        {k: v for k, v in h.items() if k not in drop} for h in expected.history
    ]
    assert resumed.best_epoch == expected.best_epoch
    assert not (tmp_path / "checkpoints" / "last.pt").exists()  # finished: removed


def test_a_checkpoint_of_other_inputs_is_not_resumed(minilm: Build, tmp_path: Any) -> None:
    directory = str(tmp_path / "checkpoints")

    def die(epoch: int, _metrics: dict[str, float]) -> None:
        raise Killed

    with pytest.raises(Killed):
        train_classifier(
            minilm(), TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(epochs=2, checkpoint_dir=directory), die
        )
    epochs_run: list[int] = []
    other = settings(epochs=2, checkpoint_dir=directory, learning_rate=5e-5)
    train_classifier(minilm(), TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, other, lambda e, _m: epochs_run.append(e))
    assert epochs_run == [1, 2]  # started over


def test_precision_rule_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU without bf16 instructions: 'auto' stays fp32; 'bf16' autocasts anyway and says it is emulated."""
    monkeypatch.setattr(modeling, "cpu_bf16_instructions", lambda: None)
    cpu = torch.device("cpu")
    assert modeling.resolve_precision("auto", cpu) == (False, "fp32: this CPU has neither AMX nor AVX512-BF16")
    assert modeling.resolve_precision("bf16", cpu) == (True, "bf16 autocast on CPU (emulated: no AMX or AVX512-BF16)")
    monkeypatch.setattr(modeling, "cpu_bf16_instructions", lambda: "avx512_bf16")
    assert modeling.resolve_precision("auto", cpu) == (True, "bf16 autocast on CPU (avx512_bf16)")


def test_length_grouped_batches_cover_every_row_once_and_pad_less() -> None:
    """transformers' LengthGroupedSampler: a permutation of the rows, the same for a seed, less padding."""
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in rng.integers(8, 129, size=400)]
    feats = [{"input_ids": [1] * n, "labels": 0} for n in lengths]

    def batches(grouped: bool, seed: int = 0) -> list[list[int]]:
        loader, _ = modeling._train_loader(feats, settings(length_grouping=grouped, seed=seed), lambda rows: rows)
        return [list(b) for b in loader.batch_sampler]  # type: ignore[union-attr]

    def padded(order: list[list[int]]) -> float:
        return sum(max(lengths[i] for i in b) * len(b) for b in order) / len(lengths)

    grouped = batches(True)
    assert sorted(i for b in grouped for i in b) == list(range(len(lengths)))
    assert grouped == batches(True) and grouped != batches(True, seed=1)
    assert padded(grouped) < 0.8 * padded(batches(False))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_a_gpu_says_what_to_use(minilm: Build) -> None:
    with pytest.raises(RuntimeError, match="no CUDA device is visible; use 'auto' or 'cpu'"):
        train_classifier(minilm(), TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(device="cuda"))


# --------------------------------------------------------------------------------------------
# Recipe options: class-weighted loss, head-first training
# --------------------------------------------------------------------------------------------


def test_class_weights_by_hand() -> None:
    """Three of class 0, one of class 1, none of class 2: n / (k * n_c) over the k=2 present classes."""
    labels = [0, 0, 0, 1]
    assert modeling.class_weights(labels, 3, "none") is None
    balanced = modeling.class_weights(labels, 3, "balanced")
    assert balanced is not None
    assert balanced.tolist() == pytest.approx([4 / 6, 2.0, 2.0])  # the absent class gets the largest weight
    sqrt = modeling.class_weights(labels, 3, "sqrt")
    assert sqrt is not None
    assert sqrt.tolist() == pytest.approx([(4 / 6) ** 0.5, 2**0.5, 2**0.5])
    with pytest.raises(ValueError, match="unknown class weighting 'inverse'"):
        modeling.class_weights(labels, 3, "inverse")


@pytest.mark.parametrize("weighting", ["none", "balanced"])
def test_the_training_loss_is_weighted_by_class(minilm: Build, weighting: str) -> None:
    """One batch, no dropout, a learning rate too small to move anything: the epoch's loss is the weighted CE."""
    texts, labels = VISION + LANGUAGE[:2], [0] * len(VISION) + [1] * 2
    clf = minilm()
    for module in clf.model.modules():  # dropout layers, and the attention's dropout given to sdpa
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "dropout_prob"):
            setattr(module, "dropout_prob", 0.0)  # noqa: B010 - typed Module attributes are Tensor | Module
    logits, _ = modeling.batched_forward(clf.model, clf.tokenizer, texts, clf.max_length)
    target = torch.tensor(labels)
    weight = modeling.class_weights(labels, 2, weighting)
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), target, weight=weight)
    unweighted = torch.nn.functional.cross_entropy(torch.from_numpy(logits), target)

    result = train_classifier(
        clf,
        texts,
        labels,
        VAL_TEXTS,
        VAL_LABELS,
        settings(batch_size=len(texts), learning_rate=1e-12, class_weighting=weighting),
    )

    assert result.history[0]["train_loss"] == pytest.approx(float(expected), abs=1e-4)
    if weighting == "balanced":  # the minority class's errors count 5x more: the loss differs from plain CE
        assert abs(float(expected) - float(unweighted)) > 1e-3


def test_head_features_are_what_the_head_reads(minilm: Build) -> None:
    clf = minilm()
    features = modeling.head_features(clf.model, clf.tokenizer, TEXTS, clf.max_length, batch_size=5)
    logits, _ = modeling.batched_forward(clf.model, clf.tokenizer, TEXTS, clf.max_length)
    with torch.inference_mode():
        from_features = modeling._head(clf.model)(torch.from_numpy(features)).numpy()
    np.testing.assert_allclose(from_features, logits, atol=1e-5)


def test_head_warm_up_trains_the_head_alone_and_reports_the_models_own_scores(minilm: Build) -> None:
    clf = minilm()
    before = snapshot(clf.model)

    scores = modeling.warm_up_head(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(head_warmup_epochs=10))

    after = clf.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"classifier.weight", "classifier.bias"}
    loss, preds = modeling.evaluate_loss_and_preds(clf, VAL_TEXTS, VAL_LABELS, 64)
    assert scores["val_loss"] == pytest.approx(loss, abs=1e-5)
    assert scores["val_accuracy"] == pytest.approx(float(np.mean(preds == np.array(VAL_LABELS))))
    assert scores["val_macro_f1"] == 1.0, "two well separated topics: the warmed-up head gets them all"


def test_the_warmed_up_head_is_kept_when_fine_tuning_does_worse(minilm: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    """Head warm-up is epoch 0 of the best-epoch choice: a fine-tune scored all wrong is rolled back to it."""
    clf = minilm()
    warmed: dict[str, torch.Tensor] = {}
    real_warm_up = modeling.warm_up_head

    def warm_up(*args: Any, **kwargs: Any) -> dict[str, float]:
        scores = real_warm_up(*args, **kwargs)
        warmed.update(snapshot(clf.model))
        return scores

    real_evaluate = modeling.evaluate_loss_and_preds

    def evaluate(*args: Any) -> tuple[float, np.ndarray]:
        loss, _preds = real_evaluate(*args)
        return loss, 1 - np.array(VAL_LABELS)

    monkeypatch.setattr(modeling, "warm_up_head", warm_up)
    monkeypatch.setattr(modeling, "evaluate_loss_and_preds", evaluate)
    result = train_classifier(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(head_warmup_epochs=10))

    assert result.head_warmup["val_macro_f1"] == 1.0 and result.history[0]["val_macro_f1"] == 0.0
    assert result.best_epoch == 0 and result.best_val_macro_f1 == 1.0
    final = clf.model.state_dict()
    assert all(torch.equal(final[k], warmed[k]) for k in final)


def test_head_warm_up_needs_a_linear_head(minilm: Build) -> None:
    clf = minilm()
    clf.model.classifier = torch.nn.Sequential(torch.nn.Linear(384, 2))
    with pytest.raises(ValueError, match="head_warmup_epochs needs a model whose `classifier` is one linear layer"):
        train_classifier(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(head_warmup_epochs=1))
