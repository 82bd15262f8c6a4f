#!/usr/bin/env python
"""Entry point: run a pipeline on the active ZenML stack, or manage the stack, dashboard and MLflow UI.

Examples:
    python run.py --pipeline train                          # default config (configs/train.yaml)
    python run.py --pipeline train --config configs/train_quick.yaml
    python run.py --pipeline train --epochs 2 --max-train 8000 --no-cache
    python run.py --pipeline train --set train.epochs=2 --set data.sample.max_train=8000   # any config field
    python run.py --list-datasets                           # versions of the prepared dataset
    python run.py --pipeline train --dataset-version 3      # retrain on an earlier data version
    python run.py --pipeline train --config configs/train_recent.yaml --as-of 2025-01-01   # recent window
    python run.py --setup-stack local                       # register the local stack (idempotent)
    python run.py --dashboard                               # ZenML dashboard on http://127.0.0.1:8237
    python run.py --mlflow-ui                               # MLflow UI on these runs
    python run.py --pipeline deploy                         # drift gate, then serve the production version
    python run.py --pipeline deploy --set drift.current.max_rows=500
    python run.py --endpoint                                # URL of the running deployment
    python run.py --infer --title "..." --summary "..."     # ask the deployed endpoint
    python run.py --infer --json-file papers.json           # a batch: [{"title": ..., "summary": ...}, ...]
    python run.py --pipeline batch-inference                # score incoming papers into outputs/predictions
    python run.py --pipeline monitor                        # drift + decay; on drifted/decayed retrain, deploy
    python run.py --pipeline monitor --no-trigger           # report only
    python run.py --setup-stack gcp                         # register the gcp stack (ARXIV_GCP_* variables)
    python run.py --doctor                                  # what the active stack lacks, before submitting
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIGS = {
    "train": REPO_ROOT / "configs" / "train.yaml",
    "deploy": REPO_ROOT / "configs" / "deploy.yaml",
    "batch-inference": REPO_ROOT / "configs" / "batch_inference.yaml",
    "monitor": REPO_ROOT / "configs" / "monitor.yaml",
}
#: Options of the training pipeline only (argparse destinations).
TRAIN_ONLY = (
    "dataset_version",
    "as_of",
    "model",
    "max_train",
    "max_test",
    "epochs",
    "max_length",
    "batch_size",
    "learning_rate",
    "seed",
    "freeze_backbone",
    "no_cache",
)
ACTIONS = (
    "pipeline",
    "setup_stack",
    "dashboard",
    "stop_dashboard",
    "mlflow_ui",
    "list_datasets",
    "infer",
    "endpoint",
    "doctor",
)

# Quiet, offline-friendly defaults; a user's own environment wins.
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("ZENML_AUTO_OPEN_DASHBOARD", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _iso_day(text: str) -> str:
    import re
    from datetime import date

    try:
        # fromisoformat alone also takes 20250101 and week dates; a cut-off day is written one way only.
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None
    return text


def _assignment(text: str) -> tuple[str, Any]:
    from arxiv_classifier.config import ConfigError, parse_override

    try:
        return parse_override(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Train and ship a transformer text classifier with ZenML, MLflow and the Model Control Plane.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples:", 1)[1] if __doc__ else None,
        allow_abbrev=False,
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--pipeline", choices=sorted(DEFAULT_CONFIGS), help="Run a pipeline on the active stack.")
    action.add_argument(
        "--infer", action="store_true", help="Send papers to the deployed endpoint; print category and confidence."
    )
    action.add_argument("--endpoint", action="store_true", help="Print the URL of the running deployment.")
    action.add_argument(
        "--doctor",
        action="store_true",
        help="Pre-flight check of the active stack (server, registry, image builder, credentials, packages) and of "
        "the training config's data source (--config, --data-source and --set apply).",
    )
    action.add_argument(
        "--setup-stack",
        metavar="NAME",
        help="Register the stack described in stacks/NAME.yaml (idempotent) and make it active.",
    )
    action.add_argument(
        "--dashboard",
        action="store_true",
        help="Start the local ZenML server and dashboard on loopback (first-use survey skipped) and print its URL.",
    )
    action.add_argument("--stop-dashboard", action="store_true", help="Stop the local ZenML server.")
    action.add_argument(
        "--mlflow-ui", action="store_true", help="Open the MLflow UI on the active stack's experiment tracker store."
    )
    action.add_argument(
        "--list-datasets",
        action="store_true",
        help="List versions of the prepared dataset (content hash, row counts) for --dataset-version.",
    )

    run = parser.add_argument_group("pipeline options")
    run.add_argument(
        "--config",
        type=Path,
        help="YAML run config (default: configs/train.yaml, deploy.yaml, batch_inference.yaml, monitor.yaml).",
    )
    run.add_argument(
        "--set",
        dest="set",
        action="append",
        type=_assignment,
        default=[],
        metavar="KEY=VALUE",
        help="Set any field of the run config, e.g. --set train.epochs=2 --set data.sample.max_train=8000 "
        "(repeatable; the value is read as YAML: 2, 0.5, true, null, [a, b]). Validated like the config file; "
        "applied after it, for every pipeline.",
    )
    run.add_argument("--no-cache", action="store_true", help="Re-run every step instead of reusing cached outputs.")
    run.add_argument(
        "--no-trigger",
        action="store_true",
        help="With --pipeline monitor: report the verdict only; do not retrain or deploy on drifted/decayed.",
    )
    run.add_argument(
        "--dataset-version",
        metavar="VERSION",
        help="Re-train on this earlier version of the prepared dataset (see --list-datasets).",
    )
    run.add_argument(
        "--data-source",
        metavar="URI",
        help="Override data.source: local CSV/CSV.gz/parquet "
        "path, gs://..., hf://owner/name[@split] or kaggle://owner/dataset[/file].",
    )
    run.add_argument(
        "--as-of",
        type=_iso_day,
        metavar="YYYY-MM-DD",
        help="Override data.as_of: with a window split (configs/train_recent.yaml) every split lies before this "
        "day (default: the day after the newest labelled paper).",
    )
    run.add_argument("--model", metavar="ID", help="Override train.model (e.g. distilbert-base-uncased).")
    run.add_argument("--max-train", type=_positive_int, metavar="N", help="Override data.sample.max_train.")
    run.add_argument("--max-test", type=_positive_int, metavar="N", help="Override data.sample.max_test.")
    run.add_argument("--epochs", type=_positive_int, metavar="N", help="Override train.epochs.")
    run.add_argument("--max-length", type=_positive_int, metavar="N", help="Override train.max_length.")
    run.add_argument("--batch-size", type=_positive_int, metavar="N", help="Override train.batch_size.")
    run.add_argument("--learning-rate", type=_positive_float, metavar="LR", help="Override train.learning_rate.")
    run.add_argument("--seed", type=int, metavar="N", help="Override train.seed and data.seed.")
    run.add_argument(
        "--freeze-backbone",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Override train.freeze_backbone (train only the classification head).",
    )
    run.add_argument("--port", type=_positive_int, help="Port for --dashboard (8237) or --mlflow-ui (5000).")
    run.add_argument(
        "--gcp-settings",
        type=Path,
        metavar="FILE",
        help="With --setup-stack gcp: YAML file of the GCP settings (else ARXIV_GCP_* environment variables).",
    )

    infer = parser.add_argument_group("inference options (with --infer)")
    infer.add_argument("--title", help="Title of one paper.")
    infer.add_argument("--summary", help="Abstract of one paper.")
    infer.add_argument(
        "--json-file", "--json_file", dest="json_file", type=Path, help="JSON list of {title, summary} objects."
    )
    infer.add_argument("--url", help="Endpoint base URL (default: the running deployment of the model).")
    return parser


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map the named command-line shortcuts onto dotted config keys (None: not given)."""
    return {
        "data.source": args.data_source,
        "data.as_of": args.as_of,
        "train.model": args.model,
        "data.sample.max_train": args.max_train,
        "data.sample.max_test": args.max_test,
        "train.epochs": args.epochs,
        "train.max_length": args.max_length,
        "train.batch_size": args.batch_size,
        "train.learning_rate": args.learning_rate,
        "train.seed": args.seed,
        "data.seed": args.seed,
        "train.freeze_backbone": args.freeze_backbone,
    }


def load_run_config(args: argparse.Namespace, pipeline: str) -> Any:
    """The pipeline's config: the file, the named shortcuts, then every --set; validated, sources expanded."""
    from arxiv_classifier.config import (
        BatchInferenceConfig,
        DeployRunConfig,
        MonitorRunConfig,
        RunConfig,
        load_config,
        resolve_sources,
    )

    schemas: dict[str, Any] = {
        "train": RunConfig,
        "deploy": DeployRunConfig,
        "batch-inference": BatchInferenceConfig,
        "monitor": MonitorRunConfig,
    }
    schema = schemas[pipeline]
    path = args.config or DEFAULT_CONFIGS[pipeline]
    return resolve_sources(load_config(path, overrides_from_args(args), schema, args.set))


def _require(check: Callable[..., None], *names: str) -> None:
    """A look-up in the store before any pipeline work; what is missing ends the command with its message."""
    from pipelines.inputs import MissingInput

    try:
        check(*names)
    except MissingInput as exc:
        raise SystemExit(f"error: {exc}") from None


def failure_message(exc: BaseException) -> str:
    """The message of the gate / smoke-test / deployer failure behind a pipeline failure, if that is what it was."""
    from pipelines.deployment import deployment_failure

    return deployment_failure(exc) or f"{exc} (the failing step's message is above)"


def run_training(args: argparse.Namespace) -> int:
    from arxiv_classifier.data import source_fingerprint

    config = load_run_config(args, "train")
    fingerprint = "" if args.dataset_version else source_fingerprint(config.data.source)
    if fingerprint.startswith("missing:"):
        from arxiv_classifier.data import DataError, read_table

        read_table(config.data.source)  # raises the DataError that says how to point elsewhere
        raise DataError(f"data source {config.data.source} not found")

    from zenml import Model

    from pipelines import training_pipeline
    from pipelines.inputs import require_dataset_version
    from stacks import select_stack_for_run
    from stacks.remote import remote_settings

    select_stack_for_run()
    if args.dataset_version:
        _require(require_dataset_version, args.dataset_version)
    model = Model(
        name=config.model_name,
        description="Transformer text classifier (title + abstract -> primary category).",
        license="Apache-2.0",
        tags=["text-classification", config.train.model.split("/")[-1]],
    )
    pipe = training_pipeline.with_options(model=model, enable_cache=not args.no_cache, settings=remote_settings())
    pipe(config=config, data_fingerprint=fingerprint, dataset_version=args.dataset_version)
    return 0


def run_deployment(args: argparse.Namespace) -> int:
    config = load_run_config(args, "deploy")
    from zenml import Model

    from pipelines import deployment_pipeline
    from pipelines.inputs import require_model_version
    from stacks import select_stack_for_run
    from stacks.remote import remote_settings

    select_stack_for_run(require_model_deployer=True)
    _require(require_model_version, config.model_name, config.stage)
    pipe = deployment_pipeline.with_options(
        model=Model(name=config.model_name, version=config.stage), settings=remote_settings()
    )
    try:
        pipe(config=config)
    except Exception as exc:
        print(f"error: the deployment pipeline stopped: {failure_message(exc)}", file=sys.stderr)
        return 1
    return 0


def run_batch_inference(args: argparse.Namespace) -> int:
    config = load_run_config(args, "batch-inference")
    from zenml import Model

    from pipelines import batch_inference_pipeline
    from pipelines.inputs import require_model_version
    from stacks import select_stack_for_run
    from stacks.remote import remote_settings

    select_stack_for_run(require_experiment_tracker=False)
    _require(require_model_version, config.model_name, config.stage)
    batch_inference_pipeline.with_options(
        model=Model(name=config.model_name, version=config.stage), settings=remote_settings()
    )(config=config)
    return 0


def run_monitor(args: argparse.Namespace) -> int:
    """Monitor the production version; on drifted/decayed retrain and deploy (pipelines/loop.py)."""
    config = load_run_config(args, "monitor")
    from pipelines.inputs import require_model_version
    from pipelines.loop import ScheduleRefused, monitor_and_act

    _require(require_model_version, config.model_name, config.stage)
    try:
        outcome = monitor_and_act(config, trigger=not args.no_trigger, config_path=args.config)
    except ScheduleRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(outcome.summary())
    return 0 if outcome.ok else 1


def running_endpoint(model_name: str) -> str:
    """Base URL of the model's running deployment (newest first)."""
    from deployers import deployments

    try:
        return deployments.running_endpoint(model_name)
    except deployments.DeploymentError as exc:  # no deployer on the stack, or nothing of this model runs
        raise SystemExit(f"error: {exc}") from None


def run_inference(args: argparse.Namespace) -> int:
    import json

    from arxiv_classifier.constants import DEFAULT_MODEL_NAME
    from arxiv_classifier.endpoint import EndpointError, predict

    if args.json_file:
        try:
            papers = json.loads(args.json_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(f"error: cannot read {args.json_file} as JSON: {exc}") from None
        if isinstance(papers, dict):
            papers = [papers]
    elif args.title is not None or args.summary is not None:
        papers = [{"title": args.title or "", "summary": args.summary or ""}]
    else:
        raise SystemExit("error: --infer needs --title/--summary or --json-file")
    url = args.url or running_endpoint(DEFAULT_MODEL_NAME)
    try:
        answer = predict(url, papers)
    except EndpointError as exc:
        print(f"error: the endpoint refused the request: {exc}", file=sys.stderr)
        return 2
    body = answer.get("jsonData", answer)
    for paper, pred in zip(papers, body["predictions"], strict=True):
        title = str(paper.get("title", ""))[:70] if isinstance(paper, dict) else ""
        print(f"{pred['category']:<12} {pred['confidence']:.3f}  {title}")
    print(f"(model {body.get('model_name', '?')} version {body.get('model_version', '?')} at {url})")
    return 0


def run_doctor(args: argparse.Namespace) -> int:
    """The pre-flight report of the active stack, with the training config's data source checked too."""
    from stacks import doctor

    config = load_run_config(args, "train")
    return doctor.main(data_source=config.data.source)


def _check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse options that do not apply to the chosen action (argparse exits 2 with the message)."""
    if not any(getattr(args, name) for name in ACTIONS):
        parser.error(
            "say what to do: --pipeline {train,deploy,batch-inference,monitor}, --infer, --endpoint, "
            "--setup-stack NAME, "
            "--dashboard, --stop-dashboard, --mlflow-ui, --list-datasets or --doctor"
        )

    def given(*names: str) -> list[str]:
        return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) not in (None, False, [])]

    if args.no_trigger and args.pipeline != "monitor":
        parser.error("--no-trigger only applies with --pipeline monitor")
    if args.gcp_settings is not None and args.setup_stack != "gcp":
        parser.error("--gcp-settings only applies with --setup-stack gcp")
    if not args.infer and given("title", "summary", "json_file", "url"):
        parser.error("--title, --summary, --json-file and --url only apply with --infer")
    if args.pipeline != "train" and (train_only := given(*TRAIN_ONLY)):
        parser.error(f"{', '.join(train_only)} only apply with --pipeline train")
    if args.pipeline not in ("train", None) and args.data_source is not None:
        parser.error("--data-source only applies with --pipeline train or --doctor")
    if not (args.pipeline or args.doctor) and (config_options := given("config", "set", "data_source")):
        parser.error(f"{', '.join(config_options)} only apply with --pipeline or --doctor")
    shortcuts = {key for key, value in overrides_from_args(args).items() if value is not None}
    if twice := sorted(shortcuts & {key for key, _ in args.set}):
        parser.error(f"{', '.join(twice)}: given both by --set and by its own option; give one")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (see --help)")
    _check_options(parser, args)

    from arxiv_classifier.config import ConfigError
    from arxiv_classifier.data import DataError
    from stacks.registry import StackError

    try:
        if args.pipeline == "train":
            return run_training(args)
        if args.pipeline == "deploy":
            return run_deployment(args)
        if args.pipeline == "batch-inference":
            return run_batch_inference(args)
        if args.pipeline == "monitor":
            return run_monitor(args)
        if args.doctor:
            return run_doctor(args)
        if args.infer:
            return run_inference(args)
        if args.endpoint:
            from arxiv_classifier.constants import DEFAULT_MODEL_NAME

            print(running_endpoint(DEFAULT_MODEL_NAME))
            return 0
        if args.setup_stack:
            from stacks import setup_stack

            created = setup_stack(args.setup_stack, args.gcp_settings)
            done = f"registered {', '.join(created)}" if created else "already registered"
            print(f"Stack '{args.setup_stack}': {done}; it is now the active stack.")
            return 0
        if args.list_datasets:
            from pipelines.inputs import dataset_versions_table

            print(dataset_versions_table())
            return 0
        if args.dashboard or args.stop_dashboard:
            from stacks import dashboard

            return dashboard.start(port=args.port or dashboard.DEFAULT_PORT) if args.dashboard else dashboard.stop()
        if args.mlflow_ui:
            from stacks import mlflow_ui

            return mlflow_ui.launch(port=args.port or mlflow_ui.DEFAULT_PORT)
    except (ConfigError, DataError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parser.error("nothing to do")
    return 2


if __name__ == "__main__":
    sys.exit(main())
