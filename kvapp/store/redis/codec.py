"""The forms pairs, events and transactions take in Redis and in the scripts' arguments.

They are the scripts' formats (``kvapp.store.redis.scripts`` describes them); this module is
their Python side, and it still reads what older code wrote: pairs without a lease and
events of six fields.
"""

from __future__ import annotations

from typing import Any

import orjson

from kvapp.store.base import Event, Pair
from kvapp.store.txn import Op, Txn

LEX_MAX = b"+"  # ZRANGEBYLEX's "no upper bound"
PREFIX_END = b"\xff"  # no UTF-8 byte is 0xff, so prefix + 0xff sorts after every key with prefix
OLD_EVENT_FIELDS = 6  # [revision, type, key, value, created, prev]: events written before leases
COMMIT_FIELD = 12  # the 13th field: the first revision of the event's commit
MS = 1000  # event times and lease deadlines are whole milliseconds on Redis's clock


def pack_pair(pair: Pair) -> str:
    """A pair as ``NS:pairs`` stores it (the same form the scripts write)."""
    created = f"{pair.created}/{pair.lease}" if pair.lease else str(pair.created)
    return f"{pair.revision}:{created}:{pair.value}"


def unpack_pair(key: str, packed: bytes | str) -> Pair:
    """Read ``REVISION:CREATED:VALUE`` or ``REVISION:CREATED/LEASE:VALUE`` back into a Pair."""
    text = packed.decode() if isinstance(packed, bytes) else packed
    revision, middle, value = text.split(":", 2)
    created, _, lease = middle.partition("/")
    return Pair(key, value, int(revision), int(created), int(lease or 0))


def decode_event(raw: bytes | str) -> Event:
    """An event as the scripts push it; one of six fields (older code) has no lease, time or prev_*."""
    fields = orjson.loads(raw)
    revision, kind, key, value, created, prev = fields[:OLD_EVENT_FIELDS]
    head = (int(revision), kind, key, value, None if created is None else int(created), prev)
    if len(fields) == OLD_EVENT_FIELDS:
        return Event(*head)
    lease, reason, time, prev_revision, prev_created, prev_lease = fields[OLD_EVENT_FIELDS:COMMIT_FIELD]
    commit = int(fields[COMMIT_FIELD]) if len(fields) > COMMIT_FIELD else None
    replaced = (int(prev_revision), int(prev_created), int(prev_lease))
    return Event(*head, int(lease), reason, int(time) / MS, *replaced, commit)


def pair_of(event: Event) -> Pair:
    """The pair a put event wrote."""
    assert event.value is not None and event.created is not None
    return Pair(event.key, event.value, event.revision, event.created, event.lease)


def encode_txn(txn: Txn) -> str:
    """The transaction as the TXN script reads it: numbers as decimal strings, "" for none."""
    document = {
        "compare": [[c.key, c.target, c.op, c.value if c.target == "value" else str(c.value)] for c in txn.compare],
        "success": [_op(op) for op in txn.success],
        "failure": [_op(op) for op in txn.failure],
    }
    return orjson.dumps(document).decode()


def _op(op: Op) -> list[str]:
    return [op.kind, op.key, op.value or "", optional(op.lease), optional(op.ttl)]


def optional(number: int | None) -> str:
    """A number argument as the scripts take it: decimal text, "" for none."""
    return "" if number is None else str(number)


def lex_range(prefix: str, after: str | None = None) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds for keys starting with ``prefix`` and strictly after ``after``.

    Redis compares bytes and UTF-8 keeps code point order, so this is Python's str order.
    """
    low = b"[" + prefix.encode() if after is None or after < prefix else b"(" + after.encode()
    high = b"(" + prefix.encode() + PREFIX_END if prefix else LEX_MAX
    return low, high


def strings(items: list[Any]) -> list[str]:
    """Bulk replies (bytes) as text."""
    return [item.decode() for item in items]
