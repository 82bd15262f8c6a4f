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


def test_bf16_on_cpu_runs_the_fp32_loop(minilm: Build) -> None:
    """bf16 autocast is only enabled on CUDA: on CPU the run is bit-identical to fp32 and stays fp32."""
    runs: dict[str, tuple[list[dict[str, float]], dict[str, torch.Tensor]]] = {}
    for precision in ("fp32", "bf16"):
        clf = minilm()
        result = train_classifier(clf, TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(epochs=2, precision=precision))
        runs[precision] = (result.history, snapshot(clf.model))

    def scores(history: list[dict[str, float]]) -> list[dict[str, float]]:
        return [{k: v for k, v in h.items() if not k.endswith("_seconds")} for h in history]

    (fp32_history, fp32_weights), (bf16_history, bf16_weights) = runs["fp32"], runs["bf16"]
    assert scores(bf16_history) == scores(fp32_history)
    assert all(torch.equal(fp32_weights[k], bf16_weights[k]) for k in fp32_weights)
    assert {v.dtype for v in bf16_weights.values() if v.is_floating_point()} == {torch.float32}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_a_gpu_says_what_to_use(minilm: Build) -> None:
    with pytest.raises(RuntimeError, match="no CUDA device is visible; use 'auto' or 'cpu'"):
        train_classifier(minilm(), TEXTS, LABELS, VAL_TEXTS, VAL_LABELS, settings(device="cuda"))
