#!/usr/bin/env python
"""Sustained mixed load on the deployed endpoint, from a second process: errors by kind, latency, memory.

Locust (headless, `benchmarks/locust_mixed.py`) runs `--users` clients for `--duration` seconds against the
running deployment of the production model (or `--url`), on loopback, each sending single papers, batches
of up to `serving.max_batch` real papers and bad requests back to back. Printed and written to `--output`:
requests, failures by kind (5xx, connection errors, wrong answers, bad requests not refused as they should
be), p50/p95/p99 and throughput per kind of request, and the server's resident memory (its master and
every process it started) before and after `--warmup` seconds of the same load, and at the end, with the
growth over the measured run (ONNX Runtime's arenas grow once to the largest batch; a leak keeps growing).

    .venv/bin/python benchmarks/load_test.py --users 8 --duration 300        # the README's figures
    .venv/bin/python benchmarks/load_test.py --users 4 --duration 15         # what CI runs (tests/pipelines)

Exit code 1 when a request failed, or when memory grew by more than `--max-rss-growth` (default 5 %).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess  # nosec B404  # argv lists only, no shell
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil

BENCHMARKS = Path(__file__).resolve().parent
LOCUSTFILE = BENCHMARKS / "locust_mixed.py"
DEFAULT_OUTPUT = BENCHMARKS.parent / "outputs" / "benchmarks" / "load_test.json"


def server_processes(url: str) -> list[psutil.Process]:
    """The server listening on the URL's port: its top process (the daemon) and every process below it."""
    port = urlparse(url).port
    listening = [c for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    listeners = [c.pid for c in listening if c.laddr.port == port and c.pid]
    if not listeners:
        raise SystemExit(f"nothing listens on port {port} of {url}: deploy first (`python run.py --pipeline deploy`)")
    top = psutil.Process(listeners[0])
    while top.parent() is not None and top.parent().pid != 1 and top.parent().cmdline()[:1] == top.cmdline()[:1]:
        top = top.parent()  # gunicorn's master above its workers (same executable)
    return [top, *top.children(recursive=True)]


def rss_mb(url: str) -> float:
    total = 0
    for proc in server_processes(url):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def read_stats(prefix: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Locust's per-request-name rows, and its failures counted by kind."""
    rows = []
    with prefix.with_name(prefix.name + "_stats.csv").open() as handle:
        for row in csv.DictReader(handle):
            rows.append(
                {
                    "name": row["Name"],
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "p50_ms": float(row["50%"]),
                    "p95_ms": float(row["95%"]),
                    "p99_ms": float(row["99%"]),
                    "requests_per_s": float(row["Requests/s"]),
                }
            )
    kinds: dict[str, int] = {}
    failures = prefix.with_name(prefix.name + "_failures.csv")
    if failures.is_file():
        with failures.open() as handle:
            for row in csv.DictReader(handle):
                error = row["Error"]
                if error.startswith("HTTP 5"):
                    kind = "5xx"
                elif error.startswith("HTTP ") or "BadStatusCode" in error:
                    kind = "unexpected status"
                elif "predictions for" in error or "without a message" in error:
                    kind = "wrong answer"
                else:
                    kind = "connection error"
                kinds[kind] = kinds.get(kind, 0) + int(row["Occurrences"])
    return rows, kinds


def papers_file(output: Path, n: int, source: str | None) -> Path:
    """`n` real papers (title + abstract) as the locustfile reads them."""
    from arxiv_classifier.config import CurrentDataConfig, expand_path_vars
    from arxiv_classifier.papers import load_papers

    fields = {"source": expand_path_vars(source or "${DATA_DIR}/arxiv/papers.csv.gz"), "max_rows": n, "seed": 3}
    frame = load_papers(CurrentDataConfig.model_validate({**fields, "strip_pattern": None}))
    path = output.with_name(output.stem + "_papers.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    papers = [{"title": str(t), "summary": str(s)} for t, s in zip(frame["title"], frame["summary"], strict=True)]
    path.write_text(json.dumps(papers))
    return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    url = args.url
    if url is None:
        from arxiv_classifier.constants import DEFAULT_MODEL_NAME
        from deployers import deployments

        url = deployments.running_endpoint(args.model_name or DEFAULT_MODEL_NAME)
    papers = papers_file(args.output, args.papers, args.source)
    prefix = args.output.parent / f"{args.output.stem}_locust" / "mixed"
    prefix.parent.mkdir(parents=True, exist_ok=True)

    def locust(seconds: int, csv_prefix: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
                   "-u", str(args.users), "-r", str(args.users), "-t", f"{seconds}s", "--stop-timeout", "30",
                   "--host", url, "--csv", str(csv_prefix), "--loglevel", "WARNING", "--papers-file", str(papers),
                   "--max-batch", str(args.max_batch), "--max-text-chars", str(args.max_text_chars)]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 180)  # nosec B603  # argv list, no shell

    rss_cold = rss_mb(url)
    if args.warmup:  # the runtime's memory arenas grow to the largest batch once; a leak keeps growing after
        locust(args.warmup, prefix.with_name("warmup"))
    rss_start = rss_mb(url)
    started = time.monotonic()
    done = locust(args.duration, prefix)
    elapsed = time.monotonic() - started
    if not prefix.with_name(prefix.name + "_stats.csv").is_file():
        raise SystemExit(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rss_end = rss_mb(url)
    rows, kinds = read_stats(prefix)
    total = next(r for r in rows if r["name"] == "Aggregated")
    return {
        "url": url,
        "users": args.users,
        "duration_s": args.duration,
        "wall_s": round(elapsed, 1),
        "requests": total["requests"],
        "failures": total["failures"],
        "failures_by_kind": kinds,
        "by_request": rows,
        "warmup_s": args.warmup,
        "server_rss_mb": {"before_warmup": round(rss_cold, 1), "start": round(rss_start, 1), "end": round(rss_end, 1)},
        "rss_growth": round((rss_end - rss_start) / rss_start, 4) if rss_start else None,
        "cpu": _cpu_model(),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['users']} users for {result['duration_s']} s against {result['url']} ({result['cpu']}):",
        f"  {result['requests']} requests, {result['failures']} failed {result['failures_by_kind'] or ''}",
        f"  server RSS {result['server_rss_mb']['before_warmup']} MB before a {result['warmup_s']} s warm-up, then "
        f"{result['server_rss_mb']['start']} MB -> {result['server_rss_mb']['end']} MB "
        f"({100 * (result['rss_growth'] or 0):+.1f} %)",
        f"  {'request':<34} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'req/s':>7}",
    ]
    for row in result["by_request"]:
        lines.append(
            f"  {row['name']:<34} {row['requests']:>7} {row['failures']:>5} {row['p50_ms']:>7.0f} "
            f"{row['p95_ms']:>7.0f} {row['p99_ms']:>7.0f} {row['requests_per_s']:>7.2f}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="the endpoint's base URL (default: the model's running deployment)")
    parser.add_argument("--model-name", help="with no --url: the model whose deployment to load")
    parser.add_argument("--users", type=int, default=8, help="concurrent clients")
    parser.add_argument("--duration", type=int, default=300, help="seconds of load")
    parser.add_argument(
        "--warmup", type=int, default=60, help="seconds of the same load before memory is measured (0: none)"
    )
    parser.add_argument("--papers", type=int, default=500, help="real papers to draw from")
    parser.add_argument("--source", help="papers file (default ${DATA_DIR}/arxiv/papers.csv.gz)")
    parser.add_argument("--max-batch", type=int, default=64, help="the endpoint's serving.max_batch")
    parser.add_argument("--max-text-chars", type=int, default=20_000, help="the endpoint's serving.max_text_chars")
    parser.add_argument("--max-rss-growth", type=float, default=0.05, help="fail above this memory growth")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results (locust CSVs beside)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(render(result))
    grown = result["rss_growth"] or 0.0
    ok = result["failures"] == 0 and grown <= args.max_rss_growth
    if grown > args.max_rss_growth:
        print(f"server memory grew by {100 * grown:.1f} %, over {100 * args.max_rss_growth:.0f} %")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
