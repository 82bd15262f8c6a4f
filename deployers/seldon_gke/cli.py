"""Print the SeldonDeployment that serves a model directory, for `kubectl apply --dry-run=server -f -`.

    python -m deployers.seldon_gke --model-uri gs://BUCKET/path/to/model \\
        --image REGION-docker.pkg.dev/PROJECT/REPO/arxiv-serving:TAG --namespace seldon --replicas 2 --out manifest.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deployers.seldon_gke.adapter import seldon_deployment_manifest
from deployers.seldon_gke.spec import (
    DEFAULT_NAMESPACE,
    DEFAULT_RESOURCES,
    STORAGE_INITIALIZER_IMAGE,
    seldon_deployment_spec,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deployers.seldon_gke",
        description="Print the SeldonDeployment serving a model directory from the serving image "
        "(for `kubectl apply --dry-run=server -f`).",
    )
    parser.add_argument("--model-uri", required=True, help="model directory in object storage (gs://...)")
    parser.add_argument("--image", required=True, help="serving image (Dockerfile target `serving`)")
    parser.add_argument("--name", default="arxiv-classifier", help="SeldonDeployment name")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    parser.add_argument("--model-name", default="arxiv-classifier")
    parser.add_argument("--model-version", default="")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--cpu-request", default=DEFAULT_RESOURCES["requests"]["cpu"])
    parser.add_argument("--memory-request", default=DEFAULT_RESOURCES["requests"]["memory"])
    parser.add_argument("--cpu-limit", default=DEFAULT_RESOURCES["limits"]["cpu"])
    parser.add_argument("--memory-limit", default=DEFAULT_RESOURCES["limits"]["memory"])
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--inference-threads", "--torch-threads", dest="inference_threads", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--service-account", default=None, help="pod service account (Workload Identity)")
    parser.add_argument("--storage-secret", default=None, help="secret of RCLONE_CONFIG_* variables (optional)")
    parser.add_argument("--storage-initializer-image", default=STORAGE_INITIALIZER_IMAGE)
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print (or write) the manifest; exit status 2 when an input is refused."""
    parser = _parser()
    args = parser.parse_args(argv)
    import yaml

    bad_labels = [item for item in args.label if "=" not in item]
    if bad_labels:
        parser.error(f"--label takes KEY=VALUE, got {bad_labels}")
    labels = dict(item.split("=", 1) for item in args.label)
    try:
        spec = seldon_deployment_spec(
            name=args.name,
            image=args.image,
            model_uri=args.model_uri,
            model_name=args.model_name,
            model_version=args.model_version,
            replicas=args.replicas,
            resources={
                "requests": {"cpu": args.cpu_request, "memory": args.memory_request},
                "limits": {"cpu": args.cpu_limit, "memory": args.memory_limit},
            },
            max_batch=args.max_batch,
            top_k=args.top_k,
            service_account=args.service_account,
            inference_threads=args.inference_threads,
            workers=args.workers,
            threads=args.threads,
            storage_secret=args.storage_secret,
            storage_initializer_image=args.storage_initializer_image,
        )
        manifest = seldon_deployment_manifest(spec, args.name, args.namespace, labels)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(manifest, indent=2) + "\n" if args.format == "json" else yaml.safe_dump(manifest, sort_keys=False)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
