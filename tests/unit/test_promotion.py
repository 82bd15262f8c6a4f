"""The promotion rule (every branch and its reasons), the significance tests, label spaces by name."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from arxiv_classifier.config import PromotionConfig
from arxiv_classifier.promotion import (
    BOOTSTRAP,
    MCNEMAR,
    PairedTest,
    compare_versions,
    compare_with_baseline,
    decide_promotion,
    mcnemar_exact,
    paired_bootstrap,
)


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
    assert len(d.reasons) == 3  # baseline, production, and that no significance test ran


# --------------------------------------------------------------------------------------------
# Significance
# --------------------------------------------------------------------------------------------


def _pairs(b: int, c: int, both_right: int = 0, both_wrong: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(candidate right, production right) for b rows only production gets, c only the candidate gets."""
    candidate = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    production = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    return np.array(candidate), np.array(production)


def test_mcnemar_exact_on_a_case_computed_by_hand() -> None:
    # b=2 (only production right), c=10 (only the candidate right): under H0 c ~ Bin(12, 1/2), and
    # p = 2 * P(X <= 2) = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2**12 = 2 * 79 / 4096 = 0.0385742...
    test = mcnemar_exact(*_pairs(b=2, c=10, both_right=30, both_wrong=8), alpha=0.05)
    assert test.p_value == pytest.approx(158 / 4096, abs=1e-6)
    assert test.p_value == pytest.approx(0.0385742, abs=1e-6)
    assert (test.b, test.c, test.n) == (2, 10, 50)
    assert test.statistic == 2  # min(b, c), as statsmodels reports it
    assert test.delta == pytest.approx(8 / 50)  # the accuracy difference
    assert test.significant and test.name == MCNEMAR and test.metric == "accuracy"


def test_mcnemar_is_symmetric_and_ignores_concordant_pairs() -> None:
    reverse = mcnemar_exact(*_pairs(b=10, c=2))
    more_agreement = mcnemar_exact(*_pairs(b=10, c=2, both_right=1000, both_wrong=1000))
    assert reverse.p_value == pytest.approx(158 / 4096, abs=1e-6) == more_agreement.p_value
    assert reverse.delta < 0  # significant, but for production


def test_mcnemar_agrees_with_statsmodels() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    for b, c in [(0, 5), (7, 9), (3, 30), (25, 11)]:
        ours = mcnemar_exact(*_pairs(b, c, both_right=4))
        theirs = mcnemar([[4, c], [b, 0]], exact=True)
        assert ours.p_value == pytest.approx(theirs.pvalue, abs=1e-12)
        assert ours.statistic == theirs.statistic


def test_mcnemar_without_discordant_pairs_is_p_one() -> None:
    test = mcnemar_exact(*_pairs(b=0, c=0, both_right=5, both_wrong=5))
    assert test.p_value == 1.0 and not test.significant and test.delta == 0


def test_paired_bootstrap_separates_a_real_gain_from_none() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    production = np.where(rng.random(400) < 0.5, y, (y + 1) % 3)  # right on about half
    candidate = np.where(rng.random(400) < 0.8, y, (y + 1) % 3)  # right on about 80%
    labels = np.arange(3)
    gain = paired_bootstrap(y, candidate, production, labels, "macro_f1", resamples=500, seed=0)
    assert gain.name == BOOTSTRAP and gain.metric == "macro_f1" and gain.resamples == 500
    assert gain.p_value == pytest.approx(2 / 501)  # no resample at or below zero: the +1 floor, twice
    assert gain.ci is not None and 0 < gain.ci[0] < gain.delta < gain.ci[1]
    same = paired_bootstrap(y, production, production, labels, "macro_f1", resamples=200, seed=0)
    assert same.delta == 0 and same.p_value == 1.0 and not same.significant
    again = paired_bootstrap(y, candidate, production, labels, "macro_f1", resamples=500, seed=0)
    assert again.ci == gain.ci  # seeded


def _test(p_value: float, delta: float) -> PairedTest:
    return PairedTest(MCNEMAR, "accuracy", 3.0, p_value, 0.05, delta, 300, 3, 3 + int(delta * 300))


def test_a_non_significant_improvement_is_not_promoted() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.81}, {"accuracy": 0.80}, {"accuracy": 0.5}, 0.0, _test(0.4, 0.01))
    assert d.promote is False
    assert any("beats production" in r for r in d.reasons)
    reason = d.reasons[-1]
    assert reason.startswith("the difference is not significant: McNemar exact p=0.4 >= alpha=0.05")
    assert "may be noise" in reason


def test_a_significant_improvement_is_promoted() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.85}, {"accuracy": 0.80}, {"accuracy": 0.5}, 0.0, _test(0.01, 0.05))
    assert d.promote is True
    assert d.reasons[-1].startswith("the difference is significant: McNemar exact p=0.01 < alpha=0.05")


def test_significance_alone_does_not_promote() -> None:
    # Significant for production, or significant but under the margin: not promoted either way.
    against = decide_promotion("accuracy", {"accuracy": 0.8}, {"accuracy": 0.79}, None, 0.0, _test(0.01, -0.05))
    assert against.promote is False and "favours production" in against.reasons[-1]
    margin = decide_promotion("accuracy", {"accuracy": 0.85}, {"accuracy": 0.80}, None, 0.1, _test(0.001, 0.05))
    assert margin.promote is False


def test_without_a_test_the_margin_decides_and_says_so() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.81}, {"accuracy": 0.80}, None, 0.0, None)
    assert d.promote is True and d.reasons[-1] == "no significance test (promotion.test: none)"


def test_first_version_needs_no_test() -> None:
    d = decide_promotion("accuracy", {"accuracy": 0.8}, None, {"accuracy": 0.7}, 0.0, _test(0.9, 0.0))
    assert d.promote is True and d.reasons[-1] == "no production version yet"


# --------------------------------------------------------------------------------------------
# The baseline condition: 'not_worse' (default) reads the paired test against the baseline
# --------------------------------------------------------------------------------------------


def _against_baseline(p_value: float, delta: float) -> PairedTest:
    test = _test(p_value, delta)
    test.against = "baseline"
    return test


def test_a_tie_with_the_baseline_within_noise_is_promoted_by_default() -> None:
    # The measured case of the replay: 0.774 against TF-IDF's 0.775, significantly above production.
    tie = _against_baseline(0.9, -0.001)
    d = decide_promotion(
        "accuracy",
        {"accuracy": 0.774},
        {"accuracy": 0.661},
        {"accuracy": 0.775},
        0.0,
        _test(1e-6, 0.11),
        baseline_test=tie,
    )
    assert d.promote is True
    assert d.reasons[0].startswith(
        "candidate accuracy 0.7740 does not beat baseline 0.7750, but is not significantly worse "
        "(promotion.baseline_rule 'not_worse'): McNemar exact p=0.9 >= alpha=0.05 (b=3 only baseline right"
    )


def test_significantly_worse_than_the_baseline_is_not_promoted() -> None:
    worse = _against_baseline(0.001, -0.05)
    d = decide_promotion("accuracy", {"accuracy": 0.7}, None, {"accuracy": 0.75}, baseline_test=worse)
    assert d.promote is False
    assert d.reasons[0].startswith("candidate accuracy 0.7000 is significantly worse than baseline 0.7500: McNemar")


def test_beat_rule_and_a_missing_test_require_beating_the_baseline() -> None:
    tie = _against_baseline(0.9, -0.001)
    strict = decide_promotion(
        "accuracy", {"accuracy": 0.774}, None, {"accuracy": 0.775}, baseline_rule="beat", baseline_test=tie
    )
    assert strict.promote is False and strict.reasons[0] == "candidate accuracy 0.7740 does not beat baseline 0.7750"
    untested = decide_promotion("accuracy", {"accuracy": 0.774}, None, {"accuracy": 0.775}, baseline_test=None)
    assert untested.promote is False


def test_beating_the_baseline_needs_no_test_and_a_significant_lead_for_the_candidate_passes() -> None:
    ahead = decide_promotion(
        "accuracy", {"accuracy": 0.8}, None, {"accuracy": 0.7}, baseline_test=_against_baseline(0.01, 0.1)
    )
    assert ahead.promote is True and ahead.reasons[0] == "candidate accuracy 0.8000 beats baseline 0.7000"


def test_compare_with_baseline_is_mcnemar_on_the_same_rows_by_name() -> None:
    # 12 rows: the baseline alone is right on 2, the candidate alone on 10 (the hand-computed case above).
    truth = ["a"] * 12 + ["b"] * 4
    candidate = ["b", "b"] + ["a"] * 10 + ["b"] * 4
    baseline = ["a", "a"] + ["c"] * 10 + ["b"] * 4  # "c": a label outside the space, always wrong
    test = compare_with_baseline(truth, candidate, baseline, ["a", "b"], metric="accuracy", test="mcnemar")
    assert test is not None and test.against == "baseline"
    assert (test.b, test.c, test.n) == (2, 10, 16)
    assert test.p_value == pytest.approx(158 / 4096, abs=1e-6)
    assert "b=2 only baseline right, c=10 only candidate right, of 16" in test.describe()
    assert compare_with_baseline(truth, candidate, baseline, ["a", "b"], metric="accuracy", test="none") is None
    with pytest.raises(ValueError, match="15 baseline predictions"):
        compare_with_baseline(truth, candidate, baseline[:-1], ["a", "b"], metric="accuracy", test="mcnemar")


def test_baseline_rule_is_validated() -> None:
    assert PromotionConfig().baseline_rule == "not_worse"
    # One test for both comparisons: production and the baseline get the same options.
    options = PromotionConfig(metric="macro_f1", alpha=0.01, bootstrap_resamples=200).paired_test_options()
    assert options == {"metric": "macro_f1", "test": "bootstrap", "alpha": 0.01, "resamples": 200, "seed": 0}
    with pytest.raises(pydantic.ValidationError, match="baseline_rule"):
        PromotionConfig(baseline_rule="ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Candidate vs production on the same rows, label spaces by name
# --------------------------------------------------------------------------------------------


def test_differing_label_spaces_are_compared_by_name() -> None:
    # The candidate knows a, b, c; production knows b, a, d (another order, no c, an extra d).
    truth = ["a", "a", "b", "b", "c", "c"]
    candidate = ["a", "a", "b", "a", "c", "c"]  # 5 of 6
    production = ["a", "d", "b", "b", "b", "d"]  # 3 of 6; "d" twice, outside the candidate's labels
    slices = {"year": ["2024", "2024", "2024", "2025", "2025", "2025"]}
    result = compare_versions(
        truth, candidate, ["a", "b", "c"], production, ["b", "a", "d"], slices, metric="accuracy", test="mcnemar"
    )
    assert result.production_lacks == ["c"] and result.candidate_lacks == ["d"]
    assert result.production_outside == 2
    assert result.production_metrics["accuracy"] == pytest.approx(3 / 6)
    # production F1: a 2*1/(2+1)=2/3, b 2*2/(2+3)=0.8, c 0 -> macro 0.4889; "d" adds no class
    assert result.production_metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert result.per_class["c"] == {"support": 2, "candidate_f1": 1.0, "production_f1": 0.0, "delta_f1": 1.0}
    assert result.per_class["a"]["production_f1"] == pytest.approx(2 / 3)
    # only production right: row 4; only the candidate right: rows 2 (production said d), 5 and 6
    assert result.test is not None and (result.test.b, result.test.c) == (1, 3)
    assert result.slices["year"]["2024"]["production"]["accuracy"] == pytest.approx(2 / 3)
    # 2025: truth b, c, c; candidate a, c, c -> F1 of b 0, of c 1 (classes absent from the slice: not averaged)
    assert result.slices["year"]["2025"]["candidate"] == {"n": 3, "accuracy": pytest.approx(2 / 3), "macro_f1": 0.5}
    record = result.as_dict()
    assert record["label_space"] == {
        "production_lacks": ["c"],
        "candidate_lacks": ["d"],
        "production_predictions_outside_candidate_labels": 2,
    }
    assert record["test"]["name"] == MCNEMAR and record["test"]["significant"] is False


def test_compare_runs_the_configured_test() -> None:
    truth, labels = ["a", "b"] * 20, ["a", "b"]
    kw = {"metric": "macro_f1", "resamples": 100}
    boot = compare_versions(truth, truth, labels, ["a"] * 40, labels, {}, test="bootstrap", **kw)  # type: ignore[arg-type]
    none = compare_versions(truth, truth, labels, ["a"] * 40, labels, {}, test="none", **kw)  # type: ignore[arg-type]
    assert boot.test is not None and boot.test.name == BOOTSTRAP and boot.test.significant
    assert none.test is None and none.as_dict()["test"] is None


def test_paired_predictions_must_have_one_row_each() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        compare_versions(["a", "b"], ["a"], ["a", "b"], ["a", "b"], ["a", "b"], {}, metric="accuracy", test="none")


def test_config_resolves_and_checks_the_test() -> None:
    assert (
        PromotionConfig.model_validate({}).significance_test == "mcnemar"
        and PromotionConfig.model_validate({}).alpha == 0.05
    )
    assert PromotionConfig.model_validate({"metric": "macro_f1"}).significance_test == "bootstrap"
    assert PromotionConfig.model_validate({"test": "none"}).significance_test == "none"
    with pytest.raises(pydantic.ValidationError, match="'mcnemar' tests accuracy"):
        PromotionConfig.model_validate({"metric": "macro_f1", "test": "mcnemar"})
    with pytest.raises(pydantic.ValidationError):
        PromotionConfig.model_validate({"alpha": 1.5})
