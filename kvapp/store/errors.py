"""One exception per way a store call can fail; ``kvapp.errors`` maps them to HTTP statuses."""

from __future__ import annotations

from typing import Any


class KVError(Exception):
    """Base of every failure kvstore reports to a client or an operator."""


class InvalidRequest(KVError):
    """The request is malformed: bad JSON, a missing field, a wrong type."""


class InvalidKey(InvalidRequest):
    """The key is empty, too long, or holds control characters."""


class ValueTooLarge(KVError):
    """The value (or the whole body) is over the configured limit."""


class KeyNotFound(KVError):
    """The key has no pair."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class RevisionConflict(KVError):
    """A compare-and-swap found another revision than the client expected."""

    def __init__(self, key: str, expected: int, current: dict[str, Any] | None) -> None:
        actual = current["revision"] if current else 0
        why = "someone else changed it" if current else "it does not exist"
        super().__init__(f"key {key!r} is at revision {actual}, not {expected}: {why}")
        self.key = key
        self.current = current


class Compacted(KVError):
    """A watch asked for events older than the oldest one the store still keeps."""

    def __init__(self, oldest: int) -> None:
        super().__init__(f"events before revision {oldest} have been compacted")
        self.oldest = oldest


class StoreUnavailable(KVError):
    """The backend cannot serve now (Redis away, disk failed); retrying later may work."""


class StoreFull(StoreUnavailable):
    """The disk has no room for the journal: writes are refused, changing nothing, until space is freed."""


class StoreLocked(KVError):
    """Another server process owns the data file."""


class CorruptStore(KVError):
    """The data on disk is damaged in a way kvstore will not guess its way past."""


class BadExport(KVError):
    """The input is not a kvstore export, or one of its lines is damaged."""


class StoreNotEmpty(KVError):
    """An import must go into an empty store, so no existing revision is overwritten."""


class FutureRevision(InvalidRequest):
    """A read asked for a revision the store has not reached."""

    def __init__(self, revision: int, current: int) -> None:
        super().__init__(f"revision {revision} is beyond the store's revision {current}")
        self.revision = revision


class LeaseNotFound(KVError):
    """The lease does not exist: never granted, expired or revoked."""

    def __init__(self, lease: int) -> None:
        super().__init__(f"lease {lease} not found (it expired, was revoked, or never existed)")
        self.lease = lease


class TooManyLeases(KVError):
    """Granting another lease would pass the store's limit of live leases."""
