"""Moving a whole store between backends (and backup/restore) as JSON lines.

The format, one JSON object per line::

    {"format": "kvstore-export", "version": 2, "revision": R, "keys": N, "backend": "pickle", "lease_seq": L}
    {"key": "a", "value": "...", "revision": 3, "created": 1}
    {"key": "locks/x", "value": "...", "revision": 5, "created": 5, "lease": 7, "ttl": 30}
    ...                                       (pairs in ascending key order)

A restore keeps every pair's ``revision`` and ``created`` and sets the store's revision to
the highest one seen, so a revision is never reused after a restore either. Retained events
are not carried: a watcher resuming from before the restore is told ``compacted``.

A backup is older than the store it replaces, whose clients may have seen revisions past
the backup's. ``bump`` (``kv_import --bump-revision N``, etcd's ``--bump-revision
--mark-compacted``) starts the restored store N revisions above the file's, so its next
writes take revisions no client has seen, and every read or watch from before the import is
told ``compacted``.

A pair attached to a lease carries the lease's id and TTL (format 2). A restore brings each
such lease back under its own id with a full TTL from the moment of the import, as a restart
does and as etcd's snapshot restore does: its owner can go on renewing it, and if the owner is
gone the lease expires and takes its keys with it. Without this a restored lock or service
registration would never expire. Leases with no keys are not carried: they protect nothing.
The header's ``lease_seq`` (the highest id ever granted) makes the restored store grant new
ids above it, so no client's old lease id is ever handed to someone else.
Format 1 files (written before leases were exported) load as before, their pairs without a
lease.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kvapp.store.base import MAX_PAGE_SIZE, Pair, Store
from kvapp.store.errors import BadExport, KVError, LeaseNotFound, StoreNotEmpty
from kvapp.store.validation import MAX_REVISION, Limits, check_key, check_ttl, check_value, is_whole_number

FORMAT_NAME = "kvstore-export"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # format 1: the same, without leases


@dataclass(frozen=True)
class Header:
    """The first line of an export: where it came from and how big it is."""

    revision: int
    keys: int
    backend: str
    lease_seq: int = 0  # the highest lease id the store ever granted (format 2)


# --- export -------------------------------------------------------------------------------


async def export_header(store: Store) -> Header:
    """Read the revision and size to write first (and to size a progress bar)."""
    stats = await store.stats()
    return Header(stats.revision, stats.keys, stats.backend, stats.lease_seq)


def encode_header(header: Header) -> str:
    """The header line, newline included."""
    document = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **header.__dict__}
    return orjson.dumps(document).decode() + "\n"


async def export_pairs(store: Store) -> AsyncIterator[str]:
    """Every pair as a line, paging through the store in key order.

    Each page is consistent in itself; for an exact point-in-time copy of a live Redis
    store, export while no writes are made (every line still carries its own revision). A
    pair whose lease ended while the export ran is left out: its key is deleted with it.
    """
    ttls = await _lease_ttls(store)
    after: str | None = None
    while True:
        page = await store.list(after=after, limit=MAX_PAGE_SIZE)
        for pair in page.items:
            if pair.lease and pair.lease not in ttls:
                ttls[pair.lease] = await _ttl_now(store, pair.lease)  # granted while this ran
            if pair.lease and ttls[pair.lease] is None:
                continue
            yield orjson.dumps(_line(pair, ttls.get(pair.lease))).decode() + "\n"
        if page.next is None:
            return
        after = page.next


async def _lease_ttls(store: Store) -> dict[int, int | None]:
    """Every live lease's TTL, read once before the pairs (at most KV_MAX_LEASES of them)."""
    ttls: dict[int, int | None] = {}
    after: int | None = None
    while True:
        page = await store.leases(after=after, limit=MAX_PAGE_SIZE)
        ttls.update((lease.id, lease.ttl) for lease in page.items)
        if page.next is None:
            return ttls
        after = page.next


async def _ttl_now(store: Store, lease: int) -> int | None:
    """The TTL of a lease the first listing did not see, or None if it has ended since."""
    try:
        return (await store.lease(lease)).ttl
    except LeaseNotFound:
        return None


# --- import -------------------------------------------------------------------------------


def read_header(line: str | bytes) -> Header:
    """Parse and check the first line."""
    if not line.strip():
        raise BadExport("the input is empty or starts with a blank line: not a kvstore export")
    document = _parse(line, 1)
    if document.get("format") != FORMAT_NAME or document.get("version") not in READABLE_VERSIONS:
        versions = " or ".join(str(version) for version in READABLE_VERSIONS)
        raise BadExport(f"line 1 is not a {FORMAT_NAME} version {versions} header")
    revision, keys, lease_seq = document.get("revision"), document.get("keys"), document.get("lease_seq", 0)
    if not is_whole_number(revision) or not is_whole_number(keys) or not is_whole_number(lease_seq):
        raise BadExport(f"line 1: revision, keys and lease_seq must be whole numbers from 0 to {MAX_REVISION}")
    return Header(revision, keys, str(document.get("backend", "")), lease_seq)


def read_pairs(
    lines: Iterable[str | bytes], limits: Limits, lease_ttls: dict[int, int] | None = None, max_ttl: int = 0
) -> Iterator[Pair]:
    """Parse the pair lines that follow the header lazily, checking each against ``limits``;
    blank lines are skipped. Each lease met is recorded in ``lease_ttls`` (id: TTL) as the
    lines are read, its TTL checked against ``max_ttl``; without ``lease_ttls`` a pair with a
    lease is refused."""
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
        if not is_whole_number(revision) or not is_whole_number(created) or not 1 <= created <= revision:
            raise BadExport(
                f"line {number}: revision and created must be whole numbers, 1 <= created <= revision <= {MAX_REVISION}"
            )
        if previous is not None and key <= previous:
            raise BadExport(f"line {number}: key {key!r} is out of order or repeated (exports are sorted by key)")
        previous = key
        yield Pair(key, value, revision, created, _lease_of(document, number, lease_ttls, max_ttl))


def _lease_of(document: dict[str, Any], number: int, lease_ttls: dict[int, int] | None, max_ttl: int) -> int:
    """The lease id of a pair line (0: none), its TTL recorded; BadExport naming the line."""
    lease, ttl = document.get("lease"), document.get("ttl")
    if lease is None and ttl is None:
        return 0
    if lease_ttls is None:
        raise BadExport(f"line {number}: a pair with a lease needs an export of version 2")
    if not is_whole_number(lease) or not lease:
        raise BadExport(f'line {number}: "lease" must be a whole number from 1 to {MAX_REVISION}, with its "ttl"')
    try:
        ttl = check_ttl(ttl, max_ttl)
    except KVError as exc:
        raise BadExport(f"line {number}: lease {lease}: {exc}") from None
    if lease_ttls.setdefault(lease, ttl) != ttl:
        raise BadExport(f"line {number}: lease {lease} has ttl {lease_ttls[lease]} on an earlier line and {ttl} here")
    return lease


def _line(pair: Pair, ttl: int | None) -> dict[str, Any]:
    """A pair as an export line, with its lease's id and TTL when it has one."""
    line: dict[str, Any] = {"key": pair.key, "value": pair.value, "revision": pair.revision, "created": pair.created}
    if pair.lease:
        line["lease"], line["ttl"] = pair.lease, ttl
    return line


async def restore(
    store: Store, header: Header, pairs: Iterable[Pair], bump: int = 0, lease_ttls: Mapping[int, int] | None = None
) -> int:
    """Load an export into ``store``, which must be empty; returns the number of pairs.

    Either every pair is loaded or none is: a bad line stops the import before anything
    becomes visible. The store starts ``bump`` revisions above the export's. ``lease_ttls``
    is the mapping ``read_pairs`` fills while ``pairs`` is read: the leases to bring back.
    """
    if bump < 0:
        raise BadExport("the revision bump must be a whole number from 0")
    _check_fits(store, header.revision + bump, "line 1: revision plus the bump is")
    stats = await store.stats()
    if stats.revision or stats.keys or stats.leases:
        raise StoreNotEmpty(
            f"the target {stats.backend} store is not empty (revision {stats.revision}, {stats.keys} keys, "
            f"{stats.leases} leases); import only into a new, empty store"
        )
    leases = {} if lease_ttls is None else lease_ttls
    return await store.restore(_within(pairs, store), header.revision + bump, leases, header.lease_seq)


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
