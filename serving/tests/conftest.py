"""Fixtures of the serving tests: a tiny, random, self-contained model directory in the saved format.

The serving environment has neither arxiv_classifier nor the MiniLM weights, so the directory is built
with transformers alone: a 2-layer, 32-wide BERT and a small WordPiece vocabulary (letters as
continuation pieces, so any English text tokenises and long texts really are truncated), plus the
classifier.json that TextClassifier.save writes.
"""

from __future__ import annotations

import json
import string
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVING_DIR = Path(__file__).resolve().parents[1]
if str(SERVING_DIR) not in sys.path:
    sys.path.insert(0, str(SERVING_DIR))

LABELS = ["cs.CV", "cs.CL", "cs.AI"]
MAX_LENGTH = 128
WORDS = ["attention", "image", "language", "model", "network", "learning", "vision", "agent", "the", "of", "a"]


def build_tiny_model_dir(path: Path, labels: list[str] = LABELS, max_length: int = MAX_LENGTH) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *chars, *(f"##{c}" for c in chars)]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
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
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    meta = {"max_length": max_length, "labels": labels, "base_model": "tiny-random-bert"}
    (path / "classifier.json").write_text(json.dumps(meta, indent=2))
    return path


@pytest.fixture(scope="session", autouse=True)
def request_log_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where models built without a request_log_uri log (not the machine's temp directory)."""
    home = tmp_path_factory.mktemp("request-logs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUEST_LOG_URI", str(home))
        yield home


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def loaded_model(model_dir: Path):
    from arxiv_model import ArxivClassifier

    model = ArxivClassifier(model_dir=str(model_dir), model_name="arxiv-classifier", model_version="7", max_batch=8)
    model.load()
    return model
