"""Locust load for the arXiv classifier endpoint: POSTs batches of real papers (Seldon protocol v1).

`benchmarks/endpoint_latency.py` runs it headless, once per test:

    locust -f benchmarks/locustfile.py --headless -u 4 -r 4 -t 20s --host http://127.0.0.1:PORT \\
        --csv PREFIX --papers-file papers.json --batch 8

`--papers-file` is a JSON list of {"title", "summary"} objects; each request carries `--batch` of them,
consecutive and non-overlapping, cycling through the file. Users send back to back (no wait time), so
the figures are the server's capacity at that concurrency. An answer counts as a failure unless it is
a 200 with one prediction per paper sent.
"""

from __future__ import annotations

import itertools
import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, events, task

PREDICTION_PATH = "/api/v1.0/predictions"
#: Each user starts at a different batch, so concurrent users do not send identical requests.
_user_numbers = itertools.count()


@events.init_command_line_parser.add_listener
def _add_options(parser: ArgumentParser) -> None:
    parser.add_argument("--papers-file", required=True, help="JSON list of {title, summary} papers to send")
    parser.add_argument("--batch", type=int, default=1, help="papers per request")


class PredictionUser(FastHttpUser):
    """One client sending batches of papers back to back over one keep-alive connection."""

    wait_time = constant(0)

    def on_start(self) -> None:
        options: Any = self.environment.parsed_options
        papers = json.loads(Path(options.papers_file).read_text())
        self.batch = int(options.batch)
        # Encoded once here, so the client's JSON work stays off the measured requests.
        self.bodies = [
            json.dumps({"jsonData": papers[i : i + self.batch]})
            for i in range(0, len(papers) - self.batch + 1, self.batch)
        ]
        if not self.bodies:
            raise ValueError(f"{options.papers_file} holds fewer than {self.batch} papers")
        self.sent = next(_user_numbers) * 7

    @task
    def predict(self) -> None:
        body = self.bodies[self.sent % len(self.bodies)]
        self.sent += 1
        with self.client.post(
            PREDICTION_PATH,
            data=body,
            headers={"Content-Type": "application/json"},
            name=f"predict batch {self.batch}",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
                return
            predictions = response.json().get("jsonData", {}).get("predictions", [])
            if len(predictions) != self.batch:
                response.failure(f"{len(predictions)} predictions for {self.batch} papers")
