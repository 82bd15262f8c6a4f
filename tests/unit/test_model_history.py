"""The model history page from plain records: what each version shows, in order, safely escaped."""

from __future__ import annotations

from arxiv_classifier.model_history import model_history_html, version_row

WINDOW = {
    "strategy": "window",
    "as_of": "2026-01-01",
    "train": ["2022-07-01", "2025-07-01"],
    "test": ["2025-10-01", "2026-01-01"],
}


def _rows():  # type: ignore[no-untyped-def]
    first = version_row(
        1,
        "2026-11-30T09:00:00",
        None,
        {
            "test": {"accuracy": 0.61, "macro_f1": 0.42, "n": 2000},
            "baseline_test": {"accuracy": 0.55, "macro_f1": 0.40},
            "promotion": {"promote": True, "reasons": ["beats the baseline"], "test": None},
            "deployment": {"status": "retired", "url": "http://127.0.0.1:8000"},
        },
        None,
        [
            {"as_of": "2026-01-01", "verdict": "drifted", "time": "2026-11-30T10:00:00", "retrained_version": 2},
            {"as_of": "2025-12-01", "verdict": "healthy", "time": "2026-11-30T09:30:00"},
        ],
    )
    second = version_row(
        2,
        "2026-11-30T10:05:00",
        "production",
        {
            "test": {"accuracy": 0.70, "macro_f1": 0.50},
            "promotion": {
                "promote": True,
                "previous_version": 1,
                "reasons": ["<b>significant</b>"],
                "test": {"name": "mcnemar", "p_value": 0.0012},
            },
        },
        WINDOW,
    )
    return [first, second]


def test_each_version_shows_its_window_figures_decision_deployment_and_verdicts() -> None:
    first, second = _rows()
    assert first.test == {"accuracy": 0.61, "macro_f1": 0.42} and first.baseline["accuracy"] == 0.55
    # verdicts oldest first, whatever order the records came in
    assert [m["verdict"] for m in first.monitoring] == ["healthy", "drifted"]
    page = model_history_html("arxiv-classifier", [first, second])
    assert page.index(">v2</td>") < page.index(">v1</td>")  # newest first
    assert "as of 2026-01-01: train 2022-07-01 .. 2025-07-01; test 2025-10-01 .. 2026-01-01" in page
    assert "0.700 / 0.500" in page and "0.550 / 0.400" in page
    assert "p=0.0012 vs v1" in page and "<b>production</b>" in page
    assert "drifted</span> → v2" in page and "http://127.0.0.1:8000" in page


def test_the_page_escapes_recorded_text_and_has_no_script() -> None:
    page = model_history_html("<model>", _rows())
    assert "&lt;b&gt;significant&lt;/b&gt;" in page and "&lt;model&gt;" in page
    assert "<script" not in page.lower()


def test_the_chart_needs_two_evaluated_versions() -> None:
    first, second = _rows()
    assert "<svg" in model_history_html("m", [first, second])
    assert "<svg" not in model_history_html("m", [first])
    unevaluated = version_row(3, "2026-11-30T11:00:00", None, {}, None)
    assert unevaluated.test == {} and "—" in model_history_html("m", [unevaluated])
