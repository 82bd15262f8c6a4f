"""Same data + config + seed gives the same metrics on CPU; another seed gives another model."""

from __future__ import annotations

import numpy as np
import pytest

from arxiv_classifier.constants import OFFLINE_MINILM_ID
from arxiv_classifier.modeling import TrainSettings, build_classifier, train_classifier

pytestmark = [pytest.mark.slow, pytest.mark.model]

TEXTS = [
    "convolutional network for image segmentation",
    "object detection in video frames with cameras",
    "pixel level depth estimation from stereo images",
    "image super resolution with diffusion models",
    "language model for machine translation of sentences",
    "parsing syntax trees of natural language text",
    "question answering over documents with retrieval",
    "speech transcripts and dialogue text generation",
] * 3
LABELS = [0, 0, 0, 0, 1, 1, 1, 1] * 3


def _train(seed: int, precision: str = "fp32") -> tuple[list[dict[str, float]], np.ndarray]:
    clf = build_classifier(OFFLINE_MINILM_ID, ["vision", "language"], max_length=24, seed=seed)
    settings = TrainSettings(
        batch_size=4, epochs=2, learning_rate=3e-4, seed=seed, show_progress=False, num_threads=2, precision=precision
    )
    result = train_classifier(clf, TEXTS, LABELS, TEXTS[:8], LABELS[:8], settings)
    return result.history, clf.predict_proba(TEXTS[:8])


def _metrics(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """The history without its wall-clock timings."""
    return [{k: v for k, v in row.items() if not k.endswith("_seconds")} for row in history]


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_same_seed_same_metrics_and_predictions(precision: str) -> None:
    """fp32, and the default `auto` (bf16 autocast where the CPU has AMX or AVX512-BF16): bit-identical reruns."""
    history_a, proba_a = _train(seed=7, precision=precision)
    history_b, proba_b = _train(seed=7, precision=precision)
    assert _metrics(history_a) == _metrics(history_b)
    np.testing.assert_array_equal(proba_a, proba_b)
    # and it learned something: training loss went down across epochs
    assert history_a[-1]["train_loss"] < history_a[0]["train_loss"]


def test_different_seed_changes_the_model() -> None:
    _, proba_a = _train(seed=7)
    _, proba_c = _train(seed=8)
    assert not np.array_equal(proba_a, proba_c)
