"""Drift between the model's training data and incoming papers, checked with Evidently 0.7.

Two steps, each usable on its own (no ZenML here; torch, transformers and evidently are imported
inside the functions that need them). The papers come from `papers.load_papers`; the verdict, the
gate rule and the summary are in `drift_result`.

1. `model_features`: ONE pass of the classifier over the texts gives the checked features
   (`token_count`, `unk_rate`, `predicted_label`), the class probabilities (so batch inference
   does not score twice) and a text embedding from the classifier's own encoder.
2. `run_drift_check`: an Evidently `Report` with one `ValueDrift` per feature and an
   `EmbeddingsDrift` (`ModelDriftMethod`: ROC AUC of a classifier told to separate reference
   from current embeddings). The share of drifted checks decides the gate.

Every feature is measured on what the model consumes, not on the raw text: `token_count` is the
number of tokens the model reads (truncated at its `max_length`), so text the model never sees
(e.g. the feed's abstracts cut at 1,000 characters, when the model reads 126 tokens) does not count.
Its score is the Wasserstein distance in units of the model's window (`WINDOW_STATTEST`), not
Evidently's `wasserstein`, which divides by the reference's spread: most texts fill the window, so
that spread is near zero and the normed distance of two samples of one population reached 250 (a
62-token window, 300 papers) in calibration; in window units it stays below 0.035 from 300 papers
on (README, drift gate).

The embedding check uses every dimension: calibrated on arXiv, the full 384 dims separate drift
best (ROC AUC 0.78 / 0.91 for recent traffic / the test era, vs 0.68 / 0.84 with 32 principal
components) at the same null spread (0.50 +- 0.02).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from arxiv_classifier.config import DriftConfig
from arxiv_classifier.constants import COL_SPLIT
from arxiv_classifier.data import DataError
from arxiv_classifier.drift_result import CheckKind, DriftCheck, DriftResult, gate_passes
from arxiv_classifier.papers import sample_rows

if TYPE_CHECKING:
    from transformers import BatchEncoding

    from arxiv_classifier.classifier import TextClassifier

logger = logging.getLogger(__name__)

#: Tokens the model reads, checked with `WINDOW_STATTEST` against `DriftConfig.token_threshold`.
TOKEN_COUNT = "token_count"  # nosec B105  # not a password
#: Numeric features checked with `DriftConfig.numeric_stattest`.
NUMERIC_FEATURES: tuple[str, ...] = ("unk_rate",)
#: Categorical feature checked with `DriftConfig.categorical_stattest`.
PREDICTED_LABEL = "predicted_label"
#: All columns of the feature frame `model_features` returns, in order.
FEATURE_COLUMNS: tuple[str, ...] = (TOKEN_COUNT, *NUMERIC_FEATURES, PREDICTED_LABEL)
#: Share of texts that fill the model's window (reported with the feature means; not a check of its
#: own: it is the top of the `token_count` distribution, which that check already weighs).
TRUNCATED = "truncated"
#: Evidently stat test of `token_count` (registered by `_register_window_stattest`): the plain
#: Wasserstein distance of the token counts as shares of the window, i.e. how far the amount of
#: text the model reads moved, as a fraction of all it can read.
WINDOW_STATTEST = "wasserstein_window"
#: Name of the embedding check (and of the embedding set in Evidently's DataDefinition).
EMBEDDING_CHECK = "embedding"
#: Fewest rows on either side for a meaningful check (Evidently's t-SNE needs more than 30 points).
MIN_ROWS = 30
#: Most labels listed in the summary's predicted-label table.
TOP_LABELS = 8


def reference_sample(dataset: pd.DataFrame, cfg: DriftConfig) -> pd.DataFrame:
    """The reference side: at most `cfg.max_reference_rows` rows of the version's `cfg.reference_split`.

    `dataset` is the version's own prepared dataset (all splits, column `split`). Drawn with
    `cfg.reference_seed`, not the current papers' seed: when the current papers are the reference
    population itself (`configs/deploy_same_period.yaml`), the two sides are then two independent
    samples of it, not the same rows twice.

    Raises:
        DataError: the split holds fewer than `MIN_ROWS` rows (the message says which splits do).
    """
    rows = dataset[dataset[COL_SPLIT] == cfg.reference_split]
    if len(rows) < MIN_ROWS:
        sizes = dataset[COL_SPLIT].value_counts().to_dict()
        raise DataError(
            f"the version's {cfg.reference_split!r} split has {len(rows)} papers, fewer than the {MIN_ROWS} a drift "
            f"check needs (its splits: {sizes}); set drift.reference_split to a split that has them"
        )
    return sample_rows(rows, cfg.max_reference_rows, cfg.reference_seed)


def token_window(classifier: TextClassifier) -> int:
    """The most content tokens the model reads per text: `max_length` less the tokens the tokenizer adds.

    The same `max_length` the model version was trained and is served with (stored with the
    classifier), so the drift check sees what serving feeds the model.
    """
    return int(classifier.max_length - classifier.tokenizer.num_special_tokens_to_add(pair=False))


def model_features(
    classifier: TextClassifier, texts: Sequence[str], batch_size: int = 64, device: str = "auto"
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Score `texts` once and derive the drift features.

    Returns:
        features: one row per text (same order), columns `FEATURE_COLUMNS`: `token_count` (the
            content tokens the model reads: after truncation to `max_length`, without [CLS], [SEP]
            and padding, [UNK] included; at most `token_window(classifier)`, 0 for an empty text),
            `unk_rate` (share of [UNK] among those tokens; 0 for no tokens) and `predicted_label`
            (the arg-max label name).
        probabilities: shape (n, num_labels), in `classifier.labels` order.
        embeddings: shape (n, hidden), the last hidden state mean-pooled over the attention mask.
    """
    import torch

    from arxiv_classifier.classifier import pick_device
    from arxiv_classifier.modeling import batched_forward, softmax

    texts = list(texts)
    labels = classifier.labels
    tokenizer = classifier.tokenizer
    unk_id = tokenizer.unk_token_id
    # [CLS], [SEP] and padding are not content; [UNK], although a special token, stands for text.
    not_content = torch.tensor(sorted(set(tokenizer.all_special_ids) - {unk_id}), dtype=torch.long)
    token_count = np.zeros(len(texts), dtype=np.int64)
    unk_rate = np.zeros(len(texts), dtype=np.float64)

    def count_tokens(idx: np.ndarray, enc: BatchEncoding) -> None:
        # The encoding the model is fed, already truncated: what it reads, not what was sent.
        ids = enc["input_ids"]
        content = enc["attention_mask"].bool() & ~torch.isin(ids, not_content)
        n_content = content.sum(dim=1)
        token_count[idx] = n_content.numpy()
        if unk_id is not None:
            n_unk = ((ids == unk_id) & content).sum(dim=1)
            unk_rate[idx] = (n_unk / n_content.clamp(min=1)).double().numpy()

    classifier.model.to(pick_device(device))  # type: ignore[arg-type]
    logits, emb = batched_forward(
        classifier.model,
        tokenizer,
        texts,
        classifier.max_length,
        batch_size,
        pool=True,
        on_batch=count_tokens,
    )
    assert emb is not None  # nosec B101  # invariant, for mypy; pool=True
    probs = softmax(logits)
    predicted = probs.argmax(axis=1) if len(texts) else np.zeros(0, dtype=int)
    features = pd.DataFrame(
        {
            TOKEN_COUNT: token_count,
            "unk_rate": unk_rate,
            PREDICTED_LABEL: pd.Series([labels[i] for i in predicted], dtype=object),
        }
    )
    return features, probs, emb


def _check_inputs(features: pd.DataFrame, emb: np.ndarray, side: str, window: int) -> None:
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        raise DataError(f"{side} features lack column(s) {missing}; they have {list(features.columns)}")
    if len(features) < MIN_ROWS:
        raise DataError(f"{side} has {len(features)} rows; a drift check needs at least {MIN_ROWS}")
    if emb.ndim != 2 or emb.shape[0] != len(features):
        raise DataError(f"{side} embeddings have shape {emb.shape}; expected ({len(features)}, dim)")
    longest = int(pd.to_numeric(features[TOKEN_COUNT]).max())
    if longest > window:
        raise DataError(
            f"{side} has a text of {longest} tokens but the model reads at most {window}: its features were "
            "computed with another model's max_length; compute both sides with `model_features` of this model"
        )


def _window_wasserstein(
    reference: pd.Series, current: pd.Series, feature_type: Any, threshold: float
) -> tuple[float, bool]:
    from scipy.stats import wasserstein_distance

    score = float(wasserstein_distance(reference, current))
    return score, score >= threshold


def _register_window_stattest() -> None:
    """Make `WINDOW_STATTEST` known to Evidently (idempotent: registering a name again replaces it)."""
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    stattest = StatTest(
        name=WINDOW_STATTEST,
        display_name="Wasserstein distance (share of the model's window)",
        allowed_feature_types=[ColumnType.Numerical],
        default_threshold=0.05,
    )
    register_stattest(stattest, default_impl=_window_wasserstein)


def _label_shares(reference: pd.Series, current: pd.Series, top: int = TOP_LABELS) -> dict[str, dict[str, float]]:
    ref = reference.astype(str).value_counts(normalize=True)
    cur = current.astype(str).value_counts(normalize=True)
    both = pd.DataFrame({"reference": ref, "current": cur}).fillna(0.0)
    both = both.loc[both.max(axis=1).sort_values(ascending=False, kind="stable").index[:top]]
    return {str(k): {"reference": float(r), "current": float(c)} for k, r, c in both.itertuples()}


def _test_status(result: Any) -> bool | None:
    """Drift flag from a metric's own default test (handles p-value and distance tests alike)."""
    for test in getattr(result, "tests", None) or []:
        status = getattr(getattr(test, "status", None), "value", getattr(test, "status", None))
        if str(status).upper() in {"FAIL", "FAILED"}:
            return True
        if str(status).upper() in {"SUCCESS", "PASSED", "PASS"}:
            return False
    return None


#: Evidently stat tests whose score is a distance (drift at or above the threshold); the others give p-values.
_DISTANCE_TESTS = {"wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "ed", WINDOW_STATTEST}


def _fallback_drifted(score: float, threshold: float, method: str) -> bool:
    """When Evidently gives no test: distances drift at or above the threshold, p-values below it."""
    return score >= threshold if method in _DISTANCE_TESTS else score < threshold


def run_drift_check(
    reference_features: pd.DataFrame,
    reference_emb: np.ndarray,
    current_features: pd.DataFrame,
    current_emb: np.ndarray,
    cfg: DriftConfig,
    window: int,
) -> tuple[DriftResult, str]:
    """Compare current with reference features and embeddings; returns the verdict and Evidently's HTML.

    Checks: `ValueDrift` on `token_count` (`WINDOW_STATTEST`, `cfg.token_threshold`; Evidently sees the
    counts divided by `window`, so its report shows them as shares of the window), on each numeric
    feature (`cfg.numeric_stattest`, `cfg.numeric_threshold`) and on `predicted_label`
    (`cfg.categorical_stattest`, `cfg.categorical_threshold`); `EmbeddingsDrift` with
    `ModelDriftMethod(threshold=cfg.embedding_threshold)` on the embeddings, all dimensions.

    Args:
        window: the most tokens the model reads per text (`token_window` of the classifier that
            computed both sides' features).

    Raises:
        DataError: inputs are malformed or too small (fewer than `MIN_ROWS` rows on a side).
        Exception: whatever Evidently raises (e.g. an unknown stat test); wrap with `drift_result.failed_check_result`.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import EmbeddingsDrift, ValueDrift
    from evidently.metrics.embeddings import ModelDriftMethod

    if window < 1:
        raise DataError(f"the model's token window must be at least 1 token, got {window}")
    _check_inputs(reference_features, reference_emb, "reference", window)
    _check_inputs(current_features, current_emb, "current", window)
    _register_window_stattest()
    ref_emb, cur_emb = np.asarray(reference_emb, dtype=np.float64), np.asarray(current_emb, dtype=np.float64)
    emb_cols = [f"emb_{i}" for i in range(ref_emb.shape[1])]

    def frame(features: pd.DataFrame, emb: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame({TOKEN_COUNT: pd.to_numeric(features[TOKEN_COUNT]).astype(float).to_numpy() / window})
        for c in NUMERIC_FEATURES:
            out[c] = pd.to_numeric(features[c]).astype(float).to_numpy()
        out[PREDICTED_LABEL] = features[PREDICTED_LABEL].astype(str).to_numpy()
        return pd.concat([out, pd.DataFrame(emb, columns=emb_cols)], axis=1)

    ref_df, cur_df = frame(reference_features, ref_emb), frame(current_features, cur_emb)
    definition = DataDefinition(
        numerical_columns=[TOKEN_COUNT, *NUMERIC_FEATURES, *emb_cols],
        categorical_columns=[PREDICTED_LABEL],
        embeddings={EMBEDDING_CHECK: emb_cols},
    )
    value_metrics: list[tuple[str, CheckKind, str, float, Any]] = [
        (
            TOKEN_COUNT,
            "numeric",
            WINDOW_STATTEST,
            cfg.token_threshold,
            ValueDrift(column=TOKEN_COUNT, method=WINDOW_STATTEST, threshold=cfg.token_threshold),
        )
    ]
    value_metrics += [
        (
            name,
            "numeric",
            cfg.numeric_stattest,
            cfg.numeric_threshold,
            ValueDrift(column=name, method=cfg.numeric_stattest, threshold=cfg.numeric_threshold),
        )
        for name in NUMERIC_FEATURES
    ]
    value_metrics.append(
        (
            PREDICTED_LABEL,
            "categorical",
            cfg.categorical_stattest,
            cfg.categorical_threshold,
            ValueDrift(column=PREDICTED_LABEL, method=cfg.categorical_stattest, threshold=cfg.categorical_threshold),
        )
    )
    embedding_metric = EmbeddingsDrift(
        embeddings_name=EMBEDDING_CHECK, drift_method=ModelDriftMethod(threshold=cfg.embedding_threshold)
    )
    report = Report([*(m for *_, m in value_metrics), embedding_metric], include_tests=True)
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur_df, data_definition=definition),
        reference_data=Dataset.from_pandas(ref_df, data_definition=definition),
    )

    results = snapshot.metric_results
    checks: list[DriftCheck] = []
    for name, kind, method, threshold, metric in value_metrics:
        result = results[metric.metric_id]
        score = float(result.value)
        drifted = _test_status(result)
        if drifted is None:
            drifted = _fallback_drifted(score, threshold, method)
        checks.append(DriftCheck(name, kind, method, score, threshold, bool(drifted)))
    emb_score = float(results[embedding_metric.metric_id].value)
    checks.append(
        DriftCheck(
            EMBEDDING_CHECK,
            "embedding",
            f"model (ROC AUC, {ref_emb.shape[1]} dims)",
            emb_score,
            cfg.embedding_threshold,
            # ModelDriftMethod's own rule (Evidently's v2 metric exposes only the score).
            emb_score > cfg.embedding_threshold,
        )
    )

    passed, share = gate_passes(checks, cfg.max_drifted_share)
    result = DriftResult(
        passed=passed,
        checks=checks,
        drifted_share=share,
        max_drifted_share=cfg.max_drifted_share,
        reference_rows=len(reference_features),
        current_rows=len(current_features),
        override_reason=cfg.override_reason,
        column_means={
            **{
                c: {
                    "reference": float(pd.to_numeric(reference_features[c]).mean()),
                    "current": float(pd.to_numeric(current_features[c]).mean()),
                }
                for c in (TOKEN_COUNT, *NUMERIC_FEATURES)
            },
            TRUNCATED: {
                "reference": float((pd.to_numeric(reference_features[TOKEN_COUNT]) >= window).mean()),
                "current": float((pd.to_numeric(current_features[TOKEN_COUNT]) >= window).mean()),
            },
        },
        token_window=window,
        label_shares=_label_shares(reference_features[PREDICTED_LABEL], current_features[PREDICTED_LABEL]),
    )
    logger.info("%s", result.verdict())
    return result, snapshot.get_html_str(as_iframe=False)
