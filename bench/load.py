"""Driving a server with wrk and reading its figures back."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK = "/usr/bin/wrk"
CONNECTIONS = 32
THREADS = 2
BENCH_DIR = Path(__file__).resolve().parent

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}  # to milliseconds


@dataclass(frozen=True)
class LoadResult:
    """Throughput and latency percentiles of one wrk run; ``errors`` counts non-2xx and socket errors."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_us: float = 0.0  # the server process's CPU time per request, µs (0 if not measured)


class WrkMissing(RuntimeError):
    """The load generator is not installed."""


def run_wrk(url: str, seconds: float, script: str | None = None, env: dict[str, str] | None = None) -> LoadResult:
    """Run wrk (32 connections, 2 threads) against ``url`` for ``seconds``."""
    if not Path(WRK).exists():
        raise WrkMissing(f"{WRK} not found: install Debian's wrk package (make system-deps)")
    command = [WRK, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(BENCH_DIR / script)]
    output = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LUA_PATH": f"{BENCH_DIR}/?.lua;;", **(env or {})},
    ).stdout
    return parse_wrk(output)


def run_wrk_on(server_pid: int, url: str, seconds: float, script: str, env: dict[str, str]) -> LoadResult:
    """``run_wrk``, also charging the server process's CPU time to the requests it answered.

    CPU per request is the steadiest figure on a shared machine: throughput falls when a
    neighbour takes a core, the work per request barely moves.
    """
    before = process_cpu_seconds(server_pid)
    result = run_wrk(url, seconds, script, env)
    used = process_cpu_seconds(server_pid) - before
    return dataclasses.replace(result, server_cpu_us=used / max(result.requests, 1) * 1e6)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def parse_wrk(output: str) -> LoadResult:
    """Pull requests/s, p50, p99 and error counts out of wrk's text report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(rps, _percentile(output, "50"), _percentile(output, "99"), requests, errors)


def _percentile(output: str, which: str) -> float:
    """A latency percentile from wrk's ``--latency`` distribution, in milliseconds."""
    value, unit = re.search(rf"^\s+{which}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE).groups()
    return float(value) * _UNITS[unit]
