#!/usr/bin/env python
"""Endpoint latency and throughput of the local Seldon microservice vs. the same model in-process.

Launches `serving/launch_local.py` with the serving venv's python exactly as the local deployer does
(`deployers/local_seldon/service.py::LocalSeldonDeploymentService._get_daemon_cmd`: same command line,
same Seldon parameters, same environment; loopback, free ports), then measures, in one run:

1. deploy-to-ready: seconds from starting the launcher to the first `GET /health/status` 200;
2. single-request latency: one client, sequential POSTs of 1 real paper each (10 warm-up requests,
   then `--latency-requests`, bounded by `--duration`): p50 / p90 / p99 in ms;
3. endpoint throughput at batch 1, 8 and 32 (papers/s), `--clients` concurrent loopback clients (threads,
   one `http.client` connection each, reopened whenever the server closes it, as gunicorn's sync worker
   does after every response; request bodies JSON-encoded before the clock starts), each test bounded by
   `--duration` seconds and `--max-requests` requests;
4. RSS (and USS) of every server process: gunicorn master, REST workers, metrics server, Seldon's helper;
5. the in-process baseline: the same model directory loaded here (`TextClassifier.load`), torch threads =
   the server's total (workers x torch threads, at most the CPU count), `predict_proba` on the same papers at
   batch 1, 8 and 32 with the same bounds, plus single-paper latency. It runs after the server is stopped,
   never concurrently with the endpoint load (both would share the same cores).

Goals: single-request p50 <= 25 ms, and endpoint / in-process throughput >= 0.8 at every batch size.
Results are printed as a table and written as JSON to `--output`.

Run it on an otherwise IDLE machine: server and clients share the CPU cores, so any other load (tests,
builds) lowers the endpoint numbers more than the in-process ones and makes the ratios meaningless. The
load average at start is recorded in the JSON and a warning is printed when the machine looks busy.

    .venv/bin/python benchmarks/endpoint_latency.py                          # untrained MiniLM head, 20 s tests
    .venv/bin/python benchmarks/endpoint_latency.py --model-dir outputs/model --duration 30 --clients 4
    .venv/bin/python benchmarks/endpoint_latency.py --workers 2 --threads 1 --torch-threads 1 --duration 5

Without `--model-dir` it builds `sentence-transformers/all-MiniLM-L6-v2` with a fresh (untrained) head for
ten arXiv labels, offline: an untrained head costs exactly the same compute as a trained one, so latency
and throughput are the same; only the predicted categories are meaningless.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # as the server (deployer env) has it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import psutil

from arxiv_classifier.config import CurrentDataConfig, expand_path_vars
from arxiv_classifier.constants import OFFLINE_MINILM_ID
from arxiv_classifier.drift import load_papers

REPO_ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZES = (1, 8, 32)
GOAL_P50_MS = 25.0
GOAL_RATIO = 0.8
LABELS = ["cs.IT", "cs.AI", "cs.IR", "cs.CL", "cs.LG", "cs.RO", "stat.ML", "cs.CV", "cs.GR", "astro-ph"]
DEFAULT_OUTPUT = REPO_ROOT / "outputs" / "benchmarks" / "endpoint_latency.json"
LATENCY_WARMUP = 10
THROUGHPUT_WARMUP = 2  # requests (endpoint) / batches (in-process) before each timed test


# --------------------------------------------------------------------------------------------
# Papers and model
# --------------------------------------------------------------------------------------------


def read_papers(source: str, n: int) -> list[dict[str, str]]:
    """`n` real papers as the endpoint receives them ({"title", "summary"}, feed preamble stripped)."""
    frame = load_papers(CurrentDataConfig(source=source, max_rows=n))
    papers = [{"title": str(t), "summary": str(s)} for t, s in zip(frame["title"], frame["summary"])]
    if len(papers) < max(BATCH_SIZES):
        raise SystemExit(f"{source} gave {len(papers)} papers; need at least {max(BATCH_SIZES)}")
    return papers


def build_untrained_model(directory: Path) -> None:
    from arxiv_classifier.modeling import build_classifier

    build_classifier(OFFLINE_MINILM_ID, labels=LABELS, max_length=128, seed=0).save(directory)


def windows(papers: Sequence[dict[str, str]], batch: int) -> list[list[dict[str, str]]]:
    """Consecutive, non-overlapping batches of `batch` papers (the same ones for endpoint and in-process)."""
    return [list(papers[i : i + batch]) for i in range(0, len(papers) - batch + 1, batch)]


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values_ms, dtype=float)
    if not len(a):
        return {"n": 0}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"n": len(a), "p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(a.mean())}


# --------------------------------------------------------------------------------------------
# The server: launched as the deployer launches it
# --------------------------------------------------------------------------------------------


def free_port(exclude: Sequence[int] = ()) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port


class Server:
    """One microservice daemon; `stop` ends every process of its session (it setsid's into its own)."""

    def __init__(self, args: argparse.Namespace, model_dir: Path, runtime: Path) -> None:
        from deployers.local_seldon.service import LocalSeldonDeploymentConfig
        from deployers.serving_env import ensure_serving_env

        python = args.serving_python or str(ensure_serving_env())
        self.config = LocalSeldonDeploymentConfig(
            model_dir=str(model_dir),
            model_name="endpoint-benchmark",
            model_version="benchmark",
            serving_python=python,
            host="127.0.0.1",
            workers=args.workers,
            threads=args.threads,
            torch_threads=args.torch_threads or None,
            quantize=args.quantize,
        )
        self.port = free_port()
        self.metrics_port = free_port(exclude=[self.port])
        self.pid_file = runtime / "service.pid"
        self.log_file = runtime / "service.log"
        self.log_file.touch()
        # Exactly the command the local deployer runs (LocalSeldonDeploymentService._get_daemon_cmd).
        self.command, self.env = self.config.launch_command(
            port=self.port, metrics_port=self.metrics_port, pid_file=str(self.pid_file), log_file=str(self.log_file)
        )
        self.pid: int | None = None
        self.sid: int | None = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def start(self, timeout: float) -> tuple[float, float]:
        """Launch and wait for /health/status 200: (seconds until the launcher returned, until ready)."""
        started = time.perf_counter()
        launched = subprocess.run(self.command, env=self.env, capture_output=True, text=True, timeout=120)
        launcher_s = time.perf_counter() - started
        if launched.returncode != 0 or not self.pid_file.exists():
            raise RuntimeError(f"launcher failed ({launched.returncode}): {launched.stderr}\n{self.log_tail()}")
        self.pid = int(self.pid_file.read_text())
        with contextlib.suppress(OSError):
            self.sid = os.getsid(self.pid)
        deadline = started + timeout
        while True:
            if self._health() == 200:
                return launcher_s, time.perf_counter() - started
            if not psutil.pid_exists(self.pid):
                raise RuntimeError(f"the server exited before it was ready; log:\n{self.log_tail()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"not ready in {timeout:.0f} s; log:\n{self.log_tail()}")
            time.sleep(0.05)

    def _health(self) -> int | None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/health/status")
            response = conn.getresponse()
            response.read()
            return response.status
        except OSError:
            return None
        finally:
            conn.close()

    def wait_all_workers_loaded(self, timeout: float) -> bool:
        """With several workers, /health/status is 200 once ONE has loaded: wait for each worker's load line."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            lines = self.log_tail(10**7).splitlines()
            if sum("arxiv_model:load" in x and " loaded " in x for x in lines) >= self.config.workers:
                return True
            time.sleep(0.2)
        return False

    def processes(self) -> list[psutil.Process]:
        if self.pid is None:
            return []
        try:
            master = psutil.Process(self.pid)
            return [master, *master.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def memory(self) -> list[dict[str, Any]]:
        """RSS/USS of each server process, labelled by role (all share one cmdline: no setproctitle)."""
        procs = self.processes()
        listening: dict[int, set[int]] = {}
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                conns = proc.net_connections(kind="tcp")
                listening[proc.pid] = {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}
        rows = []
        for proc in procs:
            try:
                ports = listening.get(proc.pid, set())
                parent = proc.ppid()
                if proc.pid == self.pid:
                    role = "master (REST gunicorn arbiter)"
                elif self.port in ports:
                    role = "REST worker"
                elif self.metrics_port in ports:
                    role = "metrics server (arbiter)" if parent == self.pid else "metrics server worker"
                else:
                    role = "helper (Seldon metrics Manager)" if parent == self.pid else "other"
                info = proc.memory_full_info()
                rows.append(
                    {
                        "pid": proc.pid,
                        "ppid": parent,
                        "role": role,
                        "rss_mb": info.rss / 2**20,
                        "uss_mb": getattr(info, "uss", 0) / 2**20,
                        "threads": proc.num_threads(),
                        "cmdline": " ".join(proc.cmdline())[:200],
                    }
                )
            except psutil.Error:
                continue
        return rows

    def stop(self, timeout: float = 30) -> float | None:
        """SIGTERM the master, wait, SIGKILL what is left of its session; seconds it took (None if not started)."""
        if self.pid is None:
            return None
        started = time.perf_counter()
        procs = self.processes()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        leftovers = list(alive)
        if self.sid is not None and self.sid != os.getsid(0):
            known = {p.pid for p in leftovers}
            for proc in psutil.process_iter():
                with contextlib.suppress(psutil.Error, OSError):
                    if proc.pid not in known and os.getsid(proc.pid) == self.sid:
                        leftovers.append(proc)
        for proc in leftovers:  # only processes of the server this script started
            with contextlib.suppress(psutil.Error):
                proc.kill()
        if leftovers:
            print(f"  warning: SIGKILLed {len(leftovers)} server process(es) left after SIGTERM")
        self.pid = None
        return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Endpoint load
# --------------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; reconnects when the server closes it (gunicorn sync workers do)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, body: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        for attempt in (0, 1):
            try:
                self.conn.request("POST", "/api/v1.0/predictions", body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()  # a stale keep-alive connection: one retry on a fresh one
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def encode(batches: Sequence[list[dict[str, str]]]) -> list[bytes]:
    return [json.dumps({"jsonData": batch}).encode() for batch in batches]


def check_answer(status: int, raw: bytes, expected: int) -> None:
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {raw[:300]!r}")
    n = len(json.loads(raw)["jsonData"]["predictions"])
    if n != expected:
        raise RuntimeError(f"{n} predictions for {expected} papers")


def endpoint_latency(server: Server, papers: Sequence[dict[str, str]], n: int, duration: float) -> dict[str, Any]:
    bodies = encode(windows(papers, 1))
    client = Client(server.port)
    try:
        for i in range(LATENCY_WARMUP):
            check_answer(*client.post(bodies[i % len(bodies)]), 1)
        times: list[float] = []
        deadline = time.perf_counter() + duration
        for i in range(n):
            start = time.perf_counter()
            status, raw = client.post(bodies[(LATENCY_WARMUP + i) % len(bodies)])
            times.append((time.perf_counter() - start) * 1000)
            check_answer(status, raw, 1)
            if time.perf_counter() > deadline:
                break
    finally:
        client.close()
    return percentiles(times)


def endpoint_throughput(
    server: Server, papers: Sequence[dict[str, str]], batch: int, clients: int, duration: float, max_requests: int
) -> dict[str, Any]:
    bodies = encode(windows(papers, batch))
    warm = Client(server.port)
    try:
        for i in range(THROUGHPUT_WARMUP):
            check_answer(*warm.post(bodies[i % len(bodies)]), batch)
    finally:
        warm.close()

    lock = threading.Lock()
    issued = [0]
    latencies: list[float] = []
    finished: list[float] = []
    errors: list[str] = []
    gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def run() -> None:
        client = Client(server.port)
        try:
            gate.wait()
            while True:
                with lock:
                    if issued[0] >= max_requests or time.perf_counter() >= deadline[0]:
                        return
                    i = issued[0]
                    issued[0] += 1
                start = time.perf_counter()
                try:
                    status, raw = client.post(bodies[i % len(bodies)])
                    check_answer(status, raw, batch)
                except Exception as exc:  # counted and reported; the test goes on
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                end = time.perf_counter()
                with lock:
                    latencies.append((end - start) * 1000)
                    finished.append(end)
        finally:
            client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    server_cpu0, client_cpu0 = server.cpu_seconds(), time.process_time()
    start = time.perf_counter()
    deadline[0] = start + duration
    gate.wait()
    for t in threads:
        t.join()
    elapsed = (max(finished) if finished else time.perf_counter()) - start
    server_cpu, client_cpu = server.cpu_seconds() - server_cpu0, time.process_time() - client_cpu0
    if not latencies:
        raise RuntimeError(f"every request at batch {batch} failed: {errors[:3]}")
    done = len(latencies)
    return {
        "batch": batch,
        "clients": clients,
        "requests": done,
        "papers": done * batch,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "elapsed_s": elapsed,
        "papers_per_s": done * batch / elapsed,
        "request_latency_ms": percentiles(latencies),
        "server_cpu_cores": server_cpu / elapsed,
        "client_cpu_cores": client_cpu / elapsed,
    }


# --------------------------------------------------------------------------------------------
# In-process baseline
# --------------------------------------------------------------------------------------------


def timed_loop(step: Callable[[int], None], duration: float, max_steps: int) -> tuple[list[float], float]:
    times: list[float] = []
    start = time.perf_counter()
    for i in range(max_steps):
        t0 = time.perf_counter()
        step(i)
        t1 = time.perf_counter()
        times.append((t1 - t0) * 1000)
        if t1 - start >= duration:
            break
    return times, time.perf_counter() - start


def in_process(
    model_dir: Path, papers: Sequence[dict[str, str]], threads: int, args: argparse.Namespace
) -> dict[str, Any]:
    import torch

    from arxiv_classifier.classifier import TextClassifier
    from arxiv_classifier.data import join_text

    torch.set_num_threads(threads)
    clf = TextClassifier.load(model_dir)
    if args.quantize:  # the same int8 copy the server makes with `quantize`
        clf.model = torch.ao.quantization.quantize_dynamic(clf.model, {torch.nn.Linear}, dtype=torch.qint8)
    texts = [join_text([p["title"], p["summary"]]) for p in papers]  # what the server feeds its model

    def batches(batch: int) -> list[list[str]]:
        return [texts[i : i + batch] for i in range(0, len(texts) - batch + 1, batch)]

    def predict(chunk: list[str]) -> None:
        probs = clf.predict_proba(chunk, batch_size=len(chunk), device="cpu")
        assert probs.shape[0] == len(chunk)

    singles = batches(1)
    for i in range(LATENCY_WARMUP):
        predict(singles[i % len(singles)])
    times, _ = timed_loop(
        lambda i: predict(singles[(LATENCY_WARMUP + i) % len(singles)]), args.duration, args.latency_requests
    )
    result: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "latency_ms": percentiles(times)}
    rows = []
    for batch in BATCH_SIZES:
        chunks = batches(batch)
        for i in range(THROUGHPUT_WARMUP):
            predict(chunks[i % len(chunks)])
        cpu0 = time.process_time()
        times, elapsed = timed_loop(lambda i, c=chunks: predict(c[i % len(c)]), args.duration, args.max_requests)
        rows.append(
            {
                "batch": batch,
                "batches": len(times),
                "papers": len(times) * batch,
                "elapsed_s": elapsed,
                "papers_per_s": len(times) * batch / elapsed,
                "batch_latency_ms": percentiles(times),
                "cpu_cores": (time.process_time() - cpu0) / elapsed,
            }
        )
    result["throughput"] = rows
    return result


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    lines = []
    s = results["settings"]
    lines.append(
        f"Endpoint benchmark: workers={s['workers']} threads={s['threads']} torch_threads={s['torch_threads']} "
        f"clients={s['clients']} duration={s['duration_s']}s papers={s['papers']} cpus={results['machine']['cpus']} "
        f"(load average at start {results['machine']['loadavg_at_start'][0]:.2f})"
    )
    lines.append(f"Model: {results['model']['dir']} ({results['model']['note']})")
    lines.append(
        f"Deploy-to-ready: {results['deploy_to_ready_s']:.2f} s (launcher returned after {results['launcher_s']:.2f} s)"
    )
    lat, ip = results["single_request_latency_ms"], results["in_process"]["latency_ms"]
    ok = "PASS" if lat["p50"] <= GOAL_P50_MS else "FAIL"
    lines.append(
        f"Single-request latency ({lat['n']} requests, 1 paper): p50 {lat['p50']:.1f} ms  p90 {lat['p90']:.1f} ms  "
        f"p99 {lat['p99']:.1f} ms   goal p50 <= {GOAL_P50_MS:.0f} ms: {ok}"
    )
    lines.append(
        f"In-process single paper ({ip['n']}): p50 {ip['p50']:.1f} ms  p99 {ip['p99']:.1f} ms  "
        f"(endpoint overhead at p50: {lat['p50'] - ip['p50']:+.1f} ms)"
    )
    lines.append("")
    header = (
        f"{'batch':>5} | {'endpoint papers/s':>17} | {'in-process papers/s':>19} | {'ratio':>5} | "
        f"{'goal >= ' + str(GOAL_RATIO):>10} | {'req p50 ms':>10} | {'srv cpu':>7} | {'cli cpu':>7} | errors"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for row in results["throughput"]:
        e, i = row["endpoint"], row["in_process"]
        lines.append(
            f"{row['batch']:>5} | {e['papers_per_s']:>17.1f} | {i['papers_per_s']:>19.1f} | {row['ratio']:>5.2f} | "
            f"{'PASS' if row['ratio'] >= GOAL_RATIO else 'FAIL':>10} | {e['request_latency_ms']['p50']:>10.1f} | "
            f"{e['server_cpu_cores']:>7.2f} | {e['client_cpu_cores']:>7.2f} | {e['errors']}"
        )
    lines.append("  (srv/cli cpu: CPU cores used by the server processes / by this client process during the test)")
    lines.append("")
    lines.append("Server memory (after the load tests):")
    for m in results["memory"]:
        lines.append(
            f"  pid {m['pid']:>7}  {m['role']:<34} RSS {m['rss_mb']:>7.1f} MiB  USS {m['uss_mb']:>7.1f} MiB  "
            f"threads {m['threads']}"
        )
    total_uss = sum(m["uss_mb"] for m in results["memory"])
    lines.append(f"  total USS {total_uss:.1f} MiB (RSS double-counts pages shared between forks)")
    if results["shutdown_s"] is not None:
        lines.append(f"Shutdown (SIGTERM to gone): {results['shutdown_s']:.2f} s")
    for note in results["notes"]:
        lines.append(f"Note: {note}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a TextClassifier directory (default: untrained MiniLM head)")
    parser.add_argument("--papers", default=CurrentDataConfig().source, help="papers source (load_papers)")
    parser.add_argument("--n-papers", type=int, default=512, help="real papers to cycle through")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds bound of each test")
    parser.add_argument("--max-requests", type=int, default=5000, help="request (batch) bound of each test")
    parser.add_argument("--latency-requests", type=int, default=200, help="single-request latency samples")
    parser.add_argument("--clients", type=int, default=4, help="concurrent loopback clients (threads)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads per worker; 0: torch's default")
    parser.add_argument(
        "--quantize", action="store_true", help="serve (and baseline) the int8 dynamically quantised model"
    )
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for /health/status")
    parser.add_argument("--serving-python", help="python of the serving venv (default: ensure_serving_env())")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    args = parser.parse_args(argv)
    for name in ("n_papers", "duration", "max_requests", "latency_requests", "clients", "workers", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.torch_threads < 0:
        parser.error("--torch-threads must be >= 0")
    return args


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM to the benchmark unwinds like Ctrl-C, so the server is still stopped."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = os.cpu_count() or 1
    loadavg = os.getloadavg()
    notes: list[str] = []
    if loadavg[0] > 0.5:
        notes.append(
            f"the machine was not idle (1-min load average {loadavg[0]:.2f} at start): numbers are noisy and the "
            "endpoint, which shares the cores with its clients, suffers more than the in-process baseline"
        )
        print(f"warning: {notes[-1]}", flush=True)
    server_cores = args.workers * (args.torch_threads or cpus)
    ip_threads = min(server_cores, cpus)

    source = expand_path_vars(args.papers)
    print(f"Reading {args.n_papers} papers from {source} ...", flush=True)
    papers = read_papers(source, args.n_papers)

    with tempfile.TemporaryDirectory(prefix="endpoint-bench-") as tmp, sigterm_as_interrupt():
        runtime = Path(tmp)
        if args.model_dir:
            model_dir = args.model_dir.resolve()
            model_note = "given model directory"
        else:
            model_dir = runtime / "model"
            print(f"Building an untrained {OFFLINE_MINILM_ID} classifier (10 labels, max_length 128) ...", flush=True)
            build_untrained_model(model_dir)
            model_note = (
                f"{OFFLINE_MINILM_ID} with an UNTRAINED head: exactly the same compute as a trained one, "
                "predictions meaningless"
            )
        meta = json.loads((model_dir / "classifier.json").read_text())

        server = Server(args, model_dir, runtime)
        results: dict[str, Any] = {
            "machine": {
                "cpus": cpus,
                "loadavg_at_start": list(loadavg),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "settings": {
                "workers": args.workers,
                "threads": args.threads,
                "torch_threads": args.torch_threads,
                "clients": args.clients,
                "duration_s": args.duration,
                "max_requests": args.max_requests,
                "latency_requests": args.latency_requests,
                "papers": len(papers),
                "papers_source": source,
                "batch_sizes": list(BATCH_SIZES),
            },
            "model": {"dir": str(model_dir), "note": model_note, **meta},
            "server_command": server.command,
            "goals": {"single_request_p50_ms_max": GOAL_P50_MS, "endpoint_to_in_process_ratio_min": GOAL_RATIO},
        }
        try:
            print(f"Launching the microservice on 127.0.0.1:{server.port} (metrics {server.metrics_port}) ...")
            launcher_s, ready_s = server.start(args.ready_timeout)
            results["launcher_s"], results["deploy_to_ready_s"] = launcher_s, ready_s
            print(f"  ready after {ready_s:.2f} s", flush=True)
            if args.workers > 1 and not server.wait_all_workers_loaded(args.ready_timeout):
                notes.append("not every worker logged its model load before the tests began")

            print("Single-request latency ...", flush=True)
            results["single_request_latency_ms"] = endpoint_latency(
                server, papers, args.latency_requests, args.duration
            )
            endpoint_rows = []
            for batch in BATCH_SIZES:
                print(f"Endpoint throughput, batch {batch}, {args.clients} clients ...", flush=True)
                endpoint_rows.append(
                    endpoint_throughput(server, papers, batch, args.clients, args.duration, args.max_requests)
                )
            results["memory"] = server.memory()
        finally:
            print("Stopping the server ...", flush=True)
            results["shutdown_s"] = server.stop()

        print(f"In-process baseline ({ip_threads} torch threads, server stopped) ...", flush=True)
        baseline = in_process(model_dir, papers, ip_threads, args)

    results["in_process"] = {"torch_threads": baseline["torch_threads"], "latency_ms": baseline["latency_ms"]}
    results["throughput"] = [
        {"batch": e["batch"], "endpoint": e, "in_process": i, "ratio": e["papers_per_s"] / i["papers_per_s"]}
        for e, i in zip(endpoint_rows, baseline["throughput"])
    ]
    lat = results["single_request_latency_ms"]
    results["goals"].update(
        {
            "single_request_p50_met": lat["p50"] <= GOAL_P50_MS,
            "ratio_met": all(r["ratio"] >= GOAL_RATIO for r in results["throughput"]),
        }
    )
    notes.append(
        "clients run as threads of this process with pre-encoded request bodies; their CPU use is the 'cli cpu' "
        "column and it competes with the server for the same cores"
    )
    if ip_threads < server_cores:
        notes.append(f"in-process torch threads capped at the CPU count ({cpus}); the server asks for {server_cores}")
    results["notes"] = notes

    print()
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted (a server it had started was stopped first)", file=sys.stderr)
        sys.exit(130)
