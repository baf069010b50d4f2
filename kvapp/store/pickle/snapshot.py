"""The snapshot file (``store.pickle``): what it holds, how it is read, and how it is written.

Format 2 is a pickled dict ``{"kvstore": 2, "revision": R, "pairs": {key: (value, revision,
created[, lease])}, "events": [event tuple, ...], "leases": {id: ttl}, "lease_seq": N}``:
plain containers only, so the safe loader reads it. Event tuples have Event's fields in
order; a pair's lease is there only when it has one. ``lease_seq`` is the highest lease id
ever granted, so ids are never reused.

Format 1 (written before leases, times and history) had no leases and 6-field events; it
is still read, and rewritten as format 2 at the next fold. A plain ``{str: str}`` dict is
the original flask server's file and is upgraded.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvapp.store.base import Event
from kvapp.store.errors import CorruptStore
from kvapp.store.pickle import safe_pickle, shapes
from kvapp.store.pickle.files import write_atomically

logger = logging.getLogger(__name__)

FORMAT = 2
FORMAT_1 = 1  # before leases, event times and history (session 6 and earlier)
PairTuple = tuple  # (value, revision, created) or (value, revision, created, lease)


@dataclass
class SnapshotState:
    """Everything a snapshot holds."""

    revision: int = 0
    pairs: dict[str, PairTuple] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    upgraded_from_seed: bool = False
    leases: dict[int, int] = field(default_factory=dict)  # live lease id -> TTL in seconds
    lease_seq: int = 0  # the highest lease id ever granted


def load(path: Path) -> SnapshotState:
    """Read ``path`` (absent = empty store); refuse anything that is not kvstore data."""
    try:
        with path.open("rb") as handle:
            data = safe_pickle.load(handle)
    except FileNotFoundError:
        return SnapshotState()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        raise CorruptStore(
            f"{path} is not a readable kvstore snapshot ({exc}); refusing to start rather "
            "than start empty. Restore it from a backup or move it aside"
        ) from None
    if _is_seed_dict(data):
        return _upgrade_seed(data, path)
    if isinstance(data, dict) and data.get("kvstore") == FORMAT:
        return _from_format_2(data, path)
    return _from_format_1(data, path)


def dump(path: Path, state: SnapshotState) -> int:
    """Write ``state`` atomically (temp file, fsync, rename, fsync directory); returns its size."""
    document = {
        "kvstore": FORMAT,
        "revision": state.revision,
        "pairs": state.pairs,
        "events": [tuple(event) for event in state.events],
        "leases": state.leases,
        "lease_seq": state.lease_seq,
    }
    data = pickle.dumps(document, protocol=5)
    write_atomically(path, data)
    return len(data)


def _is_seed_dict(data: Any) -> bool:
    """The flask server pickled a bare dict of str to str."""
    return (
        isinstance(data, dict)
        and "kvstore" not in data
        and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
    )


def _upgrade_seed(data: dict[str, str], path: Path) -> SnapshotState:
    """Give each seed pair its own revision, in key order, so revisions start meaningful."""
    pairs = {key: (data[key], rev, rev) for rev, key in enumerate(sorted(data), start=1)}
    logger.warning("%s is a seed-format store with %d pairs; upgrading it to kvstore format", path, len(pairs))
    return SnapshotState(revision=len(pairs), pairs=pairs, upgraded_from_seed=True)


def _from_format_1(data: Any, path: Path) -> SnapshotState:
    """Check the document's shape and types (``shapes``); a wrong one is corruption, not an empty store."""
    if not isinstance(data, dict) or data.get("kvstore") != FORMAT_1:
        raise CorruptStore(f"{path} is a pickle but not a kvstore snapshot; refusing to start")
    return _checked(data, path, leased=False)


def _from_format_2(data: dict[str, Any], path: Path) -> SnapshotState:
    """Format 1's checks, with leased pairs and 12-field events, plus the leases themselves."""
    return _checked(data, path, leased=True)


def _checked(data: dict[str, Any], path: Path, leased: bool) -> SnapshotState:
    try:
        revision = shapes.revision(data["revision"])
        pairs = shapes.pairs(data["pairs"], revision, leased)
        events = shapes.events(data["events"], revision)
        leases, lease_seq = shapes.leases(data["leases"], data["lease_seq"], pairs) if leased else ({}, 0)
    except KeyError as exc:
        raise CorruptStore(f"{path} is a damaged kvstore snapshot (it has no {exc}); refusing to start") from None
    except ValueError as exc:
        raise CorruptStore(f"{path} is a damaged kvstore snapshot ({exc}); refusing to start") from None
    return SnapshotState(revision=revision, pairs=pairs, events=events, leases=leases, lease_seq=lease_seq)
