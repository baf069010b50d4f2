"""Stores made up front, so a run can start a server on 1k or 1M keys in seconds."""

from __future__ import annotations

import pickle
from pathlib import Path

VALUE = "0123456789abcdef"  # 16 bytes, the value size the targets are stated for


def bench_key(n: int) -> str:
    """The n-th seeded key; get.lua builds the same names."""
    return f"bench/{n:010d}"


def write_seed_store(path: Path, keys: int) -> None:
    """Write the original flask server's format (a plain dict str -> str); kvstore upgrades it at start."""
    pairs = {bench_key(n): VALUE for n in range(keys)}
    path.write_bytes(pickle.dumps(pairs, protocol=5))
