"""decide_promotion: every branch of the rule, and the reasons it gives."""

from __future__ import annotations

import pytest

from arxiv_classifier.promotion import decide_promotion


def test_first_version_beating_baseline_is_promoted() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.8}, None, {"accuracy": 0.7})
    assert d.promote is True
    assert d.production is None and d.baseline == 0.7 and d.candidate == 0.8
    assert "no production version yet" in d.reasons
    assert "candidate accuracy 0.8000 beats baseline 0.7000" in d.reasons
    assert d.summary().startswith("PROMOTED: ")


def test_beats_baseline_and_production() -> None:
    d = decide_promotion("macro_f1", {"macro_f1": 0.81}, {"macro_f1": 0.75}, {"macro_f1": 0.6})
    assert d.promote is True
    assert d.metric == "macro_f1"
    assert any("0.8100 beats production 0.7500" in r for r in d.reasons)


def test_loses_to_baseline() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.65}, None, {"accuracy": 0.7})
    assert d.promote is False
    assert "candidate accuracy 0.6500 does not beat baseline 0.7000" in d.reasons
    assert d.summary().startswith("NOT promoted: ")


def test_tie_with_baseline_is_not_enough() -> None:
    assert decide_promotion("accuracy", {"accuracy": 0.7}, None, {"accuracy": 0.7}).promote is False


def test_ties_production() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.8}, {"accuracy": 0.8}, {"accuracy": 0.5})
    assert d.promote is False
    assert any("0.8000 does not beat production 0.8000 by more than 0.0" in r for r in d.reasons)


def test_loses_to_production_even_if_beating_baseline() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.75}, {"accuracy": 0.8}, {"accuracy": 0.5})
    assert d.promote is False
    assert any("beats baseline" in r for r in d.reasons)


@pytest.mark.parametrize(("candidate", "promote"), [(0.815, False), (0.82, False), (0.825, True)])
def test_min_improvement_margin(candidate: float, promote: bool) -> None:
    d = decide_promotion("accuracy", {"accuracy": candidate}, {"accuracy": 0.8}, None, min_improvement=0.02)
    assert d.promote is promote
    assert any("production 0.8000" in r and "0.02" in r for r in d.reasons)


def test_baseline_disabled() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.1}, None, None)
    assert d.promote is True
    assert d.baseline is None
    assert "baseline disabled: no baseline requirement" in d.reasons


def test_missing_metric_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="lack 'macro_f1'"):
        decide_promotion("macro_f1", {"accuracy": 0.9}, None, None)


def test_as_dict_round_trips_the_decision() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.9}, {"accuracy": 0.8}, {"accuracy": 0.7})
    assert d.as_dict() == {
        "promote": True,
        "metric": "accuracy",
        "candidate": 0.9,
        "production": 0.8,
        "baseline": 0.7,
        "reasons": d.reasons,
    }
    assert len(d.reasons) == 2
