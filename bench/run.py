"""``make bench``: start real servers, load them with wrk and websocket watchers, print one table.

Every figure comes from this run on this machine: kvstore under daphne and under uvicorn, a
bare ASGI app under the same servers (the ceiling), a store of a million keys, and watch
fan-out. ``--short`` runs the same steps with shorter load phases for quick checks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fanout import run_fanout
from bench.load import run_wrk
from bench.report import render
from bench.seeding import write_seed_store
from bench.servers import BARE_APP, KV_APP, Server

SERVERS = ("daphne", "uvicorn")
SMALL_STORE_KEYS = 1_000
BIG_STORE_KEYS = 1_000_000
WATCHER_COUNTS = (200, 1_000)


@dataclass(frozen=True)
class Mode:
    """How long each load phase lasts, in seconds."""

    name: str
    load_seconds: float
    warmup_seconds: float
    watch_seconds: float


FULL = Mode("full", load_seconds=10, warmup_seconds=2, watch_seconds=10)
SHORT = Mode("short", load_seconds=3, warmup_seconds=1, watch_seconds=3)


def bench_server(kind: str, mode: Mode, workdir: Path) -> dict[str, Any]:
    """Every measurement for one server kind."""
    results: dict[str, Any] = {}
    small = workdir / kind / "small" / "store.pickle"
    small.parent.mkdir(parents=True)
    write_seed_store(small, SMALL_STORE_KEYS)
    keys_env = {"KV_BENCH_KEYS": str(SMALL_STORE_KEYS)}
    with Server(kind, KV_APP, small) as server:
        run_wrk(server.url, mode.warmup_seconds, "get.lua", keys_env)
        results["get"] = run_wrk(server.url, mode.load_seconds, "get.lua", keys_env)
        results["put"] = run_wrk(server.url, mode.load_seconds, "put.lua")
        for watchers in WATCHER_COUNTS:
            results[f"watch{watchers}"] = run_fanout(server.url, watchers, mode.watch_seconds)
    with Server(kind, BARE_APP, small.with_name("bare")) as server:
        run_wrk(server.url, mode.warmup_seconds)
        results["bare"] = run_wrk(server.url, mode.load_seconds)
    results.update(bench_big_store(kind, mode, workdir))
    return results


def bench_big_store(kind: str, mode: Mode, workdir: Path) -> dict[str, Any]:
    """Start on a million keys (first as a seed-format file, then as kvstore's own), then put."""
    big = workdir / kind / "big" / "store.pickle"
    big.parent.mkdir(parents=True)
    write_seed_store(big, BIG_STORE_KEYS)
    with Server(kind, KV_APP, big) as server:
        upgrade_seconds = server.start_seconds
    with Server(kind, KV_APP, big) as server:
        results = {"start_upgrade": upgrade_seconds, "start_big": server.start_seconds, "rss_big": server.rss_mb()}
        run_wrk(server.url, mode.warmup_seconds, "put.lua", {"KV_BENCH_PREFIX": "bench/warm/"})
        results["put_big"] = run_wrk(server.url, mode.load_seconds, "put.lua")
        results["rss_big_after"] = server.rss_mb()
    return results


def describe_run(mode: Mode, label: str) -> str:
    """One line saying what was measured where."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return (
        f"{label}: mode {mode.name}, commit {commit}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, wrk -t2 -c32 -d{mode.load_seconds:g}s"
    )


def main() -> None:
    """Parse arguments, run everything, print (and optionally save) the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="short load phases, for a quick check")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: daphne,uvicorn")
    parser.add_argument("--label", default="kvstore", help="a name for this run in the table's heading")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) to this file")
    args = parser.parse_args()
    mode = SHORT if args.short else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kvbench-") as tmp:
        results = {kind: bench_server(kind, mode, Path(tmp)) for kind in args.servers.split(",")}
    table = f"{describe_run(mode, args.label)}, took {time.perf_counter() - started:.0f} s\n\n{render(results)}"
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
