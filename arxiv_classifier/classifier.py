"""The self-describing classifier: a Hugging Face model + tokenizer + max length, in one directory.

Kept free of module-level torch/transformers imports: ZenML imports this type to wire steps, and a
fully cached pipeline run should not pay for loading torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: File written beside the HF files; lets any loader rebuild the classifier without our config.
CLASSIFIER_META = "classifier.json"


def pick_device(device: str) -> torch.device:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TextClassifier:
    """A fine-tunable sequence classifier with its tokenizer and max length.

    A plain class, not a dataclass: pydantic (which ZenML uses to check step inputs) would try to
    resolve a dataclass's field annotations, and those name transformers types we import lazily.
    """

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_length: int, base_model: str = ""
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.base_model = base_model

    def __repr__(self) -> str:
        return f"TextClassifier(base_model={self.base_model!r}, labels={self.labels}, max_length={self.max_length})"

    @property
    def labels(self) -> list[str]:
        id2label = self.model.config.id2label or {}
        return [id2label[i] for i in range(len(id2label))]

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        meta = {"max_length": self.max_length, "labels": self.labels, "base_model": self.base_model}
        (path / CLASSIFIER_META).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        path = Path(path)
        meta = json.loads((path / CLASSIFIER_META).read_text())
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(path)  # nosec B615  # a local model directory
        tokenizer = AutoTokenizer.from_pretrained(path)  # nosec B615  # a local model directory
        model.eval()
        return cls(
            model=model, tokenizer=tokenizer, max_length=int(meta["max_length"]), base_model=meta.get("base_model", "")
        )

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, device: str = "auto") -> np.ndarray:
        """Class probabilities, shape (len(texts), num_labels), in `labels` order."""
        from arxiv_classifier.modeling import batched_forward, softmax

        self.model.to(pick_device(device))  # type: ignore[arg-type]
        logits, _ = batched_forward(self.model, self.tokenizer, texts, self.max_length, batch_size)
        return softmax(logits)
