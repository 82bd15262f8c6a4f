#!/usr/bin/env python
"""Serving speed, one run: PyTorch fp32, ONNX fp32 and ONNX int8 in-process, and the endpoint serving int8.

The classifier directory is exported exactly as the training pipeline exports it (fp32 ONNX, then int8
with ONNX Runtime's dynamic quantisation, per channel). On the same papers and with the same number
of intra-op threads (`--threads`, default 1) it measures, in this process and one format at a time:
single-paper latency (p50/p99, papers sent one by one) and throughput at batch 1, 8 and 32; then the
local deployer's own service starts the Seldon microservice serving `--serve-format` (default
onnx-int8) from the torch-free serving environment, and locust (`benchmarks/locustfile.py`, headless)
measures the same figures over HTTP (single-paper latency with one user, throughput with `--clients`
users), with deploy-to-ready time and the server's memory. Every figure is printed with its ratio to
in-process PyTorch fp32, and the endpoint's also to the same format in-process. Writes JSON to
`--output` (locust's CSV files beside it). Run it on an idle machine: other load hurts the endpoint more.

    .venv/bin/python benchmarks/endpoint_latency.py --model-dir <classifier dir> --duration 20 --clients 4

Without `--model-dir` it builds MiniLM with an untrained head for ten labels, offline: the same compute
as a trained one, so the same speed; only the predicted categories are meaningless.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess  # nosec B404  # argv lists only, no shell
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # as the deployer's environment has it

import numpy as np
import psutil
import torch

from arxiv_classifier import localhost
from arxiv_classifier.classifier import TextClassifier
from arxiv_classifier.config import CurrentDataConfig, ExportConfig, ServingConfig, expand_path_vars
from arxiv_classifier.constants import OFFLINE_MINILM_ID
from arxiv_classifier.data import join_text
from arxiv_classifier.endpoint import predict
from arxiv_classifier.modeling import batched_forward, build_classifier, softmax
from arxiv_classifier.onnx_export import export_onnx, load_runner, quantize_int8
from arxiv_classifier.papers import load_papers
from arxiv_classifier.serving_format import FP32, INT8, TORCH
from deployers.local_seldon.service import LocalSeldonDeploymentConfig, LocalSeldonDeploymentService
from deployers.serving_env import ensure_serving_env

BENCHMARKS = Path(__file__).resolve().parent
LOCUSTFILE = BENCHMARKS / "locustfile.py"
DEFAULT_OUTPUT = BENCHMARKS.parent / "outputs" / "benchmarks" / "endpoint_latency.json"
BATCH_SIZES = (1, 8, 32)
LABELS = ["cs.IT", "cs.AI", "cs.IR", "cs.CL", "cs.LG", "cs.RO", "stat.ML", "cs.CV", "cs.GR", "astro-ph"]
WARMUP_REQUESTS = 10
FORMATS = (TORCH, FP32, INT8)


def read_papers(source: str, n: int, start: str | None) -> list[dict[str, str]]:
    """`n` real papers as the endpoint receives them ({"title", "summary"}), dated from `start` on when given."""
    fields: dict[str, Any] = {"source": source, "max_rows": n, "strip_pattern": None}
    if start:
        fields.update(date_field="published_date", start=start)
    frame = load_papers(CurrentDataConfig.model_validate(fields))
    papers = [{"title": str(t), "summary": str(s)} for t, s in zip(frame["title"], frame["summary"])]
    if len(papers) < max(BATCH_SIZES):
        raise SystemExit(f"{source} gave {len(papers)} papers; need at least {max(BATCH_SIZES)}")
    return papers


def start_server(
    args: argparse.Namespace, model_dir: Path, runtime: Path
) -> tuple[LocalSeldonDeploymentService, float]:
    """Start a deployment's service for `model_dir`; return it and its deploy-to-ready seconds."""
    config = LocalSeldonDeploymentConfig(
        model_dir=str(model_dir),
        model_name="endpoint-benchmark",
        model_version="benchmark",
        serving_python=args.serving_python or str(ensure_serving_env()),
        workers=args.workers,
        threads=1,
        inference_threads=args.threads,
        format=args.serve_format,
        root_runtime_path=str(runtime),
    )
    service = LocalSeldonDeploymentService(uuid=uuid.uuid4(), config=config)
    started = time.perf_counter()
    service.start(timeout=0)
    try:
        localhost.wait_until(
            service.answers_as_itself,
            args.ready_timeout,
            "the model server",
            interval=0.05,
            give_up=lambda: None if service.status.pid else "the server process is gone",
        )
    except TimeoutError as error:
        log = "\n".join(line.rstrip("\n") for line in service.get_logs(tail=25))
        service.stop(timeout=30, force=True)
        raise SystemExit(f"{error}\nLast log lines:\n{log}") from error
    return service, time.perf_counter() - started


def run_locust(
    url: str, papers_file: Path, batch: int, users: int, args: argparse.Namespace, name: str
) -> dict[str, Any]:
    """One headless locust test against `url`; its aggregated figures from locust's stats CSV.

    Locust keeps response times above 100 ms to two significant digits, so its percentiles are that coarse.
    """
    prefix = args.output.parent / f"{args.output.stem}_locust" / name
    prefix.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
               "-u", str(users), "-r", str(users), "-t", f"{args.duration}s", "--stop-timeout", "30",
               "--host", url, "--csv", str(prefix), "--loglevel", "WARNING",
               "--papers-file", str(papers_file), "--batch", str(batch)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 120)  # nosec B603  # argv list, no shell
    stats_file = prefix.with_name(prefix.name + "_stats.csv")
    if not stats_file.is_file():
        raise SystemExit(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")
    with stats_file.open() as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    requests, failures = int(row["Request Count"]), int(row["Failure Count"])
    if failures:
        print(f"  warning: {failures} of {requests} requests failed; see {prefix}_failures.csv", flush=True)
    latency = {p: float(row[f"{p[1:]}%"]) for p in ("p50", "p90", "p99")}
    papers_per_s = float(row["Requests/s"]) * batch
    return dict(batch=batch, users=users, requests=requests, failures=failures, papers_per_s=papers_per_s,
                latency_ms=latency, csv=str(stats_file))  # fmt: skip


def server_memory(pid: int | None, http_port: int | None) -> list[dict[str, Any]]:
    """RSS and USS of the server's processes (the master and everything it started)."""
    if pid is None:
        return []
    try:
        master = psutil.Process(pid)
        processes = [master, *master.children(recursive=True)]
    except psutil.Error:
        return []
    rows = []
    for proc in processes:
        try:
            ports = {c.laddr.port for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
            role = "master" if proc.pid == pid else "REST worker" if http_port in ports else "metrics/helper"
            info = proc.memory_full_info()
            rows.append({"pid": proc.pid, "role": role, "rss_mb": info.rss / 2**20, "uss_mb": info.uss / 2**20})
        except psutil.Error:
            continue
    return rows


def measure_endpoint(
    args: argparse.Namespace, model_dir: Path, papers: list[dict[str, str]], runtime: Path
) -> dict[str, Any]:
    papers_file = runtime / "papers.json"
    papers_file.write_text(json.dumps(papers))
    print("Starting the model server with the local deployer's service ...", flush=True)
    service, ready_s = start_server(args, model_dir, runtime)
    try:
        url = str(service.endpoint.base_url)
        print(f"  ready after {ready_s:.2f} s at {url}", flush=True)
        for i in range(WARMUP_REQUESTS):
            predict(url, papers[i : i + 1])
        print("Single-request latency (1 locust user, 1 paper per request) ...", flush=True)
        single = run_locust(url, papers_file, 1, 1, args, "single")
        throughput = []
        for batch in BATCH_SIZES:
            print(f"Endpoint throughput, batch {batch}, {args.clients} locust users ...", flush=True)
            throughput.append(run_locust(url, papers_file, batch, args.clients, args, f"batch{batch}"))
        memory = server_memory(service.status.pid, service.endpoint.status.port)
    finally:
        service.stop(timeout=30)  # SIGTERM, then SIGKILL for whatever of its process tree outlives it
    floor = measure_floor(args, papers_file, runtime)
    return {"deploy_to_ready_s": ready_s, "single": single, "throughput": throughput, "memory": memory, "floor": floor}


#: A Seldon model that computes nothing: the microservice's own cost per request (HTTP, gunicorn, Flask,
#: Seldon's request handling and metrics, JSON both ways), written to the floor server's PYTHONPATH.
FLOOR_MODEL = """
class Floor:
    def predict_raw(self, request):
        papers = request.get("jsonData") or []
        return {"jsonData": {"predictions": [{"category": "none", "confidence": 1.0} for _ in papers]}}
"""


def measure_floor(args: argparse.Namespace, papers_file: Path, runtime: Path) -> dict[str, Any]:
    """The same microservice, workers, threads and locust runs, serving `Floor`: what no model can go below."""
    folder = runtime / "floor"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "floor_model.py").write_text(FLOOR_MODEL)
    port, metrics_port = localhost.free_port(), localhost.free_port()
    python = args.serving_python or str(ensure_serving_env())
    launcher = BENCHMARKS.parent / "serving" / "launch_local.py"
    env = {**os.environ, "PYTHONPATH": str(folder)}
    pid_file, log_file = folder / "floor.pid", folder / "floor.log"
    subprocess.run(  # nosec B603  # argv list, no shell
        [python, str(launcher), "--host", localhost.LOOPBACK, "--pid-file", str(pid_file), "--log-file",
         str(log_file), "--daemon", "--", "floor_model.Floor", "--service-type", "MODEL", "--http-port", str(port),
         "--metrics-port", str(metrics_port), "--grpc-workers", "0", "--workers", str(args.workers),
         "--threads", "1"],
        env=env, check=True, timeout=60,
    )  # fmt: skip
    pid = int(pid_file.read_text().strip())
    url = f"http://{localhost.LOOPBACK}:{port}"
    try:
        localhost.wait_until(lambda: localhost.port_in_use(port), args.ready_timeout, "the floor server")
        papers = json.loads(papers_file.read_text())
        for i in range(WARMUP_REQUESTS):
            predict(url, papers[i : i + 1])
        print("Microservice floor (a model that computes nothing), 1 locust user ...", flush=True)
        single = run_locust(url, papers_file, 1, 1, args, "floor_single")
        print(f"Microservice floor, batch 32, {args.clients} locust users ...", flush=True)
        batch32 = run_locust(url, papers_file, 32, args.clients, args, "floor_batch32")
    finally:
        localhost.kill_process_tree(pid)
    return {"single": single, "batch32": batch32}


def in_process_scorer(fmt: str, model_dir: Path, onnx_dirs: dict[str, Path], threads: int) -> Any:
    """texts -> probabilities, for one format, as the server computes them (tokenise, forward, softmax)."""
    if fmt == TORCH:
        torch.set_num_threads(threads)
        clf = TextClassifier.load(model_dir)
        return lambda texts: softmax(batched_forward(clf.model, clf.tokenizer, texts, clf.max_length, len(texts))[0])
    runner = load_runner(onnx_dirs[fmt], threads=threads)
    return lambda texts: softmax(runner.logits(texts))


def measure_in_process(args: argparse.Namespace, score: Any, papers: list[dict[str, str]]) -> dict[str, Any]:
    texts = [join_text([p["title"], p["summary"]]) for p in papers]  # what the server feeds its model
    for text in texts[:WARMUP_REQUESTS]:
        score([text])
    singles = []
    for text in texts[: args.latency_papers]:
        t0 = time.perf_counter()
        score([text])
        singles.append((time.perf_counter() - t0) * 1000)

    def throughput(batch: int) -> dict[str, Any]:
        chunks = [texts[i : i + batch] for i in range(0, len(texts) - batch + 1, batch)]
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < args.duration:
            score(chunks[n % len(chunks)])
            n += 1
        return {"batch": batch, "papers_per_s": n * batch / (time.perf_counter() - start), "batches": n}

    latency = dict(zip(("p50", "p90", "p99"), np.percentile(singles, [50, 90, 99]).tolist()))
    return {"latency_ms": latency, "throughput": [throughput(b) for b in BATCH_SIZES], "papers_timed": len(singles)}


def render(results: dict[str, Any]) -> str:
    s, endpoint, local = results["settings"], results["endpoint"], results["in_process"]
    base = local[TORCH]
    lines = [
        f"CPU: {s['cpu_model']} ({s['cpus']} cores); intra-op threads {s['threads']}; endpoint: 1 gunicorn worker x "
        f"1 thread serving {s['serve_format']}, {s['clients']} locust users in the throughput tests; "
        f"{s['papers_loaded']} papers; {s['duration']} s per throughput test; load average at start "
        f"{s['loadavg_at_start']:.2f}",
        f"Model: {results['model_dir']}",
        f"Endpoint deploy-to-ready: {endpoint['deploy_to_ready_s']:.2f} s",
        "",
        "| | p50 ms | p99 ms | batch 1 papers/s | batch 8 | batch 32 | p50 / PyTorch | batch 32 / PyTorch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [(f"in-process {fmt}", local[fmt]["latency_ms"], local[fmt]["throughput"]) for fmt in FORMATS]
    rows.append((f"endpoint {s['serve_format']}", endpoint["single"]["latency_ms"], endpoint["throughput"]))
    for name, lat, tput in rows:
        rate = [t["papers_per_s"] for t in tput]
        lines.append(
            f"| {name} | {lat['p50']:.1f} | {lat['p99']:.1f} | {rate[0]:.1f} | {rate[1]:.1f} | {rate[2]:.1f} | "
            f"{lat['p50'] / base['latency_ms']['p50']:.2f} | {rate[2] / base['throughput'][2]['papers_per_s']:.2f}x |"
        )
    same = local[s["serve_format"]]
    ratios = [e["papers_per_s"] / i["papers_per_s"] for e, i in zip(endpoint["throughput"], same["throughput"])]
    lines += [
        "",
        f"endpoint / in-process {s['serve_format']} throughput at batch 1 / 8 / 32: "
        + " / ".join(f"{r:.2f}" for r in ratios)
        + f"; single-paper p50 {endpoint['single']['latency_ms']['p50']:.1f} vs {same['latency_ms']['p50']:.1f} ms",
    ]
    floor = endpoint.get("floor")
    if floor:
        overhead = floor["single"]["latency_ms"]["p50"]
        lines.append(
            f"Microservice floor (the same server, a model that computes nothing): p50 {overhead:.1f} ms, p99 "
            f"{floor['single']['latency_ms']['p99']:.1f} ms for one paper; batch 32 with {s['clients']} users "
            f"{floor['batch32']['papers_per_s']:.0f} papers/s. With this fixed cost c, endpoint / in-process "
            f"latency >= 0.9 needs an in-process p50 of at least 9c = {9 * overhead:.0f} ms."
        )
    failures = sum(t["failures"] for t in endpoint["throughput"]) + endpoint["single"]["failures"]
    lines.append(f"Failed requests: {failures}")
    lines.append("Server memory after the load:")
    for m in endpoint["memory"]:
        lines.append(f"  pid {m['pid']:>7}  {m['role']:<15} RSS {m['rss_mb']:>7.1f} MiB  USS {m['uss_mb']:>7.1f} MiB")
    rss, uss = (sum(m[k] for m in endpoint["memory"]) for k in ("rss_mb", "uss_mb"))
    lines.append(f"  total RSS {rss:.1f} MiB, USS {uss:.1f} MiB (RSS counts pages shared between forks per process)")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def positive(text: str) -> int:
    if int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return int(text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    serving = ServingConfig.model_validate({})  # the project's serving defaults
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a TextClassifier directory (default: untrained MiniLM head)")
    parser.add_argument("--papers", default="${DATA_DIR}/arxiv/papers.csv.gz", help="papers source (load_papers)")
    parser.add_argument("--start", default="2026-06-22", help="papers dated from this day on ('' for any)")
    parser.add_argument("--n-papers", type=positive, default=1000, help="real papers to cycle through")
    parser.add_argument("--latency-papers", type=positive, default=300, help="papers timed one by one in-process")
    parser.add_argument("--duration", type=positive, default=20, help="seconds of each throughput test")
    parser.add_argument("--clients", type=positive, default=4, help="concurrent locust users in the throughput tests")
    parser.add_argument("--workers", type=positive, default=serving.workers, help="gunicorn workers")
    parser.add_argument(
        "--threads", type=positive, default=serving.inference_threads or 1, help="intra-op threads, everywhere"
    )
    parser.add_argument("--serve-format", choices=[INT8, FP32], default=INT8, help="what the endpoint serves")
    parser.add_argument("--ready-timeout", type=float, default=serving.ready_timeout, help="seconds to get ready")
    parser.add_argument("--serving-python", help="python of the serving venv (default: ensure_serving_env())")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results (locust CSVs beside it)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = os.cpu_count() or 1
    loadavg = os.getloadavg()[0]
    if loadavg > 0.5:
        print(f"warning: the machine is not idle (load average {loadavg:.2f}); the ratios will be noisy", flush=True)
    source = expand_path_vars(args.papers)
    print(f"Reading {args.n_papers} papers from {source} ...", flush=True)
    papers = read_papers(source, args.n_papers, args.start or None)

    with tempfile.TemporaryDirectory(prefix="endpoint-bench-") as tmp:
        model_dir = args.model_dir.resolve() if args.model_dir else Path(tmp) / "model"
        if not args.model_dir:
            print(f"Building {OFFLINE_MINILM_ID} with an untrained head (10 labels, 128 tokens) ...", flush=True)
            build_classifier(OFFLINE_MINILM_ID, labels=LABELS, max_length=128, seed=0).save(model_dir)
        print("Exporting to ONNX (fp32, then int8 per channel, as the training pipeline does) ...", flush=True)
        fp32 = export_onnx(TextClassifier.load(model_dir), Path(tmp) / FP32)
        onnx_dirs = {FP32: fp32, INT8: quantize_int8(fp32, Path(tmp) / INT8, per_channel=ExportConfig().per_channel)}
        local = {}
        for fmt in FORMATS:
            print(f"In-process {fmt}, {args.threads} thread(s) ...", flush=True)
            local[fmt] = measure_in_process(args, in_process_scorer(fmt, model_dir, onnx_dirs, args.threads), papers)
        endpoint = measure_endpoint(args, onnx_dirs[args.serve_format], papers, Path(tmp))

    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    settings.update(
        papers_loaded=len(papers), papers_source=source, cpus=cpus, loadavg_at_start=loadavg, cpu_model=cpu_model()
    )
    results = {
        "settings": settings,
        "model_dir": str(args.model_dir or f"untrained {OFFLINE_MINILM_ID} head"),
        "endpoint": endpoint,
        "in_process": local,
    }
    print()
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
