"""Parity of the serving class's copies with the library: same text, same token ids, same logits.

`serving/arxiv_model.py` runs in its own environment and may not import the project, so it keeps its
own text normalisation and forward pass. Here, in the project's environment (torch and transformers
are in both), it is imported by file path (with its sibling modules) and compared with `arxiv_classifier`
on the same model.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.data import _join_columns, join_text, normalise_text
from arxiv_classifier.modeling import batched_forward, encode
from arxiv_classifier.serving_code import load_serving_module

PAPERS = [
    ("Attention for image models", "A vision network learning attention of the image."),
    ("  Vision\ttransformers  ", "We segment\n\nimages.\r\nSecond line."),
    ("Title only", ""),
    ("", "Abstract only, with\u00a0a no-break space and\u2003an em space."),
    ("   ", "A blank title is dropped"),
    ("Ünïcödé and ÉMOJI 🦜", "Accents, case and symbols: α-β ≤ γ; C++ & Rust."),
    ("A very long title " * 5, "and a long abstract that the model truncates to its max length " * 10),
]


@pytest.fixture(scope="module")
def serving() -> ModuleType:
    return load_serving_module("arxiv_model", "serving_arxiv_model")


@pytest.fixture(scope="module")
def served(serving: ModuleType, tiny_classifier: TextClassifier, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The serving class loaded from the directory the library saves."""
    model_dir = tmp_path_factory.mktemp("served") / "model"
    tiny_classifier.save(model_dir)
    model = serving.ArxivClassifier(model_dir=str(model_dir), max_batch=len(PAPERS), request_log=False)
    model.load()
    return model


def test_same_text(serving: ModuleType, served: Any) -> None:
    """Training (`join_text`), incoming papers (`_join_columns`) and a request build the same model input."""
    frame = pd.DataFrame(PAPERS, columns=["title", "summary"])
    loaded = _join_columns(frame, ["title", "summary"]).tolist()
    library = [join_text([title, summary]) for title, summary in PAPERS]
    assert [serving.join_text([title, summary]) for title, summary in PAPERS] == library == loaded
    requested, _ = served.parse_request({"jsonData": [{"title": t, "summary": s} for t, s in PAPERS]})
    assert requested == library
    for part in (p for paper in PAPERS for p in paper):
        assert serving.normalise_text(part) == normalise_text(part)


def test_same_tokens(serving: ModuleType, served: Any, tiny_classifier: TextClassifier) -> None:
    texts = [join_text(list(paper)) for paper in PAPERS]
    ours = encode(tiny_classifier.tokenizer, texts, tiny_classifier.max_length)
    theirs = served._runner.encode(texts)
    assert served.max_length == tiny_classifier.max_length
    assert set(ours) == set(theirs)
    for key in ours:
        assert ours[key].tolist() == theirs[key].tolist(), key


def test_same_logits_and_probabilities(serving: ModuleType, served: Any, tiny_classifier: TextClassifier) -> None:
    texts = [join_text(list(paper)) for paper in PAPERS]
    logits, _ = batched_forward(tiny_classifier.model, tiny_classifier.tokenizer, texts, tiny_classifier.max_length, 3)
    theirs = served._runner.run(served._runner.encode(texts))
    np.testing.assert_allclose(theirs, logits, atol=1e-5)
    np.testing.assert_allclose(served._probabilities(texts), tiny_classifier.predict_proba(texts), atol=1e-6)
    assert served.labels == tiny_classifier.labels and served.format == "torch"
