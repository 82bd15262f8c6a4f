#!/usr/bin/env python
"""Entry point: run a pipeline on the active ZenML stack, or manage the stack, dashboard and MLflow UI.

Examples:
    python run.py --pipeline train                          # default config (configs/train.yaml)
    python run.py --pipeline train --config configs/train_quick.yaml
    python run.py --pipeline train --epochs 2 --max-train 8000 --no-cache
    python run.py --list-datasets                           # versions of the prepared dataset
    python run.py --pipeline train --dataset-version 3      # retrain on an earlier data version
    python run.py --setup-stack local                       # register the local stack (idempotent)
    python run.py --dashboard                               # ZenML dashboard on http://127.0.0.1:8237
    python run.py --mlflow-ui                               # MLflow UI on these runs
    python run.py --pipeline deploy                         # drift gate, then serve the production version
    python run.py --endpoint                                # URL of the running deployment
    python run.py --infer --title "..." --summary "..."     # ask the deployed endpoint
    python run.py --infer --json-file papers.json           # a batch: [{"title": ..., "summary": ...}, ...]
    python run.py --pipeline batch-inference                # score incoming papers into outputs/predictions
    python run.py --setup-stack gcp                         # register the gcp stack (ARXIV_GCP_* variables)
    python run.py --doctor                                  # what the active stack lacks, before submitting
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIGS = {
    "train": REPO_ROOT / "configs" / "train.yaml",
    "deploy": REPO_ROOT / "configs" / "deploy.yaml",
    "batch-inference": REPO_ROOT / "configs" / "batch_inference.yaml",
}

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
        help="Pre-flight check of the active stack (server, registry, image builder, credentials, packages).",
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
    run.add_argument("--config", type=Path, help="YAML run config (default: configs/train.yaml).")
    run.add_argument("--no-cache", action="store_true", help="Re-run every step instead of reusing cached outputs.")
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
    """Map the few command-line overrides onto dotted config keys."""
    return {
        "data.source": args.data_source,
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


#: Environment variable naming the pushed pipeline image (the Dockerfile's `pipeline` target).
PIPELINE_IMAGE_ENV = "ARXIV_PIPELINE_IMAGE"


def remote_settings() -> dict[str, Any]:
    """Docker settings when the active orchestrator runs steps in containers (e.g. Vertex AI).

    The steps run in an image built on the project's pipeline image (locked dependencies, CUDA torch
    for the GPU step) with the code on top; nothing changes for the local orchestrator.
    """
    from zenml.client import Client
    from zenml.config import DockerSettings
    from zenml.enums import StackComponentType

    from stacks.registry import StackError

    orchestrator = Client().active_stack_model.components.get(StackComponentType.ORCHESTRATOR)
    if not orchestrator or orchestrator[0].flavor_name == "local":
        return {}
    image = os.environ.get(PIPELINE_IMAGE_ENV)
    if not image:
        raise StackError(
            f"the active orchestrator '{orchestrator[0].name}' runs steps in containers: set {PIPELINE_IMAGE_ENV} to "
            "the pushed pipeline image (Dockerfile target `pipeline`; see the README's GCP guide), and run "
            "`python run.py --doctor` to check the rest of the stack"
        )
    return {"docker": DockerSettings(parent_image=image, user="app", install_stack_requirements=False)}


def _production_version_or_exit(model_name: str, stage: str) -> None:
    from zenml.client import Client

    try:
        Client().get_model_version(model_name, stage)
    except KeyError:
        raise SystemExit(
            f"error: model '{model_name}' has no {stage} version yet. Train one first: python run.py --pipeline train"
        ) from None


def _resolved_drift(drift: Any) -> Any:
    """Concrete data locations in the run's record (ZenML also refuses unset ${VAR}s in snapshots)."""
    from arxiv_classifier.config import resolve_papers_source

    return drift.model_copy(update={"current": resolve_papers_source(drift.current)})


def run_deployment(args: argparse.Namespace) -> int:
    from zenml import Model

    from arxiv_classifier.config import DeployRunConfig, load_config
    from pipelines import deployment_pipeline
    from stacks import select_stack_for_run

    config = load_config(args.config or DEFAULT_CONFIGS["deploy"], None, DeployRunConfig)
    config = config.model_copy(update={"drift": _resolved_drift(config.drift)})
    select_stack_for_run(require_model_deployer=True)
    _production_version_or_exit(config.model_name, config.stage)
    pipe = deployment_pipeline.with_options(
        model=Model(name=config.model_name, version=config.stage), settings=remote_settings()
    )
    try:
        pipe(config=config)
    except Exception as exc:
        print(f"error: the deployment pipeline stopped: {_root_message(exc)}", file=sys.stderr)
        return 1
    return 0


def _root_message(exc: BaseException) -> str:
    """The message of the gate / smoke-test failure behind a pipeline failure, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in ("DeploymentBlocked", "SmokeTestFailed", "DeploymentError"):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return f"{exc} (the failing step's message is above)"


def run_batch_inference(args: argparse.Namespace) -> int:
    from zenml import Model

    from arxiv_classifier.config import BatchInferenceConfig, load_config, resolve_papers_source
    from pipelines import batch_inference_pipeline
    from stacks import select_stack_for_run

    config = load_config(args.config or DEFAULT_CONFIGS["batch-inference"], None, BatchInferenceConfig)
    config = config.model_copy(
        update={"drift": _resolved_drift(config.drift), "papers": resolve_papers_source(config.papers)}
    )
    select_stack_for_run(require_experiment_tracker=False)
    _production_version_or_exit(config.model_name, config.stage)
    batch_inference_pipeline.with_options(
        model=Model(name=config.model_name, version=config.stage), settings=remote_settings()
    )(config=config)
    return 0


def running_endpoint(model_name: str) -> str:
    """Base URL of the model's running deployment (newest first)."""
    from zenml.client import Client

    from steps.deployment.endpoint_deployer import current_deployments

    deployer = Client().active_stack.model_deployer
    if deployer is None:
        raise SystemExit("error: the active stack has no model deployer; `zenml stack set local`")
    for service in current_deployments(deployer, model_name):
        if service.is_running:
            return str(service.base_url)
    raise SystemExit(
        f"error: no running deployment of '{model_name}'. Deploy with `python run.py --pipeline deploy`, or start "
        "a stopped one: `zenml model-deployer models list` then `zenml model-deployer models start <UUID>`"
    )


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


def run_training(args: argparse.Namespace) -> int:
    from arxiv_classifier.config import load_config, resolve_sources
    from arxiv_classifier.data import source_fingerprint

    config = resolve_sources(load_config(args.config or DEFAULT_CONFIGS["train"], overrides_from_args(args)))
    fingerprint = "" if args.dataset_version else source_fingerprint(config.data.source)
    if fingerprint.startswith("missing:"):
        from arxiv_classifier.data import DataError, read_table

        read_table(config.data.source)  # raises the DataError that says how to point elsewhere
        raise DataError(f"data source {config.data.source} not found")

    from zenml import Model

    from pipelines import training_pipeline
    from stacks import select_stack_for_run

    select_stack_for_run()
    if args.dataset_version:
        _check_dataset_version(args.dataset_version)
    model = Model(
        name=config.model_name,
        description="Transformer text classifier (title + abstract -> primary category).",
        license="Apache-2.0",
        tags=["text-classification", config.train.model.split("/")[-1]],
    )
    pipe = training_pipeline.with_options(model=model, enable_cache=not args.no_cache, settings=remote_settings())
    pipe(config=config, data_fingerprint=fingerprint, dataset_version=args.dataset_version)
    return 0


def _check_dataset_version(version: str) -> None:
    from zenml.client import Client

    from arxiv_classifier.constants import PREPARED_DATASET

    try:
        Client().get_artifact_version(PREPARED_DATASET, version)
    except KeyError:
        raise SystemExit(
            f"error: no version {version!r} of the prepared dataset; `python run.py --list-datasets` lists them"
        ) from None


def list_datasets() -> int:
    from zenml.client import Client

    from arxiv_classifier.constants import PREPARED_DATASET

    versions = Client().list_artifact_versions(artifact=PREPARED_DATASET, sort_by="asc:created", size=100, hydrate=True)
    if not versions.items:
        print("No prepared dataset yet: run `python run.py --pipeline train` first.")
        return 0
    print(f"{'version':>8}  {'created':19}  {'content hash':14}  {'train':>7} {'val':>7} {'test':>7}  labels")
    for v in versions.items:
        meta = v.run_metadata
        print(
            f"{v.version:>8}  {v.created:%Y-%m-%d %H:%M:%S}  {str(meta.get('content_hash', '?'))[:12]:14}  "
            f"{meta.get('rows_train', '?'):>7} {meta.get('rows_validation', '?'):>7} {meta.get('rows_test', '?'):>7}  "
            f"{meta.get('num_labels', '?')}"
        )
    return 0


_TRAIN_ONLY = (
    "dataset_version",
    "data_source",
    "model",
    "max_train",
    "max_test",
    "epochs",
    "max_length",
    "batch_size",
    "learning_rate",
    "seed",
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (see --help)")
    actions = (
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
    if not any(getattr(args, name) for name in actions):
        parser.error(
            "say what to do: --pipeline {train,deploy,batch-inference}, --infer, --endpoint, --setup-stack NAME, "
            "--dashboard, --stop-dashboard, --mlflow-ui, --list-datasets or --doctor"
        )
    if args.gcp_settings is not None and args.setup_stack != "gcp":
        parser.error("--gcp-settings only applies with --setup-stack gcp")
    if not args.infer and any(getattr(args, n) is not None for n in ("title", "summary", "json_file", "url")):
        parser.error("--title, --summary, --json-file and --url only apply with --infer")
    if args.pipeline in ("deploy", "batch-inference"):
        given = [f"--{n.replace('_', '-')}" for n in _TRAIN_ONLY if getattr(args, n) is not None]
        if given or args.no_cache or args.freeze_backbone is not None:
            parser.error(f"{', '.join(given) or '--no-cache/--freeze-backbone'} only apply with --pipeline train")
    if not args.pipeline:
        given = [f"--{name.replace('_', '-')}" for name in ("config", *_TRAIN_ONLY) if getattr(args, name) is not None]
        if given or args.no_cache or args.freeze_backbone is not None:
            parser.error(f"{', '.join(given) or '--no-cache/--freeze-backbone'} only apply with --pipeline")

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
        if args.infer:
            return run_inference(args)
        if args.endpoint:
            from arxiv_classifier.constants import DEFAULT_MODEL_NAME

            print(running_endpoint(DEFAULT_MODEL_NAME))
            return 0
        if args.doctor:
            from stacks.doctor import main as doctor_main

            return doctor_main(data_source=None)
        if args.setup_stack:
            from stacks import ensure_stack

            if args.setup_stack == "gcp":
                from stacks.gcp import setup_gcp_stack

                created = setup_gcp_stack(args.gcp_settings, activate=True)
            else:
                created = ensure_stack(args.setup_stack, activate=True)
            print(
                f"Stack '{args.setup_stack}': "
                + (f"registered {', '.join(created)}" if created else "already registered")
                + "; it is now the active stack."
            )
            return 0
        if args.list_datasets:
            return list_datasets()
        from stacks import dashboard

        if args.dashboard:
            return dashboard.start(port=args.port or dashboard.DEFAULT_PORT)
        if args.stop_dashboard:
            return dashboard.stop()
        if args.mlflow_ui:
            return dashboard.mlflow_ui(port=args.port or 5000)
    except (ConfigError, DataError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parser.error("nothing to do")
    return 2


if __name__ == "__main__":
    sys.exit(main())
