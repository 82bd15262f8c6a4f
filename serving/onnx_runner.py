"""ONNX Runtime inference of an exported classifier directory, with no torch and no transformers.

The one place ONNX models are run: the serving class (`arxiv_model.py`) serves with it, and the
training pipeline's ONNX evaluation (`arxiv_classifier/onnx_export.py`) imports this file by path, so
the int8 figures recorded on a model version come from the code that serves it.

A directory written by `arxiv_classifier.onnx_export` holds:

    model.onnx       the classifier graph: inputs as `inputs` below (int64, [batch, sequence]), output
                     `logits` (float32, [batch, num_labels]); dynamic batch and sequence axes
    tokenizer.json   the Hugging Face fast tokenizer, read with the `tokenizers` library
    classifier.json  {"format": "onnx-fp32" | "onnx-int8", "max_length", "labels", "base_model",
                      "inputs": [...], "pad_token", "pad_token_id", ...}

Texts are tokenised exactly like training's `tokenizer(texts, truncation=True, max_length=...,
padding=True)`: truncated to `max_length` tokens, special tokens included, padded to the longest text
of the batch (tests/unit/test_onnx_export.py proves the token ids and the logits match).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
ONNX_FORMATS = ("onnx-fp32", "onnx-int8")


class OnnxTextModel:
    """Logits of texts from an ONNX classifier directory (`meta` is its checked classifier.json)."""

    def __init__(self, model_dir: str | Path, meta: dict[str, Any], threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(model_dir)
        missing = [name for name in (ONNX_FILE, TOKENIZER_FILE) if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{str(path)!r} has format {meta.get('format')!r} but no {' or '.join(missing)}; "
                "export it again (arxiv_classifier.onnx_export)"
            )
        for key in ("pad_token", "pad_token_id", "inputs"):
            if key not in meta:
                raise ValueError(f"{str(path / 'classifier.json')!r} has no {key!r}; export the directory again")
        self.max_length = int(meta["max_length"])
        self.tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.enable_padding(pad_id=int(meta["pad_token_id"]), pad_token=str(meta["pad_token"]))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(meta["labels"]):
            raise ValueError(
                f"{str(path / ONNX_FILE)!r} answers {width} classes but classifier.json lists {len(meta['labels'])} "
                "labels; the directory is inconsistent, export it again"
            )
        unknown = set(self.input_names) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ValueError(f"{str(path / ONNX_FILE)!r} expects inputs {sorted(unknown)} this runner cannot build")

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for `texts` (int64 arrays, [batch, longest text in tokens])."""
        encodings = self.tokenizer.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """float32 logits, shape (batch, num_labels), of inputs made by `encode`."""
        (out,) = self.session.run(["logits"], inputs)
        return np.asarray(out, dtype=np.float32)

    def logits(self, texts: list[str]) -> np.ndarray:
        """float32 logits, shape (len(texts), num_labels), of one batch."""
        return self.run(self.encode(texts))
