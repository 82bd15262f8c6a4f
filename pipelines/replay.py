"""The loop replayed over real history: train at the first as-of date, then at each later date run
monitor -> retrain -> promote -> deploy exactly as `run.py --pipeline monitor` does, and score each
period on papers no version had seen.

For each date D (next date, or `until`, = E) the period [D, E) is scored after the loop acted at D:
  (a) the first version, never retrained;
  (b) the version the loop served over that period (the first version until the loop deploys another);
  (c) TF-IDF retrained on the same window as of D (the rows a retrain as of D trains on).
Accuracy counts a paper whose label a model lacks as an error; macro-F1 averages over the period's
`top_n_labels` most frequent labels (the same classes for the three rows, so they compare).

The monitor at D reads labelled papers that arrived in [previous date, D): the gate's drift check and
the decay against the version's test figures. A retrained version is deployed through the gate
with the newest papers before D as its feed (`feed_months`, widened over gaps in the data).
Generated configs are written under the output directory, so each date's monitoring and deployment
can be re-run by hand.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from arxiv_classifier.config import (
    CurrentDataConfig,
    MonitorRunConfig,
    ReplayConfig,
    RunConfig,
    load_config,
    resolve_papers_source,
    resolve_sources,
)
from pipelines.loop import repo_path

logger = logging.getLogger(__name__)


@dataclass
class PeriodRow:
    """One as-of date of the replay: what the loop did there and how the period after it was answered."""

    as_of: str
    period: tuple[str, str]
    papers: int
    verdict: str  # the monitor's (the first date: "first version")
    monitor_gate: str  # the gate's drift check on the served version, on the arrived papers
    retrained_version: int | None
    promoted: bool | None
    deployment: str  # "deployed", "blocked: ...", "not run (...)"
    served_version: int  # what the loop serves over the period (the first version until a deployment)
    first_version: int
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # first / loop / tfidf -> accuracy, macro_f1
    seconds: float = 0.0


@dataclass
class ReplayResult:
    rows: list[PeriodRow]
    seconds: float
    config: dict[str, Any]

    def table(self) -> str:
        """The Markdown table of the README: one line per period."""
        head = (
            "| as of | period scored | papers | monitor | gate (production) | retrained → promoted | deployment "
            "| never retrained acc / F1 | loop (version) acc / F1 | TF-IDF same window acc / F1 |\n"
            "|---|---|---:|---|---|---|---|---|---|---|\n"
        )
        lines = []
        for r in self.rows:
            s = r.scores

            def pair(key: str, s: dict[str, dict[str, float]] = s) -> str:
                return f"{s[key]['accuracy']:.3f} / {s[key]['macro_f1']:.3f}"

            retrained = (
                "—" if r.retrained_version is None else f"v{r.retrained_version} → {'yes' if r.promoted else 'no'}"
            )
            lines.append(
                f"| {r.as_of} | {r.period[0]} .. {r.period[1]} | {r.papers} | {r.verdict} | {r.monitor_gate} | "
                f"{retrained} | {r.deployment} | {pair('first')} (v{r.first_version}) | "
                f"{pair('loop')} (v{r.served_version}) | {pair('tfidf')} |"
            )
        return head + "\n".join(lines) + "\n"

    def save(self, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [out_dir / "replay.json", out_dir / "replay.md", out_dir / "replay.csv"]
        paths[0].write_text(
            json.dumps(
                {"seconds": self.seconds, "config": self.config, "rows": [asdict(r) for r in self.rows]}, indent=2
            )
        )
        paths[1].write_text(self.table() + f"\nReplay time: {self.seconds / 60:.1f} min.\n")
        flat = [
            {
                **{k: v for k, v in asdict(r).items() if k not in ("scores", "period")},
                "period_start": r.period[0],
                "period_end": r.period[1],
                **{f"{who}_{m}": v for who, ms in r.scores.items() for m, v in ms.items()},
            }
            for r in self.rows
        ]
        pd.DataFrame(flat).to_csv(paths[2], index=False)
        return paths


# ------------------------------------------------------------------------------- scoring


def period_scores(truth: Sequence[str], predicted: Sequence[str], macro_labels: Sequence[str]) -> dict[str, float]:
    """Accuracy over every paper and macro-F1 over `macro_labels`, for hard predictions by label name."""
    from arxiv_classifier.metrics import prediction_metrics

    vocab = {label: i for i, label in enumerate(sorted({*truth, *predicted, *macro_labels}))}
    metrics = prediction_metrics(
        np.array([vocab[t] for t in truth]),
        np.array([vocab[p] for p in predicted]),
        np.array([vocab[label] for label in macro_labels]),
    )
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def top_labels(truth: Sequence[str], n: int) -> list[str]:
    """The `n` most frequent labels (ties by name), the classes macro-F1 averages over."""
    return [label for label, _ in sorted(Counter(truth).items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


class _Scorer:
    """Scores model versions (their classifiers loaded once) and TF-IDF on a window."""

    def __init__(self, model_name: str, train: RunConfig) -> None:
        self.model_name = model_name
        self.train = train
        self._classifiers: dict[int, Any] = {}
        self._raw: pd.DataFrame | None = None

    def version(self, number: int, texts: list[str]) -> list[str]:
        from zenml.client import Client

        from arxiv_classifier.constants import CLASSIFIER

        if number not in self._classifiers:
            artifact = Client().get_model_version(self.model_name, number).get_artifact(CLASSIFIER)
            if artifact is None:
                raise RuntimeError(f"version {number} of {self.model_name} has no {CLASSIFIER} artifact")
            self._classifiers[number] = artifact.load()
        classifier = self._classifiers[number]
        proba = classifier.predict_proba(texts, batch_size=self.train.train.eval_batch_size)
        return [classifier.labels[i] for i in proba.argmax(axis=1)]

    def tfidf(self, as_of: date, texts: list[str]) -> list[str]:
        """TF-IDF + logistic regression trained on the train split of the window as of `as_of`."""
        from arxiv_classifier.baseline import baseline_proba, train_baseline
        from arxiv_classifier.constants import COL_LABEL, COL_SPLIT, COL_TEXT
        from arxiv_classifier.data import prepare_dataset, read_table

        if self._raw is None:
            self._raw = read_table(self.train.data.source)
        data = self.train.data.model_copy(update={"as_of": as_of})
        frame = prepare_dataset(self._raw, data).frame
        train = frame[frame[COL_SPLIT] == "train"]
        labels = sorted(train[COL_LABEL].unique())
        model = train_baseline(train[COL_TEXT], train[COL_LABEL], self.train.baseline, self.train.data.seed)
        proba = baseline_proba(model, texts, labels)
        return [labels[i] for i in proba.argmax(axis=1)]


# ------------------------------------------------------------------------------- configs per date


def _labelled(cfg: ReplayConfig, train: RunConfig) -> CurrentDataConfig:
    """The replay's labelled papers, with the training config's label aliases (so labels compare)."""
    aliases = {**train.data.label_aliases, **cfg.papers.label_aliases}
    return resolve_papers_source(cfg.papers.model_copy(update={"label_aliases": aliases}))


def feed_start(cfg: ReplayConfig, day: date, dates: pd.Series) -> date:
    """Where the gate's feed at `day` starts: `feed_months` back, widened until it holds `monitor_rows` papers."""
    from arxiv_classifier.data import widened_start

    end = pd.Timestamp(day)
    start = widened_start(end - pd.DateOffset(months=cfg.feed_months), end, dates, cfg.monitor_rows)
    return start.date()


def write_date_configs(
    cfg: ReplayConfig,
    train: RunConfig,
    day: date,
    previous: date | None,
    feed_from: date,
    out_dir: Path,
    served: int | None = None,
) -> MonitorRunConfig:
    """The monitoring config of one date (and the deployment config it points to), written to `out_dir`.

    The monitor reads `monitor_rows` labelled papers that arrived in [previous, day) (what the served
    version answered) and judges `served`, the version the replay serves (the first version is taken as
    served without a server, so the monitor's own `version: served` could not find it); a deployment's
    gate reads `monitor_rows` of [feed_from, day) (the newest papers, what the endpoint receives at
    `day`). The monitor's date is `day`, the retrain is `train_config` as of it, and every threshold is
    the configured files' own.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    papers = {**_labelled(cfg, train).model_dump(mode="json"), "max_rows": cfg.monitor_rows, "end": day.isoformat()}
    arrived = {**papers, "start": previous.isoformat() if previous else None}
    newest = {**papers, "start": feed_from.isoformat()}
    deploy_path = out_dir / f"deploy_{day.isoformat()}.yaml"
    deploy_path.write_text(
        yaml.safe_dump(
            {"extends": str(repo_path(cfg.deploy_config)), "model_name": cfg.model_name, "drift": {"current": newest}},
            sort_keys=False,
        )
    )
    monitor = {
        "extends": str(repo_path(cfg.monitor_config)),
        "model_name": cfg.model_name,
        **({"version": served} if served else {}),
        "monitor": {
            "source": "arrived",
            "as_of": day.isoformat(),
            "since": arrived["start"],
            "retrain_config": str(repo_path(cfg.train_config)),
            "deploy_config": str(deploy_path),
            "schedule_cron": None,
        },
        "drift": {"current": arrived},
    }
    monitor_path = out_dir / f"monitor_{day.isoformat()}.yaml"
    monitor_path.write_text(yaml.safe_dump(monitor, sort_keys=False))
    return resolve_sources(load_config(monitor_path, None, MonitorRunConfig))


# ------------------------------------------------------------------------------- the replay


def _period_end(cfg: ReplayConfig, index: int, raw_newest: pd.Timestamp) -> date:
    if index + 1 < len(cfg.dates):
        return cfg.dates[index + 1]
    return cfg.until or (raw_newest.normalize() + pd.Timedelta(days=1)).date()


def _labelled_dates(papers: CurrentDataConfig) -> pd.Series:
    from arxiv_classifier.data import parse_dates, read_table
    from arxiv_classifier.papers import naive_utc

    assert papers.date_field is not None  # nosec B101  # invariant, for mypy
    return naive_utc(parse_dates(read_table(papers.source)[papers.date_field])).dropna()


def _first_version(monitor: MonitorRunConfig, day: date) -> tuple[int, bool, str]:
    """Train the first version as of `day`; put it in production even if it did not beat the baseline."""
    from zenml.client import Client

    from pipelines.loop import retrain

    _run, decision = retrain(monitor, day.isoformat())
    number = int(decision["candidate_version"])
    reasons = "; ".join(decision.get("reasons") or [])
    if not decision.get("promote"):
        # The loop needs a production version to monitor: the replay starts from this one, and says so.
        Client().get_model_version(monitor.model_name, number).set_stage("production", force=True)
        return number, False, f"not promoted ({reasons}); set to production by the replay as its starting point"
    return number, True, reasons


def _deployment_text(actions: dict[str, Any]) -> str:
    if not actions.get("triggered"):
        return f"not run ({actions.get('why')})"
    if not actions.get("promoted"):
        return "not run (not promoted)"
    if actions.get("deployed"):
        return "deployed"
    return f"blocked: {str(actions.get('deployment_message') or '')[:120]}"


def delete_servers(model_name: str) -> int:
    """Delete every model server of `model_name` on the active stack (the replay's own); returns how many."""
    from zenml.client import Client

    from deployers.deployments import current_deployments

    deployer = Client().active_stack.model_deployer
    if deployer is None:
        return 0
    services = current_deployments(deployer, model_name)
    for service in services:
        deployer.delete_model_server(service.uuid, force=True)
    return len(services)


def replay(cfg: ReplayConfig, out_dir: Path, keep_servers: bool = False) -> ReplayResult:
    """Run the replay in the active ZenML store; saves configs and the table under `out_dir`."""
    from arxiv_classifier.constants import COL_LABEL, COL_TEXT
    from arxiv_classifier.monitoring import ACTIONS_KEY, RECORD_KEY
    from arxiv_classifier.papers import load_papers
    from pipelines.loop import monitor_and_act
    from stacks import select_stack_for_run

    start_all = time.perf_counter()
    train = resolve_sources(load_config(repo_path(cfg.train_config), None, RunConfig))
    labelled = _labelled(cfg, train)
    dates = _labelled_dates(labelled)
    newest = dates.max()
    scorer = _Scorer(cfg.model_name, train)
    select_stack_for_run(require_model_deployer=True)
    rows: list[PeriodRow] = []
    first = served = 0
    retrained: int | None
    promoted: bool | None
    try:
        for i, day in enumerate(cfg.dates):
            started = time.perf_counter()
            previous = cfg.dates[i - 1] if i else None
            feed_from = feed_start(cfg, day, dates)
            monitor = write_date_configs(cfg, train, day, previous, feed_from, out_dir / "configs", served or None)
            print(f"\n=== Replay: as of {day} ===", flush=True)
            if i == 0:
                first, promoted, why = _first_version(monitor, day)
                served = first  # taken as served from the first date (the replay deploys only what the loop deploys)
                verdict, gate, retrained = "first version", "—", first
                deployment = "— (taken as served)" if promoted else f"— (taken as served; {why})"
            else:
                outcome = monitor_and_act(monitor, trigger=True)
                from zenml.client import Client

                meta = Client().get_pipeline_run(outcome.monitoring_run_id).run_metadata
                record: dict[str, Any] = dict(meta[RECORD_KEY])  # type: ignore[arg-type]
                actions: dict[str, Any] = dict(meta.get(ACTIONS_KEY, outcome.actions))  # type: ignore[arg-type]
                verdict, gate = outcome.verdict, str((record.get("drift") or {}).get("status"))
                retrained, promoted = actions.get("retrained_version"), actions.get("promoted")
                deployment = _deployment_text(actions)
                if actions.get("deployed") and retrained is not None:
                    served = int(retrained)
            end = _period_end(cfg, i, newest)
            period = load_papers(labelled.model_copy(update={"start": day, "end": end}))
            texts, truth = period[COL_TEXT].tolist(), period[COL_LABEL].tolist()
            macro = top_labels(truth, train.data.top_n_labels or len(set(truth)))
            answers = {"first": scorer.version(first, texts)}
            answers["loop"] = answers["first"] if served == first else scorer.version(served, texts)
            answers["tfidf"] = scorer.tfidf(day, texts)
            row = PeriodRow(
                as_of=day.isoformat(),
                period=(day.isoformat(), end.isoformat()),
                papers=len(period),
                verdict=verdict,
                monitor_gate=gate,
                retrained_version=None if retrained is None else int(retrained),
                promoted=promoted,
                deployment=deployment,
                served_version=served,
                first_version=first,
                scores={who: period_scores(truth, predicted, macro) for who, predicted in answers.items()},
                seconds=time.perf_counter() - started,
            )
            rows.append(row)
            print(ReplayResult([row], 0, {}).table(), flush=True)
    finally:
        if not keep_servers:
            delete_servers(cfg.model_name)
    result = ReplayResult(rows, time.perf_counter() - start_all, cfg.model_dump(mode="json"))
    result.save(out_dir)
    return result
