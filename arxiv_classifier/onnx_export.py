"""ONNX artifacts of a classifier: export (fp32), quantisation (int8), and their evaluation against PyTorch.

Each artifact is one self-describing directory, the one the torch-free serving class loads
(`serving/onnx_runner.py` documents the layout): `model.onnx`, the tokenizer files, and `classifier.json`
with the labels, max length, input names and padding token. Export uses `torch.onnx.export` (the
TorchScript-based exporter, dynamic batch and sequence axes); int8 is ONNX Runtime's dynamic
quantisation of the weights (`onnxruntime.quantization.quantize_dynamic`), the maintained successor of
torch's deprecated `quantize_dynamic`.

The evaluation scores each format on the same texts as the PyTorch model with the serving code itself
(`serving/onnx_runner.py`, loaded by path), so the figures recorded on a model version are those of what
is served.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from arxiv_classifier.classifier import CLASSIFIER_META
from arxiv_classifier.serving_format import FP32, INT8

if TYPE_CHECKING:
    from arxiv_classifier.classifier import TextClassifier

ONNX_FILE = "model.onnx"
#: ONNX opset of the export (supported by onnxruntime >= 1.14 and by the serving image's 1.23).
OPSET = 17
#: Inputs the serving runner can build from the `tokenizers` library's encodings.
SUPPORTED_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((Path(model_dir) / CLASSIFIER_META).read_text())
    return meta


class OnnxClassifier:
    """An exported ONNX classifier directory (fp32 or int8) on local disk; the artifact type of both.

    A plain class holding a path: the materializer copies the directory into the artifact store
    (`<uri>/model`, the layout the deployers serve from) and back.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.meta = read_meta(self.path)

    def __repr__(self) -> str:
        return f"OnnxClassifier(format={self.format!r}, labels={self.labels}, path={str(self.path)!r})"

    @property
    def format(self) -> str:
        return str(self.meta.get("format", ""))

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    @property
    def size_mb(self) -> float:
        return (self.path / ONNX_FILE).stat().st_size / 2**20


def export_onnx(classifier: TextClassifier, out_dir: str | Path) -> Path:
    """Write the fp32 ONNX directory of `classifier` to `out_dir` (created); returns it.

    Raises:
        ValueError: the tokenizer is not a fast tokenizer (no tokenizer.json for the `tokenizers`
            library) or the model needs inputs the serving runner cannot build.
    """
    import torch
    from torch import nn

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = classifier.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{type(tokenizer).__name__} is not a fast tokenizer: the ONNX directory needs tokenizer.json "
            "for the torch-free server; use a model with a fast tokenizer or serve format 'torch'"
        )
    names = [n for n in tokenizer.model_input_names if n in SUPPORTED_INPUTS]
    unknown = [n for n in tokenizer.model_input_names if n not in SUPPORTED_INPUTS]
    if unknown or "input_ids" not in names:
        raise ValueError(
            f"the tokenizer's model inputs {tokenizer.model_input_names} are not all in {SUPPORTED_INPUTS}"
        )

    model = classifier.model.cpu().eval()

    class Logits(nn.Module):
        """The classifier with positional inputs (in `names` order) and the logits as its one output."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).logits

    sample = tokenizer(["an example paper", "a second, longer example of a paper"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with torch.inference_mode():
        torch.onnx.export(
            Logits(),
            tuple(sample[n] for n in names),
            str(out / ONNX_FILE),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    tokenizer.save_pretrained(out)
    if not (out / "tokenizer.json").is_file():
        raise ValueError(f"{type(tokenizer).__name__}.save_pretrained wrote no tokenizer.json to {out}")
    meta = {
        "format": FP32,
        "max_length": classifier.max_length,
        "labels": classifier.labels,
        "base_model": classifier.base_model,
        "inputs": names,
        "pad_token": tokenizer.pad_token,
        "pad_token_id": tokenizer.pad_token_id,
        "onnx_opset": OPSET,
        "exporter": f"torch.onnx.export (torch {torch.__version__})",
    }
    (out / CLASSIFIER_META).write_text(json.dumps(meta, indent=2))
    return out


def _not_preprocessing_advice(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's quantiser logs a line per tensor at INFO on the root logger, and advises
    pre-processing at WARNING even where it does not help (benchmarks/quantization_accuracy.py): keep
    other warnings only."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    root.addFilter(_not_preprocessing_advice)
    try:
        yield
    finally:
        root.removeFilter(_not_preprocessing_advice)
        root.setLevel(level)


def quantize_int8(
    fp32_dir: str | Path,
    out_dir: str | Path,
    per_channel: bool = False,
    preprocess: bool = False,
    op_types: Sequence[str] | None = None,
) -> Path:
    """Write the int8 copy of an fp32 ONNX directory: weights quantised to int8, activations at run time.

    Args:
        per_channel: one scale per output channel of each weight (else one per tensor).
        preprocess: run ONNX Runtime's `quant_pre_process` (shape inference, graph optimisation) first.
        op_types: operator types quantised (default: ONNX Runtime's choice, MatMul, Gather, Attention, ...).
    """
    from onnxruntime import __version__ as ort_version
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, out = Path(fp32_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name not in (ONNX_FILE, CLASSIFIER_META) and item.is_file():
            shutil.copy2(item, out / item.name)
    source = src / ONNX_FILE
    with _quiet_quantizer():
        if preprocess:
            # Symbolic shape inference fails on the exported BERT graph ("Incomplete symbolic shape inference");
            # ONNX shape inference and the graph optimisation still run.
            quant_pre_process(str(source), str(out / "preprocessed.onnx"), skip_symbolic_shape=True)
            source = out / "preprocessed.onnx"
        quantize_dynamic(
            str(source),
            str(out / ONNX_FILE),
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            op_types_to_quantize=list(op_types) if op_types else None,
        )
    if preprocess:
        source.unlink()
    meta = read_meta(src)
    meta["format"] = INT8
    meta["quantization"] = {
        "method": "onnxruntime.quantization.quantize_dynamic",
        "weight_type": "QInt8",
        "per_channel": per_channel,
        "preprocess": preprocess,
        "op_types": list(op_types) if op_types else "default",
        "onnxruntime": ort_version,
    }
    (out / CLASSIFIER_META).write_text(json.dumps(meta, indent=2))
    return out


def load_runner(model_dir: str | Path, threads: int = 0) -> Any:
    """The serving code's `OnnxTextModel` for an ONNX directory (imported from serving/onnx_runner.py)."""
    from arxiv_classifier.serving_code import load_serving_module

    module = load_serving_module("onnx_runner", "serving_onnx_runner")
    return module.OnnxTextModel(model_dir, read_meta(model_dir), threads=threads)


def onnx_probabilities(runner: Any, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Softmax probabilities of `texts` from an ONNX runner, batched by length like the PyTorch scorer."""
    from arxiv_classifier.modeling import softmax

    texts = list(texts)
    order = np.argsort([len(t) for t in texts], kind="stable")
    logits: np.ndarray | None = None
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        batch = runner.logits([texts[i] for i in idx])
        if logits is None:
            logits = np.zeros((len(texts), batch.shape[1]), dtype=np.float32)
        logits[idx] = batch
    return softmax(logits if logits is not None else np.zeros((0, 0), dtype=np.float32))


def compare_with_torch(
    proba: np.ndarray, torch_proba: np.ndarray, truth: Sequence[str], labels: Sequence[str]
) -> dict[str, float]:
    """Accuracy and macro-F1 of `proba` and their change against PyTorch's (points), agreement, max |Δp|."""
    from arxiv_classifier.metrics import prediction_metrics

    index = {label: i for i, label in enumerate(labels)}
    y_true = np.array([index.get(t, -1) for t in truth], dtype=np.int64)
    classes = np.arange(len(labels))
    ours = prediction_metrics(y_true, proba.argmax(axis=1), classes)
    theirs = prediction_metrics(y_true, torch_proba.argmax(axis=1), classes)
    return {
        "accuracy": ours["accuracy"],
        "macro_f1": ours["macro_f1"],
        "accuracy_drop_points": 100.0 * (theirs["accuracy"] - ours["accuracy"]),
        "macro_f1_drop_points": 100.0 * (theirs["macro_f1"] - ours["macro_f1"]),
        "agreement": float((proba.argmax(axis=1) == torch_proba.argmax(axis=1)).mean()),
        "max_probability_difference": float(np.abs(proba - torch_proba).max()) if len(proba) else 0.0,
        "n": float(len(proba)),
    }


def evaluate_onnx(
    model_dir: str | Path,
    texts: Sequence[str],
    truth: Sequence[str],
    torch_proba: np.ndarray,
    labels: Sequence[str],
    batch_size: int = 64,
) -> dict[str, float]:
    """`compare_with_torch` of the ONNX directory's predictions on `texts`, plus its size and scoring time."""
    runner = load_runner(model_dir)
    start = time.perf_counter()
    proba = onnx_probabilities(runner, texts, batch_size)
    seconds = time.perf_counter() - start
    figures = compare_with_torch(proba, torch_proba, truth, labels)
    figures["seconds"] = seconds
    figures["size_mb"] = (Path(model_dir) / ONNX_FILE).stat().st_size / 2**20
    return figures
