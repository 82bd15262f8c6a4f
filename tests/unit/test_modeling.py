"""The one batched forward pass (`modeling.batched_forward`) and what is built on it, on conftest's tiny BERT."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.modeling import batched_forward, encode, evaluate_loss_and_preds, softmax

TEXTS = [
    "a much longer paper title about convolutional networks and images and more words here, past the limit",
    "short",
    "🦜 parrot ☃",
    "medium length text about language",
    "",
    "Vision  transformers\nfor segmentation",
]


def _one_by_one(clf: TextClassifier, texts: list[str]) -> np.ndarray:
    """Each text alone through the model: no batching, no padding, no reordering."""
    with torch.inference_mode():
        return np.concatenate([clf.model(**encode(clf.tokenizer, [t], clf.max_length)).logits.numpy() for t in texts])


@pytest.mark.parametrize("batch_size", [1, 2, 4, 64])
def test_logits_are_in_input_order_whatever_the_batching(tiny_classifier: TextClassifier, batch_size: int) -> None:
    clf = tiny_classifier
    logits, embeddings = batched_forward(clf.model, clf.tokenizer, TEXTS, clf.max_length, batch_size)
    assert embeddings is None
    assert logits.dtype == np.float32 and logits.shape == (len(TEXTS), len(clf.labels))
    np.testing.assert_allclose(logits, _one_by_one(clf, TEXTS), atol=1e-5)


def test_pooled_embeddings_ignore_padding(tiny_classifier: TextClassifier) -> None:
    clf = tiny_classifier
    _, batched = batched_forward(clf.model, clf.tokenizer, TEXTS, clf.max_length, 64, pool=True)
    assert batched is not None and batched.shape == (len(TEXTS), 16)
    for i, text in enumerate(TEXTS):
        _, alone = batched_forward(clf.model, clf.tokenizer, [text], clf.max_length, 1, pool=True)
        assert alone is not None
        np.testing.assert_allclose(alone[0], batched[i], atol=1e-5)


def test_on_batch_sees_every_row_once_before_scoring(tiny_classifier: TextClassifier) -> None:
    clf = tiny_classifier
    seen: list[int] = []
    widths: list[int] = []

    def hook(idx: np.ndarray, enc: object) -> None:
        seen.extend(int(i) for i in idx)
        ids = enc["input_ids"]  # type: ignore[index]
        assert ids.device.type == "cpu" and ids.shape[0] == len(idx)
        widths.append(ids.shape[1])

    batched_forward(clf.model, clf.tokenizer, TEXTS, clf.max_length, 4, on_batch=hook)
    assert sorted(seen) == list(range(len(TEXTS)))
    assert len(widths) == 2 and max(widths) == clf.max_length  # the long text is truncated to max_length


def test_eval_mode_and_no_gradients(tiny_classifier: TextClassifier) -> None:
    clf = tiny_classifier
    clf.model.train()  # dropout on: two passes would differ if batched_forward left it on
    first, _ = batched_forward(clf.model, clf.tokenizer, TEXTS, clf.max_length)
    second, _ = batched_forward(clf.model, clf.tokenizer, TEXTS, clf.max_length)
    assert not clf.model.training
    np.testing.assert_array_equal(first, second)


def test_empty_input(tiny_classifier: TextClassifier) -> None:
    clf = tiny_classifier
    logits, embeddings = batched_forward(clf.model, clf.tokenizer, [], clf.max_length, pool=True)
    assert logits.shape == (0, len(clf.labels)) and embeddings is not None and embeddings.shape == (0, 16)
    assert clf.predict_proba([]).shape == (0, len(clf.labels))


def test_predict_proba_is_the_softmax_of_the_logits(tiny_classifier: TextClassifier) -> None:
    clf = tiny_classifier
    proba = clf.predict_proba(TEXTS, batch_size=2, device="cpu")
    expected = torch.softmax(torch.from_numpy(_one_by_one(clf, TEXTS)), dim=-1).numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    np.testing.assert_allclose(softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])  # no overflow


def test_validation_loss_is_the_mean_cross_entropy(tiny_classifier: TextClassifier) -> None:
    clf = tiny_classifier
    labels = [0, 1, 2, 3, 0, 1]
    loss, preds = evaluate_loss_and_preds(clf, TEXTS, labels, batch_size=4)
    logits = torch.from_numpy(_one_by_one(clf, TEXTS))
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor(labels))
    assert loss == pytest.approx(float(expected), abs=1e-5)
    assert preds.tolist() == logits.argmax(-1).tolist()
    assert evaluate_loss_and_preds(clf, [], [], batch_size=4)[1].shape == (0,)


def test_the_head_is_seeded(minilm: Callable[..., TextClassifier]) -> None:
    """`build_classifier` seeds with `transformers.set_seed`: same seed, same head; another seed, another head."""
    a, b, c = (minilm(seed=s).model.state_dict()["classifier.weight"] for s in (3, 3, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)
