"""Locust load of mixed traffic for the arXiv classifier endpoint: single papers, batches, bad requests.

`benchmarks/load_test.py` runs it headless against a running endpoint:

    locust -f benchmarks/locust_mixed.py --headless -u 8 -r 8 -t 300s --host http://127.0.0.1:PORT \\
        --csv PREFIX --papers-file papers.json --max-batch 64

Each user sends back to back (no wait), in proportions 6 : 3 : 1:
- one real paper (`predict single`);
- a batch of 2 .. `--max-batch` real papers (`predict batch`);
- a bad request, one of: a body that is not JSON, a paper without a summary, a batch over
  `--max-batch`, a paper over the endpoint's `max_text_chars` (`bad request: <kind>`).
A good request counts as a success only as a 200 with one prediction per paper; a bad one only as the
expected 4xx whose body carries a message. Anything else is a failure, recorded by kind: locust's
failures CSV then says which request got which status (a 5xx, a connection error, a wrong answer).
"""

from __future__ import annotations

import itertools
import json
import random
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, events, task

PREDICTION_PATH = "/api/v1.0/predictions"
_user_numbers = itertools.count()


@events.init_command_line_parser.add_listener
def _add_options(parser: ArgumentParser) -> None:
    parser.add_argument("--papers-file", required=True, help="JSON list of {title, summary} papers to send")
    parser.add_argument("--max-batch", type=int, default=64, help="the endpoint's serving.max_batch")
    parser.add_argument("--max-text-chars", type=int, default=20_000, help="the endpoint's serving.max_text_chars")


class MixedUser(FastHttpUser):
    """One client of mixed traffic over one keep-alive connection."""

    wait_time = constant(0)

    def on_start(self) -> None:
        options: Any = self.environment.parsed_options
        self.papers = json.loads(Path(options.papers_file).read_text())
        self.max_batch = int(options.max_batch)
        self.random = random.Random(next(_user_numbers))  # nosec B311  # load mix, not crypto
        paper = self.papers[0]
        self.bad_requests: list[tuple[str, bytes, int]] = [
            ("not JSON", b'{"jsonData": {"title": ', 400),
            ("missing summary", json.dumps({"jsonData": {"title": paper["title"]}}).encode(), 400),
            ("batch over max_batch", json.dumps({"jsonData": [paper] * (self.max_batch + 1)}).encode(), 400),
            (
                "text over max_text_chars",
                json.dumps({"jsonData": {"title": "t", "summary": "x" * int(options.max_text_chars)}}).encode(),
                400,
            ),
        ]

    def _post(self, name: str, body: bytes, expect: int, papers: int = 0) -> None:
        with self.client.post(
            PREDICTION_PATH,
            data=body,
            headers={"Content-Type": "application/json"},
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code != expect:
                response.failure(f"HTTP {response.status_code} (expected {expect}): {(response.text or '')[:150]}")
                return
            answer = response.json() or {}
            if expect == 200:
                got = len((answer.get("jsonData") or {}).get("predictions") or [])
                if got != papers:
                    response.failure(f"{got} predictions for {papers} papers")
                    return
            elif len(str((answer.get("status") or {}).get("info") or "")) < 20:
                response.failure(f"HTTP {expect} without a message: {(response.text or '')[:150]}")
                return
            response.success()  # an expected 4xx too: locust counts any 4xx as a failure unless told

    @task(6)
    def single(self) -> None:
        paper = self.random.choice(self.papers)
        self._post("predict single", json.dumps({"jsonData": paper}).encode(), 200, papers=1)

    @task(3)
    def batch(self) -> None:
        n = self.random.randint(2, self.max_batch)
        start = self.random.randrange(0, max(1, len(self.papers) - n))
        batch = self.papers[start : start + n]
        self._post("predict batch", json.dumps({"jsonData": batch}).encode(), 200, papers=len(batch))

    @task(1)
    def bad(self) -> None:
        kind, body, expect = self.random.choice(self.bad_requests)
        self._post(f"bad request: {kind}", body, expect)
