#!/usr/bin/env python
"""Endpoint latency and throughput of the local Seldon microservice vs. the same model in-process.

The server is started and stopped by the local deployer's own service (`LocalSeldonDeploymentService`:
the launcher, command line and environment of a deployment); the load comes from locust
(`benchmarks/locustfile.py`, headless, CSV output). It measures deploy-to-ready time, single-paper
latency (one locust user), throughput at batch 1, 8 and 32 (`--clients` users), the server's RSS, and
then, with the server stopped so both never share the cores, the same model in this process (torch
threads = the server's total, capped at the CPU count) on the same papers for the same duration. It
prints every endpoint figure with its ratio to the in-process one and writes JSON to `--output`
(locust's CSV files beside it). Run it on an idle machine: other load hurts the endpoint more.

    .venv/bin/python benchmarks/endpoint_latency.py --model-dir outputs/model --duration 20 --clients 4
    .venv/bin/python benchmarks/endpoint_latency.py --quantize --duration 10   # untrained MiniLM head

Without `--model-dir` it builds MiniLM with an untrained head for ten labels, offline: the same compute
as a trained one, so the same speed; only the predicted categories are meaningless.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
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
from arxiv_classifier.config import CurrentDataConfig, ServingConfig, expand_path_vars
from arxiv_classifier.constants import OFFLINE_MINILM_ID
from arxiv_classifier.data import join_text
from arxiv_classifier.endpoint import predict
from arxiv_classifier.modeling import build_classifier
from arxiv_classifier.papers import load_papers
from deployers.local_seldon.service import LocalSeldonDeploymentConfig, LocalSeldonDeploymentService
from deployers.serving_env import ensure_serving_env

BENCHMARKS = Path(__file__).resolve().parent
LOCUSTFILE = BENCHMARKS / "locustfile.py"
DEFAULT_OUTPUT = BENCHMARKS.parent / "outputs" / "benchmarks" / "endpoint_latency.json"
BATCH_SIZES = (1, 8, 32)
LABELS = ["cs.IT", "cs.AI", "cs.IR", "cs.CL", "cs.LG", "cs.RO", "stat.ML", "cs.CV", "cs.GR", "astro-ph"]
WARMUP_REQUESTS = 10


def read_papers(source: str, n: int) -> list[dict[str, str]]:
    """`n` real papers as the endpoint receives them ({"title", "summary"}, feed preamble stripped)."""
    frame = load_papers(CurrentDataConfig.model_validate({"source": source, "max_rows": n}))
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
        threads=args.threads,
        torch_threads=args.torch_threads or None,
        quantize=args.quantize,
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
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 120)
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
    return {"deploy_to_ready_s": ready_s, "single": single, "throughput": throughput, "memory": memory}


def measure_in_process(
    args: argparse.Namespace, model_dir: Path, papers: list[dict[str, str]], threads: int
) -> dict[str, Any]:
    torch.set_num_threads(threads)
    clf = TextClassifier.load(model_dir)
    if args.quantize:  # the same int8 copy the server makes with `quantize`
        clf.model = torch.ao.quantization.quantize_dynamic(clf.model, {torch.nn.Linear}, dtype=torch.qint8)
    texts = [join_text([p["title"], p["summary"]]) for p in papers]  # what the server feeds its model

    def timed(batch: int) -> tuple[list[float], float]:
        chunks = [texts[i : i + batch] for i in range(0, len(texts) - batch + 1, batch)]
        clf.predict_proba(chunks[0], batch_size=batch, device="cpu")  # warm-up
        times: list[float] = []
        start = time.perf_counter()
        while time.perf_counter() - start < args.duration:
            t0 = time.perf_counter()
            clf.predict_proba(chunks[len(times) % len(chunks)], batch_size=batch, device="cpu")
            times.append((time.perf_counter() - t0) * 1000)
        return times, time.perf_counter() - start

    single = dict(zip(("p50", "p90", "p99"), np.percentile(timed(1)[0], [50, 90, 99]).tolist()))
    rows = []
    for batch in BATCH_SIZES:
        times, elapsed = timed(batch)
        rows.append({"batch": batch, "papers_per_s": len(times) * batch / elapsed, "batches": len(times)})
    return {"torch_threads": torch.get_num_threads(), "latency_ms": single, "throughput": rows}


def render(results: dict[str, Any]) -> str:
    s, endpoint, base = results["settings"], results["endpoint"], results["in_process"]
    lat, ip = endpoint["single"]["latency_ms"], base["latency_ms"]
    lines = [
        f"Endpoint vs in-process: workers={s['workers']} threads={s['threads']} torch_threads={s['torch_threads']} "
        f"quantize={s['quantize']} clients={s['clients']} duration={s['duration']}s papers={s['papers_loaded']} "
        f"cpus={s['cpus']} (load average at start {s['loadavg_at_start']:.2f}); in-process torch threads "
        f"{base['torch_threads']}",
        f"Model: {results['model_dir']}",
        f"Deploy-to-ready: {endpoint['deploy_to_ready_s']:.2f} s",
        "",
        f"{'':<30} | {'endpoint':>9} | {'in-process':>10} | {'ratio':>6}",
        "-" * 64,
    ]
    for p in ("p50", "p90", "p99"):
        lines.append(f"{'single paper ' + p + ' ms':<30} | {lat[p]:>9.1f} | {ip[p]:>10.1f} | {lat[p] / ip[p]:>6.2f}")
    for row in results["throughput"]:
        e, i = row["endpoint"], row["in_process"]
        lines.append(
            f"{'batch ' + str(row['batch']) + ' papers/s':<30} | {e['papers_per_s']:>9.1f} | "
            f"{i['papers_per_s']:>10.1f} | {row['ratio']:>6.2f}"
        )
    lines.append("(latency ratio: lower is better; throughput ratio: higher is better)")
    failures = sum(t["failures"] for t in endpoint["throughput"]) + endpoint["single"]["failures"]
    lines.append(f"Failed requests: {failures}")
    lines.append("Server memory after the load:")
    for m in endpoint["memory"]:
        lines.append(f"  pid {m['pid']:>7}  {m['role']:<15} RSS {m['rss_mb']:>7.1f} MiB  USS {m['uss_mb']:>7.1f} MiB")
    rss, uss = (sum(m[k] for m in endpoint["memory"]) for k in ("rss_mb", "uss_mb"))
    lines.append(f"  total RSS {rss:.1f} MiB, USS {uss:.1f} MiB (RSS counts pages shared between forks per process)")
    return "\n".join(lines)


def positive(text: str) -> int:
    if int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return int(text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    serving = ServingConfig.model_validate({})  # the project's serving defaults
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a TextClassifier directory (default: untrained MiniLM head)")
    parser.add_argument(
        "--papers", default=CurrentDataConfig.model_validate({}).source, help="papers source (load_papers)"
    )
    parser.add_argument("--n-papers", type=positive, default=512, help="real papers to cycle through")
    parser.add_argument("--duration", type=positive, default=20, help="seconds of each test")
    parser.add_argument("--clients", type=positive, default=4, help="concurrent locust users in the throughput tests")
    parser.add_argument("--workers", type=positive, default=serving.workers, help="gunicorn workers")
    parser.add_argument("--threads", type=positive, default=serving.threads, help="threads per gunicorn worker")
    parser.add_argument(
        "--torch-threads", type=int, default=serving.torch_threads or 0, help="per worker; 0: torch's choice"
    )
    parser.add_argument("--quantize", action="store_true", help="serve (and baseline) the int8 quantised model")
    parser.add_argument("--ready-timeout", type=float, default=serving.ready_timeout, help="seconds to get ready")
    parser.add_argument("--serving-python", help="python of the serving venv (default: ensure_serving_env())")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results (locust CSVs beside it)")
    args = parser.parse_args(argv)
    if args.torch_threads < 0:
        parser.error("--torch-threads must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = os.cpu_count() or 1
    loadavg = os.getloadavg()[0]
    if loadavg > 0.5:
        print(f"warning: the machine is not idle (load average {loadavg:.2f}); the ratios will be noisy", flush=True)
    source = expand_path_vars(args.papers)
    print(f"Reading {args.n_papers} papers from {source} ...", flush=True)
    papers = read_papers(source, args.n_papers)

    with tempfile.TemporaryDirectory(prefix="endpoint-bench-") as tmp:
        model_dir = args.model_dir.resolve() if args.model_dir else Path(tmp) / "model"
        if not args.model_dir:
            print(f"Building {OFFLINE_MINILM_ID} with an untrained head (10 labels, 128 tokens) ...", flush=True)
            build_classifier(OFFLINE_MINILM_ID, labels=LABELS, max_length=128, seed=0).save(model_dir)
        endpoint = measure_endpoint(args, model_dir, papers, Path(tmp))
        threads = min(args.workers * (args.torch_threads or cpus), cpus)
        print(f"In-process baseline ({threads} torch threads, server stopped) ...", flush=True)
        base = measure_in_process(args, model_dir, papers, threads)

    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    settings.update(papers_loaded=len(papers), papers_source=source, cpus=cpus, loadavg_at_start=loadavg)
    results = {
        "settings": settings,
        "model_dir": str(args.model_dir or f"untrained {OFFLINE_MINILM_ID} head"),
        "endpoint": endpoint,
        "in_process": base,
        "throughput": [
            {"batch": e["batch"], "endpoint": e, "in_process": i, "ratio": e["papers_per_s"] / i["papers_per_s"]}
            for e, i in zip(endpoint["throughput"], base["throughput"])
        ],
    }
    print()
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
