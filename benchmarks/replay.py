#!/usr/bin/env python
"""Replay the loop over real arXiv history and print the table of what it bought.

At the first as-of date a version is trained on the window before it; at each later date the loop
runs as `python run.py --pipeline monitor` runs it (monitor -> retrain -> promote -> deploy through
the gate), reading the labelled papers that arrived since the previous date. Each period is scored
on its own papers for the first version (never retrained), the loop's production version, and
TF-IDF retrained on the same window (`pipelines/replay.py` says exactly how).

    python benchmarks/replay.py                                   # configs/replay.yaml, default sizes
    python benchmarks/replay.py --config configs/replay_quick.yaml
    python benchmarks/replay.py --set dates='[2024-01-01, 2026-01-01]' --set papers.max_rows=500

The replay runs in a ZenML store of its own (`<out>/zenml`, where `<out>` is
outputs/replay/<config name>), so the models you serve are untouched; see its runs with
`ZENML_CONFIG_PATH=<out>/zenml .venv/bin/zenml login --local`. A re-run reuses the store, so
finished training steps come from the cache. Output: `<out>/replay.md` (the table), `.csv`,
`.json`, and under `<out>/configs` the monitoring and deployment config of each date.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO_ROOT / "configs" / "replay.yaml"), help="Replay config YAML.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Override a config field.")
    parser.add_argument("--out", default=None, help="Output directory (default: outputs/replay/<config name>).")
    parser.add_argument(
        "--store",
        default=None,
        help="ZenML store directory (default: <out>/zenml); 'active' uses the active store (the tests do).",
    )
    parser.add_argument("--keep-servers", action="store_true", help="Leave the last deployed server running.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from arxiv_classifier.config import ConfigError, ReplayConfig, load_config, parse_override  # imports no zenml

    try:
        cfg = load_config(args.config, None, ReplayConfig, [parse_override(s) for s in args.set])
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or REPO_ROOT / "outputs" / "replay" / Path(args.config).stem).resolve()
    if args.store != "active":
        # Before anything imports zenml: the store is chosen when the client first loads.
        store = Path(args.store or out / "zenml").resolve()
        store.mkdir(parents=True, exist_ok=True)
        os.environ["ZENML_CONFIG_PATH"] = str(store)
        print(f"Replay store: {store}")
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from pipelines.replay import replay

    result = replay(cfg, out, keep_servers=args.keep_servers)
    print("\n" + result.table())
    print(f"Replay of {len(result.rows)} dates took {result.seconds / 60:.1f} min; saved under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
