"""Pre-flight check of the active stack: what it lacks, said before anything is submitted.

`python run.py --doctor` calls `main()`. Nothing here submits, builds or writes; the only network
calls are bounded by short timeouts (a TCP connect to the MLflow server, Google's credential lookup).
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO
from urllib.parse import urlparse

if TYPE_CHECKING:
    from zenml.models import ComponentResponse

Severity = Literal["error", "warning", "ok"]

#: Seconds the network probes may take (the issue allows 2 s for MLflow; Google's credential lookup
#: probes the GCE metadata server, which does not answer off GCP).
MLFLOW_TIMEOUT_S = 2.0
#: An authenticated API read takes ~0.4 s on a warm MLflow server (password hashing) and a few seconds on
#: the first request after a start: reachability stays bounded by the 2 s above, the answer by this.
MLFLOW_API_TIMEOUT_S = 15.0
CREDENTIALS_TIMEOUT_S = 5.0
#: Flavors of components that talk to Google Cloud with the application-default credentials.
GCP_FLAVORS = {"vertex", "gcp"}


@dataclass(frozen=True)
class Finding:
    """One result of the pre-flight check."""

    severity: Severity
    message: str
    fix: str = ""


def _timed(func: Callable[[], Any], seconds: float) -> tuple[bool, Any, BaseException | None]:
    """Run `func` in a daemon thread: (finished in time, result, exception)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = func()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="doctor-probe")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return False, None, None
    return True, box.get("result"), box.get("error")


def _flavor(component: ComponentResponse) -> Any:
    from zenml.client import Client
    from zenml.stack.flavor import Flavor

    model = Client().get_flavor_by_name_and_type(component.flavor_name, component.type)
    return Flavor.from_model(model), model


def _config(component: ComponentResponse) -> Any:
    """The component's configuration object, unvalidated (secret references stay unresolved)."""
    try:
        flavor, _ = _flavor(component)
        return flavor.config_class.model_construct(**component.configuration)
    except Exception:
        return None


def _is_remote(component: ComponentResponse) -> bool:
    config = _config(component)
    if config is not None:
        return bool(config.is_remote)
    return component.flavor_name not in ("local", "local_docker")


def _is_local(component: ComponentResponse) -> bool:
    config = _config(component)
    return bool(config.is_local) if config is not None else component.flavor_name == "local"


def _check_packages(components: list[ComponentResponse]) -> list[Finding]:
    """Every component's implementation imports: its integration's packages are installed."""
    from zenml.integrations.registry import integration_registry

    findings = []
    for comp in components:
        label = f"{comp.type.value} '{comp.name}' ({comp.flavor_name})"
        try:
            flavor, model = _flavor(comp)
        except Exception as exc:
            findings.append(Finding("error", f"the flavor of the {label} cannot be loaded: {exc}", "see the message"))
            continue
        try:
            _ = flavor.implementation_class  # imports the implementation and the packages it needs
        except Exception as exc:
            integration = model.integration or ""
            fix = "install the packages it needs"
            if integration in integration_registry.integrations:
                reqs = integration_registry.integrations[integration].get_requirements()
                fix = f"`zenml integration install {integration}`, or pip install " + " ".join(f"'{r}'" for r in reqs)
            findings.append(Finding("error", f"the {label} cannot be loaded: {exc}", fix))
        else:
            findings.append(Finding("ok", f"the {label} loads (its packages are installed)"))
    return findings


def check_zenml_server() -> Finding:
    """Whether the ZenML server this client is connected to answers (checked before the client connects)."""
    from zenml.config.global_config import GlobalConfiguration
    from zenml.enums import StoreType

    config = GlobalConfiguration().store_configuration
    if config.type != StoreType.REST:
        return Finding("ok", f"ZenML store: the local {config.type.value} store")
    url = str(config.url).rstrip("/")

    finished, status, error = _timed(lambda: _http_status(url + "/health", MLFLOW_TIMEOUT_S), MLFLOW_TIMEOUT_S + 0.5)
    if finished and error is None and status == 200:
        return Finding("ok", f"the ZenML server {url} answers")
    why = f"HTTP {status}" if finished and error is None else ("no answer within 2 s" if not finished else str(error))
    return Finding(
        "error",
        f"the ZenML server {url} this client is connected to does not answer ({why}); its runs, models and "
        "stacks cannot be reached",
        "start it (the team server: `make team-up`), or `zenml logout` to return to the local store",
    )


def _check_server(remote: bool, orchestrator: str) -> list[Finding]:
    from zenml.client import Client

    store = Client().zen_store
    url = store.config.url
    local = store.is_local_store()
    where = f"ZenML store {store.type.value} at {url}"
    if remote and local:
        return [
            Finding(
                "error",
                f"the orchestrator '{orchestrator}' runs remotely, but the {where} is local: remote steps "
                "cannot reach it (ZenML refuses to submit)",
                "deploy a ZenML server the cloud jobs can reach (e.g. on Cloud Run or GKE, see the README) "
                "and `zenml login https://<server>`",
            )
        ]
    return [Finding("ok", f"{where}" + (" (remote)" if not local else " (local; fine for a local orchestrator)"))]


def _check_remote_requirements(by_type: dict[str, list[ComponentResponse]]) -> list[Finding]:
    findings = []
    orchestrator = by_type["orchestrator"][0]
    for needed, how in (
        ("container_registry", "zenml container-registry register ... --flavor=gcp --uri=REGION-docker.pkg.dev/P/R"),
        ("image_builder", "zenml image-builder register ... --flavor=gcp (Cloud Build)"),
    ):
        if not by_type.get(needed):
            findings.append(
                Finding(
                    "error",
                    f"the remote orchestrator '{orchestrator.name}' needs a {needed.replace('_', ' ')} "
                    "(step images are built and pulled from it); the stack has none",
                    f"`python run.py --setup-stack gcp`, or {how} and add it to the stack",
                )
            )
    for ctype, comps in sorted(by_type.items()):
        for comp in comps:
            if ctype != "orchestrator" and _is_local(comp):
                findings.append(
                    Finding(
                        "error",
                        f"the {ctype.replace('_', ' ')} '{comp.name}' ({comp.flavor_name}) is local, but the "
                        f"orchestrator '{orchestrator.name}' runs remotely and cannot reach this machine",
                        "use a remote flavor (gcp artifact store gs://..., remote MLflow, Seldon on GKE): "
                        "`python run.py --setup-stack gcp`",
                    )
                )
    if not findings:
        findings.append(Finding("ok", "the remote orchestrator has a container registry and an image builder"))
    sa = getattr(_config(orchestrator), "workload_service_account", None)
    if orchestrator.flavor_name == "vertex" and not sa:
        findings.append(
            Finding(
                "warning",
                f"the Vertex orchestrator '{orchestrator.name}' has no workload_service_account: jobs run as "
                "the project's default compute service account",
                f"`zenml orchestrator update {orchestrator.name} --workload_service_account=SA_EMAIL`",
            )
        )
    return findings


def _check_secrets(components: list[ComponentResponse]) -> list[Finding]:
    from zenml.client import Client

    from stacks.registry import secret_reference

    findings = []
    for comp in components:
        for key, value in comp.configuration.items():
            ref = secret_reference(value)
            if ref is None:
                continue
            name, secret_key = ref
            try:
                secret = Client().get_secret(name, allow_partial_name_match=False, allow_partial_id_match=False)
            except KeyError:
                findings.append(
                    Finding(
                        "error",
                        f"{comp.type.value} '{comp.name}': {key} refers to the ZenML secret '{name}', which "
                        "does not exist",
                        f"`zenml secret create {name} --{secret_key}=...` (for the gcp stack: set the "
                        "ARXIV_GCP_MLFLOW_* variables and re-run `python run.py --setup-stack gcp`)",
                    )
                )
                continue
            if secret_key not in secret.secret_values:
                findings.append(
                    Finding(
                        "error",
                        f"{comp.type.value} '{comp.name}': {key} refers to '{secret_key}' of the secret '{name}', "
                        f"which has only {sorted(secret.secret_values)}",
                        f"`zenml secret update {name} --{secret_key}=...`",
                    )
                )
            else:
                findings.append(Finding("ok", f"{comp.type.value} '{comp.name}': secret '{name}.{secret_key}' exists"))
    return findings


def _tcp_probe(url: str) -> None:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    with socket.create_connection((parsed.hostname or "", port), timeout=MLFLOW_TIMEOUT_S):
        pass


def _mlflow_credentials(tracker: ComponentResponse) -> tuple[dict[str, str], str]:
    """The HTTP headers the tracker authenticates with (its secret references resolved), and where they come from."""
    import base64

    from zenml.client import Client

    from stacks.registry import secret_reference

    values: dict[str, str] = {}
    sources = set()
    for key in ("tracking_username", "tracking_password", "tracking_token"):
        value = tracker.configuration.get(key)
        if (ref := secret_reference(value)) is not None:
            secret = Client().get_secret(ref[0], allow_partial_name_match=False, allow_partial_id_match=False)
            value = secret.secret_values.get(ref[1])
            sources.add(f"the ZenML secret '{ref[0]}'")
        if value:
            values[key] = str(value)
    where = " and ".join(sorted(sources)) or f"the configuration of '{tracker.name}'"
    if values.get("tracking_token"):
        return {"Authorization": f"Bearer {values['tracking_token']}"}, where
    if values.get("tracking_username") and values.get("tracking_password"):
        pair = f"{values['tracking_username']}:{values['tracking_password']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}, where
    return {}, "no credentials"


def _http_status(url: str, timeout: float, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of a GET (an error status is returned; an unreachable server raises)."""
    from arxiv_classifier import localhost

    return localhost.request(url, headers=headers, timeout=timeout)[0]


def _mlflow_status(uri: str, headers: dict[str, str]) -> int:
    """HTTP status of an authenticated read of the tracking server (one experiment)."""
    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
    return _http_status(url, MLFLOW_API_TIMEOUT_S, headers)


def _check_mlflow(tracker: ComponentResponse, remote: bool) -> list[Finding]:
    uri = tracker.configuration.get("tracking_uri")
    if not uri:
        if remote:
            return [
                Finding(
                    "error",
                    f"the MLflow tracker '{tracker.name}' has no tracking_uri: it would log to a local store "
                    "the remote steps cannot reach",
                    f"`zenml experiment-tracker update {tracker.name} --tracking_uri=https://...` "
                    "(or `python run.py --setup-stack gcp`)",
                )
            ]
        return [Finding("ok", f"the MLflow tracker '{tracker.name}' logs to the local MLflow store")]
    if not str(uri).startswith(("http://", "https://")):
        return [Finding("ok", f"the MLflow tracker '{tracker.name}' logs to {uri}")]
    finished, _, error = _timed(lambda: _tcp_probe(str(uri)), MLFLOW_TIMEOUT_S + 0.5)
    if not finished or error is not None:
        why = "no answer within 2 s" if not finished else str(error)
        return [
            Finding(
                "error",
                f"the MLflow tracking server {uri} of the experiment tracker '{tracker.name}' is not reachable ({why})",
                "start it (the team stack's: `make team-up`), or check the URL, VPN or firewall; the steps log to "
                f"it while they run (`zenml experiment-tracker update {tracker.name} --tracking_uri=...`)",
            )
        ]
    try:
        headers, source = _mlflow_credentials(tracker)
    except KeyError as exc:  # a missing secret: _check_secrets says which
        return [Finding("ok", f"the MLflow tracking server {uri} accepts connections (credentials: {exc})")]
    finished, status, error = _timed(lambda: _mlflow_status(str(uri), headers), MLFLOW_API_TIMEOUT_S + 0.5)
    if finished and error is None and status == 200:
        return [Finding("ok", f"the MLflow tracking server {uri} accepts the credentials from {source}")]
    if finished and status in (401, 403):
        from stacks.registry import secret_reference

        secret = next(
            (ref[0] for v in tracker.configuration.values() if (ref := secret_reference(v)) is not None), None
        )
        fix = (
            f"`zenml secret update {secret} --username=... --password=...` (the team stack: `python run.py "
            "--setup-stack team` stores the generated ones again)"
            if secret
            else f"store the credentials in a ZenML secret and reference it from '{tracker.name}'"
        )
        return [
            Finding(
                "error",
                f"the MLflow tracking server {uri} refuses the credentials of the experiment tracker "
                f"'{tracker.name}' (HTTP {status}; they come from {source})",
                fix,
            )
        ]
    late = f"no answer within {MLFLOW_API_TIMEOUT_S:.0f} s"
    why = f"HTTP {status}" if finished and error is None else (late if not finished else str(error))
    return [
        Finding(
            "error",
            f"the MLflow tracking server {uri} accepts connections but does not answer its API ({why})",
            "check that the URL is the MLflow server's (not a proxy or another service) and its log",
        )
    ]


def _bucket_exists(bucket: str) -> bool:
    """Whether the bucket exists, asked through the active artifact store's own file system (gcsfs, its credentials)."""
    from zenml.client import Client

    store: Any = Client().active_stack.artifact_store
    return bool(store.filesystem.exists(bucket))  # a bucket-level check: its `exists` is bound to the store's path


def _check_artifact_store(component: ComponentResponse) -> list[Finding]:
    path = str(component.configuration.get("path", ""))
    if component.flavor_name != "gcp" or not path.startswith("gs://"):
        return []
    bucket = path.split("/", 3)[2]
    finished, exists, error = _timed(lambda: _bucket_exists(bucket), CREDENTIALS_TIMEOUT_S)
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    where = f" (the emulator at {emulator})" if emulator else ""
    if finished and error is None and exists:
        return [Finding("ok", f"the bucket gs://{bucket}{where} of the artifact store '{component.name}' exists")]
    if finished and error is None:
        return [
            Finding(
                "error",
                f"the bucket gs://{bucket}{where} of the artifact store '{component.name}' does not exist",
                f"create it (`gcloud storage buckets create gs://{bucket}`; the team stack's: `make team-up`)",
            )
        ]
    why = f"no answer within {CREDENTIALS_TIMEOUT_S:.0f} s" if not finished else str(error).splitlines()[0]
    return [
        Finding(
            "error",
            f"the bucket gs://{bucket}{where} of the artifact store '{component.name}' cannot be reached ({why})",
            "check the credentials and the network (the team stack: `make team-up`, then "
            '`eval "$(make -s team-env)"` in this shell so that clients find the emulated bucket)',
        )
    ]


def _google_default() -> tuple[Any, str | None]:
    import google.auth

    return google.auth.default()  # type: ignore[no-untyped-call]


def _check_gcp_credentials(components: list[ComponentResponse]) -> list[Finding]:
    projects = {str(p) for c in components if (p := c.configuration.get("project"))}
    finished, result, error = _timed(_google_default, CREDENTIALS_TIMEOUT_S)
    fix = (
        "`gcloud auth application-default login`, or GOOGLE_APPLICATION_CREDENTIALS=/path/key.json "
        "(a service account key), or run where a GCP service account is attached"
    )
    if not finished:
        return [
            Finding(
                "error",
                f"no Google credentials found within {CREDENTIALS_TIMEOUT_S:.0f} s (no application-default "
                "credentials; the GCE metadata server did not answer)",
                fix,
            )
        ]
    if error is not None:
        return [Finding("error", f"no Google credentials: {str(error).splitlines()[0]}", fix)]
    _credentials, project = result
    findings = [Finding("ok", f"Google application-default credentials found (project {project or 'not set'})")]
    if project and projects and project not in projects:
        findings.append(
            Finding(
                "warning",
                f"the credentials' project is {project}, the stack's components use {sorted(projects)}",
                "`gcloud config set project PROJECT` / `gcloud auth application-default set-quota-project PROJECT`",
            )
        )
    return findings


def _check_kube_context(deployer: ComponentResponse) -> list[Finding]:
    if deployer.connector is not None:
        return [Finding("ok", f"the Seldon deployer '{deployer.name}' uses a service connector")]
    wanted = deployer.configuration.get("kubernetes_context")
    fix = "`gcloud container clusters get-credentials CLUSTER --region REGION --project PROJECT`"
    try:
        from kubernetes import config as kube_config

        contexts, active = kube_config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG") or None)
    except Exception as exc:
        return [Finding("error", f"no kubeconfig for the Seldon deployer '{deployer.name}': {exc}", fix)]
    names = [c["name"] for c in contexts or []]
    if wanted and wanted not in names:
        return [
            Finding(
                "error",
                f"the kube context '{wanted}' of the Seldon deployer '{deployer.name}' is not in your kubeconfig "
                f"(contexts: {names or 'none'})",
                fix,
            )
        ]
    if not wanted:
        current = (active or {}).get("name")
        return [
            Finding(
                "warning",
                f"the Seldon deployer '{deployer.name}' names no kube context; it would use the current one "
                f"({current})",
                f"`zenml model-deployer update {deployer.name} --kubernetes_context=CONTEXT`",
            )
        ]
    return [Finding("ok", f"the kube context '{wanted}' of the Seldon deployer is in your kubeconfig")]


def _check_data_source(data_source: str, remote: bool) -> list[Finding]:
    if re.match(r"^(gs|hf|kaggle)://", data_source):
        return [Finding("ok", f"the data source {data_source} is readable where the steps run (not read now)")]
    if remote:
        return [
            Finding(
                "error",
                f"the data source {data_source} is on this machine; the remote steps cannot read it",
                "copy the data to the bucket (`gcloud storage cp -r ../shared/data gs://BUCKET/data`) and run with "
                "DATA_DIR=gs://BUCKET/data (or --data-source gs://...)",
            )
        ]
    if not Path(data_source).exists():
        return [
            Finding(
                "error",
                f"the data source {data_source} does not exist",
                "point DATA_DIR at the data folder, or pass --data-source PATH (or set data.source in the config)",
            )
        ]
    return [Finding("ok", f"the data source {data_source} exists on this machine, where the steps run")]


def diagnose(data_source: str | None = None) -> list[Finding]:
    """Check the active stack before anything is submitted.

    Args:
        data_source: the run's resolved `data.source`, to check that the orchestrator can read it
            (`run.py --doctor` passes the training config's).

    Returns:
        Findings: errors (a run would fail), warnings (it may), and what was checked and is fine.
    """
    from zenml.client import Client

    server = check_zenml_server()
    if server.severity == "error":
        return [server]  # nothing else can be read without it
    stack = Client().active_stack_model
    by_type: dict[str, list[ComponentResponse]] = {
        ctype.value: list(comps) for ctype, comps in stack.components.items() if comps
    }
    components = [c for comps in by_type.values() for c in comps]
    orchestrator = by_type["orchestrator"][0]
    remote = _is_remote(orchestrator)
    summary = ", ".join(f"{t} {c[0].name} ({c[0].flavor_name})" for t, c in sorted(by_type.items()))
    findings = [Finding("ok", f"active stack '{stack.name}': {summary}")]
    findings += _check_packages(components)
    findings += _check_server(remote, orchestrator.name)
    if remote:
        findings += _check_remote_requirements(by_type)
    findings += _check_secrets(components)
    for tracker in by_type.get("experiment_tracker", []):
        if tracker.flavor_name == "mlflow":
            findings += _check_mlflow(tracker, remote)
    if any(c.flavor_name in GCP_FLAVORS for c in components):
        findings += _check_gcp_credentials(components)
        if not any(f.severity == "error" and "Google credentials" in f.message for f in findings):
            for store in by_type.get("artifact_store", []):
                findings += _check_artifact_store(store)
    for deployer in by_type.get("model_deployer", []):
        if deployer.flavor_name == "seldon":
            findings += _check_kube_context(deployer)
    if data_source:
        findings += _check_data_source(data_source, remote)
    return findings


def preflight(check_tracker: bool = True) -> list[Finding]:
    """The errors a run of the active stack would meet in its first step, found before it starts.

    What `select_stack_for_run` checks for every pipeline, in a few seconds at most: the ZenML server
    answers, the MLflow tracking server answers and accepts the stack's credentials (when the steps run
    here), the artifact store's bucket exists. (`diagnose` checks more: packages, credentials, data,
    Kubernetes.)

    Returns:
        The error findings; empty when the run can start.
    """
    from zenml.client import Client

    server = check_zenml_server()
    if server.severity == "error":
        return [server]
    stack = Client().active_stack_model
    orchestrators = [c for t, cs in stack.components.items() if t.value == "orchestrator" for c in cs]
    # The steps log to MLflow from where they run: from here only with a local orchestrator.
    check_tracker = check_tracker and not any(_is_remote(o) for o in orchestrators)
    findings: list[Finding] = []
    for ctype, comps in stack.components.items():
        for comp in comps:
            if ctype.value == "experiment_tracker" and comp.flavor_name == "mlflow" and check_tracker:
                findings += _check_mlflow(comp, remote=False)
            elif ctype.value == "artifact_store":
                findings += _check_artifact_store(comp)
    return [f for f in findings if f.severity == "error"]


def print_report(findings: list[Finding], stream: TextIO | None = None) -> int:
    """Print the findings, errors first. Returns the exit code: 1 when there is an error, else 0."""
    out = stream or sys.stdout
    order = {"error": 0, "warning": 1, "ok": 2}
    marks = {"error": "[error]", "warning": "[warn] ", "ok": "[ok]   "}
    for finding in sorted(findings, key=lambda f: order[f.severity]):
        print(f"{marks[finding.severity]} {finding.message}", file=out)
        if finding.fix and finding.severity != "ok":
            print(f"        fix: {finding.fix}", file=out)
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    if errors:
        print(f"\n{errors} error(s), {warnings} warning(s): fix the errors before running a pipeline.", file=out)
    else:
        print(f"\nNo errors ({warnings} warning(s)): the active stack is ready.", file=out)
    return 1 if errors else 0


def main(data_source: str | None = None) -> int:
    """`python run.py --doctor`: print the pre-flight report of the active stack; the exit code."""
    return print_report(diagnose(data_source))
