"""The rule of `serving.format: auto`, and what a requested format needs."""

from __future__ import annotations

import pytest

from arxiv_classifier.serving_format import FP32, INT8, TORCH, FormatUnavailable, choose_format

ALL = {TORCH, FP32, INT8}


def _evaluation(acc_drop: float, f1_drop: float) -> dict[str, dict[str, float]]:
    return {INT8: {"accuracy_drop_points": acc_drop, "macro_f1_drop_points": f1_drop}}


@pytest.mark.parametrize(
    ("acc_drop", "f1_drop", "served"),
    [
        (0.4, 1.2, INT8),  # within both limits
        (1.0, 1.5, INT8),  # on the limits
        (-0.3, -0.5, INT8),  # int8 scored better
        (1.05, 0.2, FP32),  # accuracy over
        (0.2, 1.6, FP32),  # macro-F1 over
    ],
)
def test_auto_serves_int8_only_within_both_limits(acc_drop: float, f1_drop: float, served: str) -> None:
    choice = choose_format("auto", ALL, _evaluation(acc_drop, f1_drop), 1.0, 1.5)
    assert choice.format == served
    assert f"accuracy {-acc_drop:+.2f} points (limit -1)" in choice.reason
    assert ("within the limits" in choice.reason) == (served == INT8)


def test_auto_without_evaluation_or_exports() -> None:
    assert choose_format("auto", ALL, None, 1.0, 1.5) == choose_format("auto", ALL, {}, 1.0, 1.5)
    assert choose_format("auto", ALL, None, 1.0, 1.5).format == FP32
    assert "no recorded evaluation" in choose_format("auto", ALL, None, 1.0, 1.5).reason
    assert choose_format("auto", {TORCH, FP32}, _evaluation(0, 0), 1.0, 1.5).format == FP32
    old = choose_format("auto", {TORCH}, None, 1.0, 1.5)
    assert old.format == TORCH and "no ONNX artifacts" in old.reason


def test_a_requested_format_is_served_or_refused_with_the_fix() -> None:
    choice = choose_format(INT8, ALL, _evaluation(5.0, 9.0), 1.0, 1.5)  # the user's call, even over the limits
    assert choice.format == INT8 and choice.reason == "set by serving.format"
    assert choose_format(TORCH, {TORCH}, None, 1.0, 1.5).format == TORCH
    with pytest.raises(FormatUnavailable, match=r"no onnx-int8 artifact.*export\.onnx: true"):
        choose_format(INT8, {TORCH}, None, 1.0, 1.5)
    with pytest.raises(ValueError, match="unknown serving format 'onnx'"):
        choose_format("onnx", ALL, None, 1.0, 1.5)
