"""Behavioural tests of a trained quick model (Made-With-ML style): invariance and minimum functionality."""

from __future__ import annotations

import numpy as np
import pytest

from arxiv_classifier.data import join_text

pytestmark = [pytest.mark.slow, pytest.mark.model]

CV = join_text(
    [
        "Real-time semantic segmentation of street scenes with convolutional networks",
        "We propose a convolutional neural network for semantic segmentation of images and video frames. "
        "Our encoder-decoder architecture improves pixel accuracy on Cityscapes and ADE20K image benchmarks.",
    ]
)
CL = join_text(
    [
        "Multilingual machine translation with large language models",
        "We study neural machine translation and text generation with pretrained language models. "
        "Our method improves BLEU scores on low-resource language pairs and reduces hallucinated tokens.",
    ]
)


def _predict(classifier, texts: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    proba = classifier.predict_proba(texts)
    return [classifier.labels[i] for i in proba.argmax(axis=1)]


def test_minimum_functionality_on_unambiguous_papers(quick_classifier) -> None:  # type: ignore[no-untyped-def]
    assert _predict(quick_classifier, [CV, CL]) == ["cs.CV", "cs.CL"]


@pytest.mark.parametrize(
    "transform",
    [str.upper, str.lower, lambda t: "  " + t.replace(" ", "   ") + "\n", lambda t: t.replace("\n", " \n\t ")],
    ids=["upper", "lower", "extra-spaces", "tabs-newlines"],
)
def test_case_and_whitespace_do_not_change_the_label(quick_classifier, transform) -> None:  # type: ignore[no-untyped-def]
    texts = [CV, CL]
    assert _predict(quick_classifier, [transform(t) for t in texts]) == _predict(quick_classifier, texts)


def test_probabilities_are_a_distribution_and_order_independent(quick_classifier) -> None:  # type: ignore[no-untyped-def]
    forward = quick_classifier.predict_proba([CV, CL, "short text about robots"])
    backward = quick_classifier.predict_proba(["short text about robots", CL, CV])
    np.testing.assert_allclose(forward.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)


def test_long_texts_are_truncated_not_rejected(quick_classifier) -> None:  # type: ignore[no-untyped-def]
    proba = quick_classifier.predict_proba([CV * 50])
    assert proba.shape == (1, len(quick_classifier.labels))
