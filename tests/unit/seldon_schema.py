"""A SeldonDeployment checked offline the way the cluster would: Seldon Core's CRD schema plus the rules
of Seldon's admission webhook and Kubernetes' pod validation. Test support, not production code.

Used by tests/unit/test_seldon_manifest.py, and by hand on a manifest the CLI wrote:

    python -m deployers.seldon_gke --model-uri gs://... --image ... --out manifest.yaml
    python -m tests.unit.seldon_schema manifest.yaml        # exit 1 and the errors when it does not validate

The CRD is Seldon Core 1.18.2's, from ../shared/specs next to the repository.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import re
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kubernetes.utils import parse_quantity

#: Seldon Core 1.18.2's SeldonDeployment CRD, when the shared specs are next to the repository.
DEFAULT_CRD = Path(__file__).resolve().parents[3] / "shared/specs/seldon-core-1.18.2/seldondeployments-crd.yaml.gz"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_ANNOTATIONS_BYTES = 256 * 1024


@functools.lru_cache(maxsize=4)
def _load_crd(path: str, mtime_ns: int) -> dict[str, Any]:
    import yaml

    raw = Path(path).read_bytes()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the 1 MB CRD ~10x faster
    crd = yaml.load(raw, Loader=loader)
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{path} is not a CustomResourceDefinition")
    return crd


def _to_json_schema(node: Any, *, strict: bool) -> Any:
    """OpenAPI v3 (Kubernetes structural schema) -> JSON Schema.

    `nullable` becomes a null type, `x-kubernetes-int-or-string` an integer-or-string, and with `strict`
    an object with declared properties rejects undeclared ones (as `kubectl apply --validate=strict` does;
    without it the API server silently prunes them) unless `x-kubernetes-preserve-unknown-fields` is set.
    Other `x-kubernetes-*` keys are left as unknown keywords, which JSON Schema ignores.
    """
    if isinstance(node, list):
        return [_to_json_schema(n, strict=strict) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_json_schema(v, strict=strict) for k, v in value.items()}
        elif key == "description":
            continue
        else:
            out[key] = _to_json_schema(value, strict=strict)
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        strict
        and out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        # apiVersion/kind/metadata/status of the root are the API server's; the rest is closed.
        out["additionalProperties"] = False
    return out


def crd_json_schema(crd: Mapping[str, Any], version: str, *, strict: bool = True) -> dict[str, Any]:
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema = entry["schema"]["openAPIV3Schema"]
            converted: dict[str, Any] = _to_json_schema(schema, strict=strict)
            return converted
    raise ValueError(f"the CRD has no version {version!r}")


def _path(parts: Sequence[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def _metadata_errors(metadata: Any) -> list[str]:
    """What the API server itself checks on every object's metadata (the CRD schema leaves it open)."""
    if not isinstance(metadata, dict):
        return ["metadata: must be an object"]
    errors = []
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        errors.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not _DNS_LABEL.match(namespace)):
        errors.append(f"metadata.namespace: {namespace!r} is not a DNS-1123 label")
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, label = str(key).rpartition("/")
        if len(label) > 63 or not _LABEL_NAME.match(label) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
            errors.append(f"metadata.labels: invalid key {key!r}")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            errors.append(f"metadata.labels.{key}: invalid value {value!r}")
    annotations = metadata.get("annotations") or {}
    size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
    if size > _MAX_ANNOTATIONS_BYTES:
        errors.append(f"metadata.annotations: {size} bytes, more than the 256 KiB Kubernetes allows")
    return errors


@functools.lru_cache(maxsize=8)
def _validator(path: str, mtime_ns: int, version: str, strict: bool) -> Any:
    import jsonschema

    schema = crd_json_schema(_load_crd(path, mtime_ns), version, strict=strict)
    checker = jsonschema.FormatChecker()

    @checker.checks("int32")  # type: ignore[misc]
    def _int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("int64")  # type: ignore[misc]
    def _int64(value: object) -> bool:
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_cls.check_schema(schema)
    return validator_cls(schema, format_checker=checker)


def validate_against_crd(manifest: Mapping[str, Any], crd_path: Path, *, strict: bool = True) -> list[str]:
    """Errors of `manifest` against the CRD in `crd_path` (empty when valid).

    Checks apiVersion/kind against the CRD's group, served versions and kind; the whole object against
    that version's `openAPIV3Schema` with `jsonschema` (see `_to_json_schema`; `format: int32/int64`
    ranges are checked too); and the metadata rules the API server applies to every object.
    """
    path = Path(crd_path).resolve()
    crd = _load_crd(str(path), path.stat().st_mtime_ns)
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    served = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
    errors: list[str] = []
    api_version = str(manifest.get("apiVersion", ""))
    api_group, _, version = api_version.rpartition("/")
    if api_group != group or version not in served:
        errors.append(f"apiVersion: {api_version!r} is not one of {[f'{group}/{v}' for v in served]}")
        return errors
    if manifest.get("kind") != kind:
        errors.append(f"kind: {manifest.get('kind')!r} is not {kind!r}")
    validator = _validator(str(path), path.stat().st_mtime_ns, version, strict)
    for error in sorted(validator.iter_errors(dict(manifest)), key=lambda e: list(map(str, e.absolute_path))):
        errors.append(f"{_path(list(error.absolute_path))}: {error.message}")
    errors += _metadata_errors(manifest.get("metadata"))
    return errors


def _quantity(value: Any) -> Decimal | None:
    """The quantity's value (a Decimal), or None when Kubernetes would not accept it."""
    if isinstance(value, bool):
        return None
    try:
        number = parse_quantity(value)
    except (ValueError, TypeError, ArithmeticError):
        return None
    return Decimal(number) if number.is_finite() else None


def _container_errors(where: str, container: Mapping[str, Any], volumes: set[str]) -> list[str]:
    errors = []
    ports = container.get("ports") or []
    names = [p.get("name") for p in ports if p.get("name")]
    if len(names) != len(set(names)):
        errors.append(f"{where}.ports: duplicate port names {names}")
    for i, port in enumerate(ports):
        if port.get("name") and (len(port["name"]) > 15 or not _PORT_NAME.match(port["name"])):
            errors.append(f"{where}.ports[{i}].name: {port['name']!r} is not an IANA service name")
        if not 1 <= int(port.get("containerPort", 0)) <= 65535:
            errors.append(f"{where}.ports[{i}].containerPort: out of range")
    declared = {p.get("containerPort") for p in ports} | set(names)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        target = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
        if target is not None and target not in declared:
            errors.append(f"{where}.{probe}.httpGet.port: {target!r} is not a declared container port")
    for i, mount in enumerate(container.get("volumeMounts") or []):
        if mount.get("name") not in volumes:
            errors.append(f"{where}.volumeMounts[{i}].name: volume {mount.get('name')!r} not found")
    for i, env in enumerate(container.get("env") or []):
        if not _ENV_NAME.match(str(env.get("name", ""))):
            errors.append(f"{where}.env[{i}].name: {env.get('name')!r} is not a valid variable name")
    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        for key, value in (resources.get(section) or {}).items():
            if _quantity(value) is None:
                errors.append(f"{where}.resources.{section}.{key}: {value!r} is not a quantity")
    for key, request in (resources.get("requests") or {}).items():
        limit = (resources.get("limits") or {}).get(key)
        req_q, lim_q = _quantity(request), _quantity(limit) if limit is not None else None
        if req_q is not None and lim_q is not None and req_q > lim_q:
            errors.append(f"{where}.resources: request {key}={request} is above its limit {limit}")
    return errors


def semantic_errors(manifest: Mapping[str, Any]) -> list[str]:
    """Rules beyond the CRD schema that Seldon's webhook or Kubernetes' pod validation would reject.

    Every graph node without a prepackaged implementation needs a container of the same name; predictor
    names are unique DNS labels; container ports, probes, volume mounts, env names and resource
    quantities are consistent (requests <= limits).
    """
    errors: list[str] = []
    spec = manifest.get("spec") or {}
    predictors = spec.get("predictors") or []
    names = [p.get("name") for p in predictors]
    if len(names) != len(set(names)):
        errors.append(f"spec.predictors: duplicate names {names}")
    for i, predictor in enumerate(predictors):
        where = f"spec.predictors[{i}]"
        if not _DNS_LABEL.match(str(predictor.get("name", ""))):
            errors.append(f"{where}.name: {predictor.get('name')!r} is not a DNS-1123 label")
        containers: dict[str, str] = {}
        for j, component in enumerate(predictor.get("componentSpecs") or []):
            pod = component.get("spec") or {}
            volumes = {v.get("name") for v in pod.get("volumes") or []}
            for kind in ("initContainers", "containers"):
                for k, container in enumerate(pod.get(kind) or []):
                    cwhere = f"{where}.componentSpecs[{j}].spec.{kind}[{k}]"
                    if container.get("name") in containers:
                        errors.append(f"{cwhere}.name: duplicate container name {container.get('name')!r}")
                    containers[str(container.get("name"))] = kind
                    errors += _container_errors(cwhere, container, volumes)
        stack = [predictor.get("graph") or {}]
        while stack:
            node = stack.pop()
            stack.extend(node.get("children") or [])
            if node.get("implementation") in (None, "", "UNKNOWN_IMPLEMENTATION") and (
                containers.get(str(node.get("name"))) != "containers"
            ):
                errors.append(
                    f"{where}.graph: node {node.get('name')!r} has no implementation and no container of that name"
                )
    return errors


def validate_manifest(manifest: Mapping[str, Any], crd_path: Path = DEFAULT_CRD) -> list[str]:
    """`validate_against_crd` plus `semantic_errors`."""
    return validate_against_crd(manifest, crd_path) + semantic_errors(manifest)


# --- CLI --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Validate manifest files (YAML or JSON); print the errors; exit 1 if any file does not validate."""
    parser = argparse.ArgumentParser(prog="python -m tests.unit.seldon_schema", description=main.__doc__)
    parser.add_argument("manifests", nargs="+", type=Path, help="SeldonDeployment files (YAML or JSON)")
    parser.add_argument("--crd", type=Path, default=DEFAULT_CRD, help="the SeldonDeployment CRD (YAML, may be .gz)")
    args = parser.parse_args(argv)
    import yaml

    if not args.crd.is_file():
        print(f"CRD {args.crd} not found: pass --crd", file=sys.stderr)
        return 2
    failed = 0
    for path in args.manifests:
        errors = validate_manifest(yaml.safe_load(path.read_text()), args.crd)
        failed += bool(errors)
        print(f"{path}: " + ("valid" if not errors else "INVALID\n  " + "\n  ".join(errors)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
