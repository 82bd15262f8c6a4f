"""The promotion rule and its evidence, as pure functions.

The candidate and the production version are compared on the candidate's test rows (the newest
period). Promotion needs the candidate to beat production by the margin, the difference to be
significant on those paired predictions (McNemar's exact test on which papers each gets right, or a
paired bootstrap of the metric), and the baseline condition: by default the candidate must not be
significantly worse than the TF-IDF baseline on the same rows (`not_worse`, the same paired test), or,
with `beat`, score above it. Production may have another label space than the candidate: its
predictions are mapped to the candidate's labels by name, and a label the candidate lacks is a wrong
answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from arxiv_classifier.metrics import encode_labels, per_class_changes, prediction_metrics, slice_metrics

#: What `PairedTest.name` says for each test.
MCNEMAR = "mcnemar_exact"
BOOTSTRAP = "paired_bootstrap"

#: The baseline conditions `decide_promotion` knows.
BaselineRule = Literal["beat", "not_worse"]


@dataclass
class PairedTest:
    """A significance test of the candidate vs another model (production, or the baseline) on the same rows.

    Attributes:
        name: `MCNEMAR` or `BOOTSTRAP`.
        metric: the metric whose difference is tested (McNemar: accuracy).
        statistic: McNemar: min(b, c), the binomial count whose tail is the p-value; bootstrap: the
            observed difference of the metric.
        p_value: two-sided p-value of "no difference".
        alpha: the significance level it is judged at.
        delta: candidate minus the other model on the metric, on all rows.
        n: paired rows.
        b: rows only the other model gets right.
        c: rows only the candidate gets right (b + c: the discordant pairs).
        ci: bootstrap: the (1 - alpha) percentile interval of the difference; McNemar: None.
        resamples: bootstrap: resamples drawn; McNemar: None.
        against: what the candidate is compared with ("production" or "baseline").
    """

    name: str
    metric: str
    statistic: float
    p_value: float
    alpha: float
    delta: float
    n: int
    b: int
    c: int
    ci: tuple[float, float] | None = None
    resamples: int | None = None
    against: str = "production"

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def describe(self) -> str:
        """One line: the test, p against alpha, and the discordant pairs or the interval."""
        what = "McNemar exact" if self.name == MCNEMAR else f"paired bootstrap of {self.metric}"
        detail = f"b={self.b} only {self.against} right, c={self.c} only candidate right, of {self.n}"
        if self.ci is not None:
            detail += f"; {1 - self.alpha:.0%} interval of the difference [{self.ci[0]:+.4f}, {self.ci[1]:+.4f}]"
        sign = "<" if self.significant else ">="
        return f"{what} p={self.p_value:.4g} {sign} alpha={self.alpha} ({detail})"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci) if self.ci is not None else None
        out["significant"] = self.significant
        return out


def mcnemar_exact(candidate_right: np.ndarray, production_right: np.ndarray, alpha: float = 0.05) -> PairedTest:
    """McNemar's exact test: are the papers only one model gets right split evenly between them?

    Under "equal accuracy" each of the b + c discordant papers is equally likely to favour either
    model, so c ~ Binomial(b + c, 1/2); the two-sided p-value is 2 * P(X <= min(b, c)), at most 1.
    With no discordant pair the models agree on every paper and p = 1.

    Args:
        candidate_right: per row, whether the candidate is right.
        production_right: per row, whether production is right (same rows, same order).
        alpha: significance level recorded with the result.
    """
    from scipy.stats import binomtest

    candidate_right = np.asarray(candidate_right, dtype=bool)
    production_right = np.asarray(production_right, dtype=bool)
    b = int((production_right & ~candidate_right).sum())
    c = int((candidate_right & ~production_right).sum())
    p_value = float(binomtest(c, b + c, 0.5).pvalue) if b + c else 1.0
    n = len(candidate_right)
    return PairedTest(
        name=MCNEMAR,
        metric="accuracy",
        statistic=float(min(b, c)),
        p_value=p_value,
        alpha=alpha,
        delta=(c - b) / n if n else 0.0,
        n=n,
        b=b,
        c=c,
    )


def paired_bootstrap(
    y_true: np.ndarray,
    candidate: np.ndarray,
    production: np.ndarray,
    labels: np.ndarray,
    metric: str,
    resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> PairedTest:
    """Paired bootstrap of the metric's difference: resample rows, score both models on each resample.

    The two-sided p-value is twice the smaller share of resamples on either side of zero (with the
    usual +1 so it is never 0); the interval is the percentile interval at 1 - alpha.

    Args:
        y_true: true label indices.
        candidate: the candidate's predicted indices.
        production: production's predicted indices on the same rows (-1: outside the label space).
        labels: the class indices the metric averages over.
        metric: a key of `prediction_metrics` ('accuracy', 'macro_f1', 'weighted_f1').
        resamples: bootstrap resamples.
        seed: seed of the resampling.
        alpha: significance level (and the interval's coverage, 1 - alpha).
    """
    n = len(y_true)
    delta = (
        prediction_metrics(y_true, candidate, labels)[metric] - prediction_metrics(y_true, production, labels)[metric]
    )
    rng = np.random.default_rng(seed)
    deltas = np.empty(resamples)
    for i in range(resamples):  # one resample at a time: 80k test rows x 1000 resamples would not fit at once
        idx = rng.integers(0, n, size=n)
        truth = y_true[idx]
        deltas[i] = (
            prediction_metrics(truth, candidate[idx], labels)[metric]
            - prediction_metrics(truth, production[idx], labels)[metric]
        )
    below = (1 + int((deltas <= 0).sum())) / (resamples + 1)
    above = (1 + int((deltas >= 0).sum())) / (resamples + 1)
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    right_c = candidate == y_true
    right_p = production == y_true
    return PairedTest(
        name=BOOTSTRAP,
        metric=metric,
        statistic=float(delta),
        p_value=float(min(1.0, 2 * min(below, above))),
        alpha=alpha,
        delta=float(delta),
        n=n,
        b=int((right_p & ~right_c).sum()),
        c=int((right_c & ~right_p).sum()),
        ci=(float(low), float(high)),
        resamples=resamples,
    )


@dataclass
class Comparison:
    """Candidate vs production on the candidate's test rows: the evidence the decision records.

    Attributes:
        production_metrics: production's accuracy / macro-F1 / weighted F1 in the candidate's label space.
        test: the significance test, or None when it is switched off.
        per_class: per candidate label, both F1 scores, their difference and the support.
        slices: per slice kind (e.g. `year`, `abstract`) and value, both models' n / accuracy / macro-F1.
        production_lacks: candidate labels production cannot predict (their rows count as its errors).
        candidate_lacks: production labels the candidate cannot predict (production's predictions of
            them count as wrong).
        production_outside: test rows production answered with a label the candidate lacks.
    """

    production_metrics: dict[str, float]
    test: PairedTest | None
    per_class: dict[str, dict[str, float]]
    slices: dict[str, dict[str, dict[str, Any]]]
    production_lacks: list[str]
    candidate_lacks: list[str]
    production_outside: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "production_metrics": self.production_metrics,
            "test": self.test.as_dict() if self.test is not None else None,
            "per_class": self.per_class,
            "slices": self.slices,
            "label_space": {
                "production_lacks": self.production_lacks,
                "candidate_lacks": self.candidate_lacks,
                "production_predictions_outside_candidate_labels": self.production_outside,
            },
        }


def _paired_test(
    test: Literal["mcnemar", "bootstrap", "none"],
    y_true: np.ndarray,
    y_cand: np.ndarray,
    y_other: np.ndarray,
    indices: np.ndarray,
    metric: str,
    alpha: float,
    resamples: int,
    seed: int,
    against: str = "production",
) -> PairedTest | None:
    if test == "mcnemar":
        paired = mcnemar_exact(y_cand == y_true, y_other == y_true, alpha)
    elif test == "bootstrap":
        paired = paired_bootstrap(y_true, y_cand, y_other, indices, metric, resamples, seed, alpha)
    else:
        return None
    paired.against = against
    return paired


def compare_with_baseline(
    true_labels: Sequence[str],
    candidate_predictions: Sequence[str],
    baseline_predictions: Sequence[str],
    labels: Sequence[str],
    *,
    metric: str,
    test: Literal["mcnemar", "bootstrap", "none"],
    alpha: float = 0.05,
    resamples: int = 1000,
    seed: int = 0,
) -> PairedTest | None:
    """The paired test of the candidate against the baseline on the same rows (same labels); None for 'none'."""
    if not len(true_labels) == len(candidate_predictions) == len(baseline_predictions):
        raise ValueError(
            f"paired predictions differ in length: {len(true_labels)} rows, {len(candidate_predictions)} candidate "
            f"and {len(baseline_predictions)} baseline predictions"
        )
    labels = list(labels)
    return _paired_test(
        test,
        encode_labels(true_labels, labels),
        encode_labels(candidate_predictions, labels),
        encode_labels(baseline_predictions, labels),
        np.arange(len(labels)),
        metric,
        alpha,
        resamples,
        seed,
        against="baseline",
    )


def candidate_slices(
    true_labels: Sequence[str],
    candidate_predictions: Sequence[str],
    labels: Sequence[str],
    slices: Mapping[str, Sequence[str]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Slice metrics of the candidate alone (the first version has nothing to compare with)."""
    y_true = encode_labels(true_labels, labels)
    y_cand = encode_labels(candidate_predictions, labels)
    return {
        kind: {value: {"candidate": scores} for value, scores in slice_metrics(y_true, y_cand, keys).items()}
        for kind, keys in slices.items()
    }


def compare_versions(
    true_labels: Sequence[str],
    candidate_predictions: Sequence[str],
    candidate_labels: Sequence[str],
    production_predictions: Sequence[str],
    production_labels: Sequence[str],
    slices: Mapping[str, Sequence[str]],
    *,
    metric: str,
    test: Literal["mcnemar", "bootstrap", "none"],
    alpha: float = 0.05,
    resamples: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Score both versions' predictions on the same rows, in the candidate's label space, by label name.

    Args:
        true_labels: the rows' true label names.
        candidate_predictions: the candidate's predicted label names.
        candidate_labels: the candidate's label space (its classifier's labels).
        production_predictions: production's predicted label names on the same rows.
        production_labels: production's label space.
        slices: per slice kind, one slice name per row (see `metrics.slices_of`).
        metric: the promotion metric (what the bootstrap tests).
        test: the significance test ('none': no test).
        alpha: significance level.
        resamples: bootstrap resamples.
        seed: bootstrap seed.
    """
    if not len(true_labels) == len(candidate_predictions) == len(production_predictions):
        raise ValueError(
            f"paired predictions differ in length: {len(true_labels)} rows, {len(candidate_predictions)} candidate "
            f"and {len(production_predictions)} production predictions"
        )
    labels = list(candidate_labels)
    y_true = encode_labels(true_labels, labels)
    y_cand = encode_labels(candidate_predictions, labels)
    y_prod = encode_labels(production_predictions, labels)  # a label the candidate lacks -> -1, always wrong
    indices = np.arange(len(labels))
    paired = _paired_test(test, y_true, y_cand, y_prod, indices, metric, alpha, resamples, seed)
    slice_table: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, keys in slices.items():
        new, old = slice_metrics(y_true, y_cand, keys), slice_metrics(y_true, y_prod, keys)
        slice_table[kind] = {value: {"candidate": new[value], "production": old[value]} for value in new}
    return Comparison(
        production_metrics=prediction_metrics(y_true, y_prod, indices),
        test=paired,
        per_class=per_class_changes(y_true, y_cand, y_prod, labels),
        slices=slice_table,
        production_lacks=sorted(set(labels) - set(production_labels)),
        candidate_lacks=sorted(set(production_labels) - set(labels)),
        production_outside=int((y_prod < 0).sum()),
    )


@dataclass
class PromotionDecision:
    promote: bool
    metric: str
    candidate: float
    production: float | None
    baseline: float | None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verdict = "PROMOTED" if self.promote else "NOT promoted"
        return f"{verdict}: " + "; ".join(self.reasons)


def decide_promotion(
    metric: str,
    candidate: Mapping[str, float],
    production: Mapping[str, float] | None,
    baseline: Mapping[str, float] | None,
    min_improvement: float = 0.0,
    significance: PairedTest | None = None,
    *,
    baseline_rule: BaselineRule = "not_worse",
    baseline_test: PairedTest | None = None,
) -> PromotionDecision:
    """Promote only if the candidate passes the baseline condition and beats production, significantly.

    Args:
        metric: key of the metric compared (higher is better).
        candidate: the candidate's test metrics.
        production: the production version's metrics on the *same* test rows, or None if there is none.
        baseline: the baseline's metrics on the same rows, or None if the baseline is disabled.
        min_improvement: the candidate must beat production by more than this margin.
        significance: the paired test of candidate vs production on those rows; None when there is
            no production version or the test is switched off (then the margin alone decides).
        baseline_rule: 'beat': the candidate must score above the baseline; 'not_worse': it fails only
            when `baseline_test` shows the baseline significantly better (a lead of either side within
            the test's noise passes). Without a `baseline_test`, 'not_worse' judges as 'beat'.
        baseline_test: the paired test of candidate vs baseline on the same rows, or None.
    """
    if metric not in candidate:
        raise KeyError(f"candidate metrics lack {metric!r}; have {sorted(candidate)}")
    cand = float(candidate[metric])
    prod = float(production[metric]) if production is not None else None
    base = float(baseline[metric]) if baseline is not None else None
    reasons: list[str] = []
    ok = True
    if base is None:
        reasons.append("baseline disabled: no baseline requirement")
    elif cand > base:
        reasons.append(f"candidate {metric} {cand:.4f} beats baseline {base:.4f}")
    elif baseline_rule == "not_worse" and baseline_test is not None:
        if baseline_test.significant and baseline_test.delta < 0:
            ok = False
            reasons.append(
                f"candidate {metric} {cand:.4f} is significantly worse than baseline {base:.4f}: "
                f"{baseline_test.describe()}"
            )
        else:
            reasons.append(
                f"candidate {metric} {cand:.4f} does not beat baseline {base:.4f}, but is not significantly worse "
                f"(promotion.baseline_rule 'not_worse'): {baseline_test.describe()}"
            )
    else:
        ok = False
        reasons.append(f"candidate {metric} {cand:.4f} does not beat baseline {base:.4f}")
    if prod is None:
        reasons.append("no production version yet")
        return PromotionDecision(ok, metric, cand, prod, base, reasons)
    if cand > prod + min_improvement:
        reasons.append(f"candidate {metric} {cand:.4f} beats production {prod:.4f} (margin {min_improvement})")
    else:
        ok = False
        reasons.append(
            f"candidate {metric} {cand:.4f} does not beat production {prod:.4f} by more than {min_improvement}"
        )
    if significance is None:
        reasons.append("no significance test (promotion.test: none)")
    elif significance.significant and significance.delta > 0:
        reasons.append(f"the difference is significant: {significance.describe()}")
    elif significance.significant:
        ok = False
        reasons.append(f"the difference is significant but favours production: {significance.describe()}")
    else:
        ok = False
        reasons.append(
            f"the difference is not significant: {significance.describe()}; "
            "it may be noise on these test rows (more test rows, or a larger improvement, can show it)"
        )
    return PromotionDecision(ok, metric, cand, prod, base, reasons)
