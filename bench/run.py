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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.fanout import run_fanout
from bench.load import LoadResult, run_wrk
from bench.report import render
from bench.seeding import write_seed_store
from bench.servers import BARE_APP, KV_APP, Server

SERVERS = ("daphne", "uvicorn")
SMALL_STORE_KEYS = 1_000
BIG_STORE_KEYS = 1_000_000
WATCHER_COUNTS = (200, 1_000)
KEEPALIVE_LEASES = 1_000  # leases the keepalive load cycles over
PREFIX_DELETE_KEYS = 10_000
EXPIRING_LEASES = 10_000
EXPIRY_TTL = 3  # seconds: long enough to grant every lease before the first one is due
LISTING_PAGE = 10_000  # pairs per page in the consistent-listing row
LISTING_WRITES_PER_SECOND = 1_000
HISTORY_EVENTS = 1_000  # events of the one key whose history is read
HISTORY_READS = 200
RETAINED_EVENTS = 100_000  # the default KV_HISTORY: the big store's RSS is measured with it full


@dataclass(frozen=True)
class Mode:
    """How long each load phase lasts (seconds) and how many interleaved rounds to run."""

    name: str
    load_seconds: float
    warmup_seconds: float
    watch_seconds: float
    rounds: int
    memory_leases: int  # live leases whose memory is measured


FULL = Mode("full", load_seconds=5, warmup_seconds=2, watch_seconds=10, rounds=3, memory_leases=100_000)
SHORT = Mode("short", load_seconds=3, warmup_seconds=1, watch_seconds=3, rounds=1, memory_leases=20_000)


def bench_server(kind: str, mode: Mode, workdir: Path) -> dict[str, Any]:
    """Every measurement for one server kind.

    The ceiling, gets, puts and puts on a million keys are measured in interleaved rounds
    against servers that all stay up, and each figure is the round with the median rate.
    Ratios are taken within a round, between loads run seconds apart, and the table shows
    their median: on a shared machine the speed drifts over a run, and the medians of two
    figures can come from rounds a minute apart, while the loads of one round see the same
    machine.
    """
    small = _seeded(workdir / kind / "small", SMALL_STORE_KEYS)
    big = _seeded(workdir / kind / "big", BIG_STORE_KEYS)
    with Server.of(kind, KV_APP, big) as upgrading:  # first start: seed format, upgraded in place
        results: dict[str, Any] = {"start_upgrade": upgrading.start_seconds}
    with (
        Server.of(kind, KV_APP, big) as big_kv,
        Server.of(kind, KV_APP, small) as kv,
        Server.of(kind, BARE_APP, small.with_name("bare")) as bare,
    ):
        results.update(start_big=big_kv.start_seconds, rss_big=big_kv.rss_mb())
        keys_env = {"KV_BENCH_KEYS": str(SMALL_STORE_KEYS)}
        warm = {"KV_BENCH_PREFIX": "bench/warm/"}
        leases = scenarios.grant_leases(kv.url, KEEPALIVE_LEASES)
        lease_env = {"KV_BENCH_LEASE_FIRST": str(leases[0]), "KV_BENCH_LEASES": str(len(leases))}

        def reads_at_a_revision(new_keys: dict[str, str]) -> LoadResult:
            revision = scenarios.prepare_reads_at_a_revision(kv.url, SMALL_STORE_KEYS)
            return kv.load(mode.load_seconds, "get.lua", {**keys_env, "KV_BENCH_REVISION": str(revision)})

        loads: dict[str, Callable[[dict[str, str]], LoadResult]] = {
            # The same requests (wrk's Lua scripts cost wrk CPU on this box too) against the bare app.
            "bare_get": lambda new_keys: bare.load(mode.load_seconds, "get.lua", keys_env),
            "bare_put": lambda new_keys: bare.load(mode.load_seconds, "put.lua", new_keys),
            "get": lambda new_keys: kv.load(mode.load_seconds, "get.lua", keys_env),
            "put": lambda new_keys: kv.load(mode.load_seconds, "put.lua", new_keys),
            "put_big": lambda new_keys: big_kv.load(mode.load_seconds, "put.lua", new_keys),
            "txn": lambda new_keys: kv.load(mode.load_seconds, "txn.lua", new_keys),
            "keepalive": lambda new_keys: kv.load(mode.load_seconds, "keepalive.lua", lease_env),
            "rev_get": reads_at_a_revision,
        }
        for url, script, env in (
            (bare.url, "get.lua", keys_env),
            (kv.url, "get.lua", keys_env),
            (big_kv.url, "put.lua", warm),
        ):
            run_wrk(url, mode.warmup_seconds, script, env)
        rounds: dict[str, list[LoadResult]] = {name: [] for name in loads}
        for number in range(mode.rounds):
            new_keys = {"KV_BENCH_PREFIX": f"bench/round{number}/"}  # every put in every round adds a key
            for name, load in loads.items():
                rounds[name].append(load(new_keys))
        results.update({name: median_run(runs) for name, runs in rounds.items()})
        results["rounds"] = rounds
        results["rss_big_after"] = big_kv.rss_mb()
        results["listing"] = scenarios.consistent_listing(big_kv, LISTING_PAGE, LISTING_WRITES_PER_SECOND)
        scenarios.fill_history(big_kv.url, BIG_STORE_KEYS, RETAINED_EVENTS)
        results["rss_big_history"] = big_kv.rss_mb()
        results["prefix_delete"] = scenarios.prefix_delete(kv, PREFIX_DELETE_KEYS)
        results["history"] = scenarios.history_latency(kv.url, HISTORY_EVENTS, HISTORY_READS)
        results["expiry"] = scenarios.lease_expiry(kv, EXPIRING_LEASES, EXPIRY_TTL, mode.load_seconds)
    with Server.of(kind, KV_APP, _seeded(workdir / kind / "leases", 0)) as fresh:
        before = fresh.rss_mb()
        scenarios.grant_leases(fresh.url, mode.memory_leases)
        results["lease_rss"] = (mode.memory_leases, before, fresh.rss_mb())
    with Server.of(kind, KV_APP, small) as kv:
        for watchers in WATCHER_COUNTS:
            results[f"watch{watchers}"] = run_fanout(kv.url, watchers, mode.watch_seconds)
    return results


def _seeded(directory: Path, keys: int) -> Path:
    """A fresh directory holding a seed-format store of ``keys`` pairs; returns the store's path."""
    directory.mkdir(parents=True)
    path = directory / "store.pickle"
    write_seed_store(path, keys)
    return path


def median_run(runs: list[LoadResult]) -> LoadResult:
    """The run with the median rate (its latencies belong to it, unlike a median of each field)."""
    return sorted(runs, key=lambda run: run.rps)[len(runs) // 2]


def describe_run(mode: Mode, label: str) -> str:
    """One line saying what was measured where."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return (
        f"{label}: mode {mode.name}, commit {commit}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, wrk -t2 -c32 -d{mode.load_seconds:g}s, "
        f"median of {mode.rounds} interleaved round(s)"
    )


def main() -> None:
    """Parse arguments, run everything, print (and optionally save) the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="short load phases, for a quick check")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: daphne,uvicorn,uvicorn-h11")
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
