"""Which format of a model version the endpoint serves: the rule behind `serving.format: auto`.

A version trained with `export.onnx` has three servable forms: the PyTorch classifier, its ONNX fp32
export (the same logits within 1e-4) and its ONNX int8 copy (faster, not the same answers). `auto` serves
int8 when its measured accuracy and macro-F1 drops against PyTorch, on the version's own test split,
are within the configured limits; otherwise fp32 ONNX; a version without ONNX artifacts (trained before
the export existed, or with `export.onnx: false`) serves as `torch`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

AUTO, TORCH, FP32, INT8 = "auto", "torch", "onnx-fp32", "onnx-int8"
FORMATS = (AUTO, INT8, FP32, TORCH)


class FormatUnavailable(ValueError):
    """The configured format has no artifact on the model version."""


@dataclass(frozen=True)
class FormatChoice:
    format: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"format": self.format, "reason": self.reason}


def choose_format(
    requested: str,
    available: Collection[str],
    evaluation: Mapping[str, Any] | None,
    max_accuracy_drop: float,
    max_macro_f1_drop: float,
) -> FormatChoice:
    """The format to serve and why.

    Args:
        requested: `serving.format` (`auto` or one of the formats).
        available: the formats the version has artifacts for (`torch` always).
        evaluation: the version's ONNX evaluation (`onnx_exporter`'s figures per format), or None.
        max_accuracy_drop, max_macro_f1_drop: the limits, in points, int8 may lose against PyTorch.

    Raises:
        FormatUnavailable: a specific format was requested and the version has no artifact for it.
    """
    if requested not in FORMATS:
        raise ValueError(f"unknown serving format {requested!r}; use one of {', '.join(FORMATS)}")
    if requested != AUTO:
        if requested not in available:
            raise FormatUnavailable(
                f"serving.format is {requested!r} but this version has no {requested} artifact (it has: "
                f"{', '.join(sorted(available))}); retrain it with export.onnx: true, or set serving.format: auto"
            )
        return FormatChoice(requested, "set by serving.format")
    int8 = (evaluation or {}).get(INT8)
    if INT8 in available and isinstance(int8, Mapping):
        acc, f1 = float(int8["accuracy_drop_points"]), float(int8["macro_f1_drop_points"])
        measured = (
            f"int8 on the test split: accuracy {-acc:+.2f} points (limit -{max_accuracy_drop:g}), "
            f"macro-F1 {-f1:+.2f} points (limit -{max_macro_f1_drop:g}) against PyTorch"
        )
        if acc <= max_accuracy_drop and f1 <= max_macro_f1_drop:
            return FormatChoice(INT8, f"{measured}: within the limits")
        why = f"{measured}: over the limits, so fp32"
    elif INT8 in available:
        why = "the int8 artifact has no recorded evaluation, so fp32"
    else:
        why = "no int8 artifact"
    if FP32 in available:
        return FormatChoice(FP32, why)
    return FormatChoice(TORCH, "no ONNX artifacts on this version (trained without export.onnx)")
