"""Framing of journal records, and telling a torn tail (drop it) from damage (refuse to start).

Format 2, written today: the file starts with ``FILE_HEADER``, then records
``<length:u32><payload crc32:u32><header crc32:u32><payload>``, little-endian, where the
header checksum covers the length and the payload checksum. Format 1, only read (journals
written before it): no file header, records ``<length:u32><crc32:u32><payload>``.

Without a checksum of its own, a length damaged upwards made the record look cut short by
a crash, and every record after it was dropped as a "torn tail" (issue #15.1). Now a torn
tail can only be the bytes of the last write:

- fewer bytes than a record header at the end of the file;
- a record whose header checks out but which runs past the end of the file;
- zeros from a record's start to the end of the file (the file grew before the data landed).

Anything else is damage, also a complete last record whose payload checksum is wrong, and a
"torn" tail inside which a valid record starts: a crash cannot leave a whole record after
an unfinished one. Format 1 has no header checksum, so there a length over the record limit
is damage, and so is a record running past the end of the file whose bytes up to some
earlier end check out (the length was damaged, not the write cut short).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

# First byte has the high bit set (as PNG's), so as a format-1 length it is over the limit.
FILE_HEADER = b"\x89kvj\r\n\x1a\x02"
HEADER = struct.Struct("<III")  # length, payload crc32, crc32 of the 8 bytes before it
CHECKED = 8  # header bytes the header checksum covers
LEGACY_HEADER = struct.Struct("<II")  # format 1: length, payload crc32
MAX_RECORD_BYTES = 256 * 1024 * 1024  # 256mb: far above any legal record; larger = damage
# A file whose first bytes match FILE_HEADER in at least this many places is a format-2
# journal with a damaged header: reading it as format 1 would call all of it a torn tail.
HEADER_LIKENESS = 4


def frame(payload: bytes) -> bytes:
    """Wrap one payload in its (format 2) header."""
    start = struct.pack("<II", len(payload), zlib.crc32(payload))
    return start + struct.pack("<I", zlib.crc32(start)) + payload


@dataclass(frozen=True)
class Scan:
    """What :func:`scan` found: the good payloads, where they end, and what follows them."""

    payloads: list[bytes]
    good_end: int  # offset just past the last good record (or the file header)
    torn: bool  # the bytes after good_end are an unfinished last write
    damaged_at: int | None = None  # offset of bytes that no crash explains
    damage: str = ""  # what is wrong there, for the operator
    legacy: bool = False  # format 1 (no file header)


def scan(data: bytes) -> Scan:
    """Split a journal file's bytes into payloads, classifying anything that does not check out."""
    if data.startswith(FILE_HEADER):
        return _scan(data, len(FILE_HEADER))
    if len(data) < len(FILE_HEADER) and (FILE_HEADER.startswith(data) or not data.strip(b"\0")):
        return Scan([], 0, torn=bool(data))  # the file header itself was cut short
    if sum(a == b for a, b in zip(data, FILE_HEADER, strict=False)) >= HEADER_LIKENESS:
        return Scan([], 0, torn=False, damaged_at=0, damage="its file header is damaged")
    return _scan_legacy(memoryview(data))


def _scan(data: bytes, offset: int) -> Scan:
    """Format 2: the records after the file header at ``offset``, then what stopped them."""
    payloads, offset = _good_records(data, offset)
    view = memoryview(data)
    if offset == len(data):
        return Scan(payloads, offset, torn=False)
    if len(data) - offset < HEADER.size:
        return Scan(payloads, offset, torn=True)
    length, _, header_checksum = HEADER.unpack_from(data, offset)
    if zlib.crc32(view[offset : offset + CHECKED]) != header_checksum:
        if _all_zeros(view[offset:]):
            return Scan(payloads, offset, torn=True)
        return _damage(payloads, offset, "a record header's checksum does not match (a damaged length?)")
    if not 0 < length <= MAX_RECORD_BYTES:
        return _damage(payloads, offset, f"a record claims {length} bytes")
    if offset + HEADER.size + length <= len(data):
        return _damage(payloads, offset, "a complete record's payload checksum does not match")
    if (later := _next_record(view, offset + 1)) is not None:
        return _damage(payloads, offset, f"a record runs past the end, yet a whole one starts at byte {later}")
    return Scan(payloads, offset, torn=True)


def _good_records(data: bytes, offset: int) -> tuple[list[bytes], int]:
    """The payloads of the records from ``offset`` on that check out whole, and where they stop.

    The hot loop of every start: plain bytes slices, no memoryview objects, nothing else.
    """
    payloads: list[bytes] = []
    while offset + HEADER.size <= len(data):
        length, checksum, header_checksum = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        end = start + length
        if end > len(data) or zlib.crc32(data[offset : offset + CHECKED]) != header_checksum:
            break
        payload = data[start:end]
        if not length or zlib.crc32(payload) != checksum:
            break
        payloads.append(payload)
        offset = end
    return payloads, offset


def _scan_legacy(data: memoryview) -> Scan:
    """Format 1: records from the first byte, judged more strictly for want of a header checksum."""
    payloads: list[bytes] = []
    offset = 0
    while (payload := _legacy_record(data, offset)) is not None:
        payloads.append(bytes(payload))
        offset += LEGACY_HEADER.size + len(payload)
    rest = data[offset:]
    if len(rest) < LEGACY_HEADER.size or _all_zeros(rest):
        return Scan(payloads, offset, torn=bool(rest), legacy=True)
    length, checksum = LEGACY_HEADER.unpack_from(rest, 0)
    if not 0 < length <= MAX_RECORD_BYTES:
        problem = f"a record claims {length} bytes"
    elif LEGACY_HEADER.size + length <= len(rest):
        problem = "a complete record's checksum does not match"
    elif (later := _next_legacy_record(data, offset + 1)) is not None:
        problem = f"a record runs past the end, yet a whole one starts at byte {later}"
    elif (short := _prefix_with_checksum(rest[LEGACY_HEADER.size :], checksum)) is not None:
        problem = f"a record runs past the end, yet its first {short} bytes check out (a damaged length)"
    else:
        return Scan(payloads, offset, torn=True, legacy=True)
    return Scan(payloads, offset, torn=False, damaged_at=offset, damage=problem, legacy=True)


def _all_zeros(data: memoryview) -> bool:
    """Nothing but zero bytes (what a file that grew before its data landed reads as)."""
    return not data.tobytes().strip(b"\0")


def _damage(payloads: list[bytes], offset: int, problem: str) -> Scan:
    """A format-2 scan that stopped at damage."""
    return Scan(payloads, offset, torn=False, damaged_at=offset, damage=problem)


def _next_record(data: memoryview, start: int) -> int | None:
    """The offset of the first format-2 record at or after ``start`` that checks out whole."""
    for offset in range(start, len(data) - HEADER.size + 1):
        length, checksum, header_checksum = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if (
            length > 0
            and end <= len(data)
            and zlib.crc32(data[offset : offset + CHECKED]) == header_checksum
            and zlib.crc32(data[offset + HEADER.size : end]) == checksum
        ):
            return offset
    return None


def _legacy_record(data: memoryview, offset: int) -> memoryview | None:
    """The payload of the format-1 record at ``offset`` if it checks out whole, else None."""
    if offset + LEGACY_HEADER.size > len(data):
        return None
    length, checksum = LEGACY_HEADER.unpack_from(data, offset)
    end = offset + LEGACY_HEADER.size + length
    if not 0 < length <= MAX_RECORD_BYTES or end > len(data):
        return None
    payload = data[offset + LEGACY_HEADER.size : end]
    return payload if zlib.crc32(payload) == checksum else None


def _next_legacy_record(data: memoryview, start: int) -> int | None:
    """The offset of the first format-1 record at or after ``start`` that checks out whole."""
    for offset in range(start, len(data) - LEGACY_HEADER.size + 1):
        if _legacy_record(data, offset) is not None:
            return offset
    return None


def _prefix_with_checksum(data: memoryview, checksum: int) -> int | None:
    """The length of the shortest non-empty prefix of ``data`` whose crc32 is ``checksum``, or None."""
    running = 0
    for size in range(1, len(data) + 1):
        running = zlib.crc32(data[size - 1 : size], running)
        if running == checksum:
            return size
    return None
