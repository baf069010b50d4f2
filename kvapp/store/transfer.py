"""Moving a whole store between backends (and backup/restore) as JSON lines.

The format, one JSON object per line::

    {"format": "kvstore-export", "version": 1, "revision": R, "keys": N, "backend": "pickle"}
    {"key": "a", "value": "...", "revision": 3, "created": 1}
    ...                                       (pairs in ascending key order)

A restore keeps every pair's ``revision`` and ``created`` and sets the store's revision to
the highest one seen, so a revision is never reused after a restore either. Retained events
are not carried: a watcher resuming from before the restore is told ``compacted``.

A backup is older than the store it replaces, whose clients may have seen revisions past
the backup's. ``bump`` (``kv_import --bump-revision N``, etcd's ``--bump-revision
--mark-compacted``) starts the restored store N revisions above the file's, so its next
writes take revisions no client has seen, and every read or watch from before the import is
told ``compacted``. Leases are not carried: imported pairs have none (a lease is a promise
of a live owner, which a backup cannot make).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from kvapp.store.base import MAX_PAGE_SIZE, Pair, Store
from kvapp.store.errors import BadExport, KVError, StoreNotEmpty
from kvapp.store.validation import MAX_REVISION, Limits, check_key, check_value

FORMAT_NAME = "kvstore-export"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Header:
    """The first line of an export: where it came from and how big it is."""

    revision: int
    keys: int
    backend: str


# --- export -------------------------------------------------------------------------------


async def export_header(store: Store) -> Header:
    """Read the revision and size to write first (and to size a progress bar)."""
    stats = await store.stats()
    return Header(stats.revision, stats.keys, stats.backend)


def encode_header(header: Header) -> str:
    """The header line, newline included."""
    document = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **header.__dict__}
    return orjson.dumps(document).decode() + "\n"


async def export_pairs(store: Store) -> AsyncIterator[str]:
    """Every pair as a line, paging through the store in key order.

    Each page is consistent in itself; for an exact point-in-time copy of a live Redis
    store, export while no writes are made (every line still carries its own revision).
    """
    after: str | None = None
    while True:
        page = await store.list(after=after, limit=MAX_PAGE_SIZE)
        for pair in page.items:
            yield orjson.dumps(_line(pair)).decode() + "\n"
        if page.next is None:
            return
        after = page.next


# --- import -------------------------------------------------------------------------------


def read_header(line: str | bytes) -> Header:
    """Parse and check the first line."""
    if not line.strip():
        raise BadExport("the input is empty or starts with a blank line: not a kvstore export")
    document = _parse(line, 1)
    if document.get("format") != FORMAT_NAME or document.get("version") != FORMAT_VERSION:
        raise BadExport(f"line 1 is not a {FORMAT_NAME} version {FORMAT_VERSION} header")
    revision, keys = document.get("revision"), document.get("keys")
    if not _is_count(revision) or not _is_count(keys):
        raise BadExport(f"line 1: revision and keys must be whole numbers from 0 to {MAX_REVISION}")
    return Header(revision, keys, str(document.get("backend", "")))


def read_pairs(lines: Iterable[str | bytes], limits: Limits) -> Iterator[Pair]:
    """Parse the pair lines that follow the header lazily, checking each against ``limits``;
    blank lines are skipped."""
    previous: str | None = None
    for number, line in enumerate(lines, start=2):  # line 1 is the header
        if not line.strip():
            continue
        document = _parse(line, number)
        try:
            key = check_key(document.get("key"), limits.max_key_bytes)
            value = check_value(document.get("value"), limits.max_value_bytes)
        except KVError as exc:
            raise BadExport(f"line {number}: {exc}") from None
        revision, created = document.get("revision"), document.get("created")
        if not _is_count(revision) or not _is_count(created) or not 1 <= created <= revision:
            raise BadExport(
                f"line {number}: revision and created must be whole numbers, 1 <= created <= revision <= {MAX_REVISION}"
            )
        if previous is not None and key <= previous:
            raise BadExport(f"line {number}: key {key!r} is out of order or repeated (exports are sorted by key)")
        previous = key
        yield Pair(key, value, revision, created)


def _line(pair: Pair) -> dict[str, Any]:
    """A pair as an export line: no lease (see the module docstring)."""
    return {"key": pair.key, "value": pair.value, "revision": pair.revision, "created": pair.created}


async def restore(store: Store, header: Header, pairs: Iterable[Pair], bump: int = 0) -> int:
    """Load an export into ``store``, which must be empty; returns the number of pairs.

    Either every pair is loaded or none is: a bad line stops the import before anything
    becomes visible. The store starts ``bump`` revisions above the export's.
    """
    if bump < 0:
        raise BadExport("the revision bump must be a whole number from 0")
    _check_fits(store, header.revision + bump, "line 1: revision plus the bump is")
    stats = await store.stats()
    if stats.revision or stats.keys:
        raise StoreNotEmpty(
            f"the target {stats.backend} store is not empty (revision {stats.revision}, {stats.keys} keys); "
            "import only into a new, empty store"
        )
    return await store.restore(_within(pairs, store), header.revision + bump)


def _within(pairs: Iterable[Pair], store: Store) -> Iterator[Pair]:
    """``pairs``, stopping the import at one whose revision the backend cannot keep exactly."""
    for pair in pairs:
        _check_fits(store, pair.revision, f"pair {pair.key!r} has revision")
        yield pair


def _check_fits(store: Store, revision: int, what: str) -> None:
    """BadExport unless the backend keeps ``revision`` exactly."""
    if revision > store.max_revision:
        raise BadExport(
            f"{what} {revision}, beyond what the {store.backend_name} backend keeps exactly ({store.max_revision})"
        )


def _parse(line: str | bytes, number: int) -> dict[str, Any]:
    """One line as a JSON object, or BadExport naming the line."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadExport(f"line {number} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise BadExport(f"line {number} is not a JSON object")
    return document


def _is_count(value: object) -> bool:
    """A whole number from 0 to the largest revision (``True`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REVISION
