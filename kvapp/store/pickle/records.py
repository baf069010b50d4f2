"""Framing of journal records: ``<length:u32><crc32:u32><payload>``, little-endian.

A length and a checksum per record let recovery tell a record cut short by a crash (drop it)
from damage in the middle of the file (refuse to start).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 256 * 1024 * 1024  # 256mb: far above any legal event; larger = damage


def frame(payload: bytes) -> bytes:
    """Wrap one payload in its header."""
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True)
class Scan:
    """What :func:`scan` found: the good payloads, where they end, and what follows."""

    payloads: list[bytes]
    good_end: int  # offset just past the last good record
    torn: bool  # bytes after good_end are an unfinished last record
    damaged_at: int | None  # offset of a bad record that is not at the tail


def scan(data: bytes) -> Scan:
    """Split ``data`` into payloads, classifying anything that does not check out."""
    payloads = list(_iter_good(data))
    good_end = sum(HEADER.size + len(p) for p in payloads)
    if good_end == len(data):
        return Scan(payloads, good_end, torn=False, damaged_at=None)
    if _is_torn_tail(data, good_end):
        return Scan(payloads, good_end, torn=True, damaged_at=None)
    return Scan(payloads, good_end, torn=False, damaged_at=good_end)


def _iter_good(data: bytes) -> Iterator[bytes]:
    """Yield payloads until the first record whose header or checksum is wrong."""
    offset = 0
    view = memoryview(data)
    while offset + HEADER.size <= len(data):
        length, checksum = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if length == 0 or length > MAX_RECORD_BYTES or end > len(data):
            return
        payload = bytes(view[offset + HEADER.size : end])
        if zlib.crc32(payload) != checksum:
            return
        yield payload
        offset = end


def _is_torn_tail(data: bytes, offset: int) -> bool:
    """A bad record is a torn tail if it claims to run to or past EOF, or only zeros follow.

    A crash mid-append leaves a short last record, or (on some filesystems) a tail of zeros
    where the size grew before the data landed. Anything else is damage.
    """
    rest = data[offset:]
    if len(rest) < HEADER.size or not rest.strip(b"\0"):
        return True
    length, _ = HEADER.unpack_from(rest, 0)
    return HEADER.size + length >= len(rest)
