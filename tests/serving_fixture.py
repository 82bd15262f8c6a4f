"""Builds the serving tests' tiny model directories, in the project's environment (torch is needed to export).

The serving environment has no torch, no transformers and no arxiv_classifier, so `serving/tests`
cannot make a model itself: its conftest runs `python -m tests.serving_fixture OUT` with the project's
Python, which writes a tiny random BERT (2 layers, 32 wide, a small WordPiece vocabulary whose letters
are continuation pieces, so any English text tokenises and long texts really are truncated) in the three
served formats, exactly as the training pipeline writes them:

    OUT/torch       TextClassifier.save (Hugging Face files + classifier.json)
    OUT/onnx-fp32   arxiv_classifier.onnx_export.export_onnx
    OUT/onnx-int8   arxiv_classifier.onnx_export.quantize_int8
"""

from __future__ import annotations

import string
import sys
import tempfile
from pathlib import Path

LABELS = ["cs.CV", "cs.CL", "cs.AI"]
MAX_LENGTH = 128
WORDS = ["attention", "image", "language", "model", "network", "learning", "vision", "agent", "the", "of", "a"]


def build(out: Path, labels: list[str] = LABELS, max_length: int = MAX_LENGTH) -> dict[str, Path]:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from arxiv_classifier.classifier import TextClassifier
    from arxiv_classifier.onnx_export import export_onnx, quantize_int8

    out.mkdir(parents=True, exist_ok=True)
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *chars, *(f"##{c}" for c in chars)]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.txt").write_text("\n".join(vocab) + "\n")
        tokenizer = BertTokenizerFast(vocab_file=str(Path(tmp) / "vocab.txt"), do_lower_case=True)
    id2label = dict(enumerate(labels))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=len(labels),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    classifier = TextClassifier(BertForSequenceClassification(config).eval(), tokenizer, max_length, "tiny-random-bert")
    classifier.save(out / "torch")
    fp32 = export_onnx(classifier, out / "onnx-fp32")
    int8 = quantize_int8(fp32, out / "onnx-int8")
    return {"torch": out / "torch", "onnx-fp32": fp32, "onnx-int8": int8}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.serving_fixture OUT_DIR")
    for fmt, path in build(Path(sys.argv[1])).items():
        print(f"{fmt}: {path}")
