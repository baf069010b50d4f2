"""A damaged journal is refused, a torn tail is set aside and dropped: never an acknowledged write lost.

Every record in the journals below was acknowledged, so each start must either refuse with
CorruptStore or load every record. The sweeps flip bits (and whole bytes) at every offset of a
journal in the format written today and of the v1 fixture's journal (the format before
record headers had checksums), and cut the last record at every offset.
"""

from __future__ import annotations

import logging
import pickle
import shutil
import struct
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from kvapp.store.errors import CorruptStore
from kvapp.store.pickle import journal, records
from kvapp.store.pickle.store import PickleStore
from tests.store.test_formats import FIXTURES, V1_PAIRS

FLIPS = (0x01, 0x10, 0x80, 0xFF)  # the lowest bit, a middle one, the highest, all eight
WRITES = 5  # records in the format-2 journal swept below
V1_REVISION = 12  # the v1 fixture's last revision (4 journal records after a snapshot at 8)
V1_JOURNAL = (FIXTURES / "data-v1" / "store.pickle.journal").read_bytes()
V1_SNAPSHOT = (FIXTURES / "data-v1" / "store.pickle").read_bytes()


async def journal_of_acknowledged_writes(tmp_path: Path, writes: int = WRITES) -> bytes:
    """The bytes of a journal holding ``writes`` acknowledged puts, as a kill -9 leaves it."""
    (tmp_path / "writer").mkdir(exist_ok=True)
    store = PickleStore(tmp_path / "writer" / "store.pickle")
    for number in range(writes):
        await store.put(f"key/{number}", "v" * (number * 7))  # records of different lengths
    data = store.journal_path.read_bytes()
    store.close()
    return data


def record_starts(data: bytes) -> list[int]:
    """Where each record of a format-2 journal starts."""
    starts, offset = [], len(records.FILE_HEADER)
    while offset < len(data):
        starts.append(offset)
        offset += records.HEADER.size + records.HEADER.unpack_from(data, offset)[0]
    return starts


def legacy_record_starts(data: bytes) -> list[int]:
    """Where each record of a format-1 journal starts."""
    starts, offset = [], 0
    while offset < len(data):
        starts.append(offset)
        offset += records.LEGACY_HEADER.size + records.LEGACY_HEADER.unpack_from(data, offset)[0]
    return starts


def legacy_frame(payload: bytes) -> bytes:
    """A record as the previous code framed it: ``<length:u32><crc32:u32><payload>``."""
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def start_on(directory: Path, files: dict[str, bytes]) -> tuple[int, int] | None:
    """Start a store on exactly ``files``: (revision, keys) if it opens, None if it refuses (files untouched)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    try:
        store = PickleStore(directory / "store.pickle")
    except CorruptStore:
        assert {name: (directory / name).read_bytes() for name in files} == files, "a refused start changed a file"
        return None
    try:
        return store.index.revision, len(store.index.pairs)
    finally:
        store.close()


def sweep_flips(directory: Path, files: dict[str, bytes], name: str, complete: tuple[int, int]) -> Counter[str]:
    """Start on every single-byte flip of ``files[name]``; count refusals and full loads, fail on anything else."""
    outcomes: Counter[str] = Counter()
    original = files[name]
    for position in range(len(original)):
        for mask in FLIPS:
            damaged = bytearray(original)
            damaged[position] ^= mask
            opened = start_on(directory, {**files, name: bytes(damaged)})
            assert opened in (None, complete), f"flip {mask:#04x} at byte {position}: opened with {opened}"
            outcomes["refused" if opened is None else "loaded everything"] += 1
    return outcomes


async def test_every_flipped_byte_of_a_journal_is_refused_or_harmless(tmp_path: Path) -> None:
    data = await journal_of_acknowledged_writes(tmp_path)
    assert len(record_starts(data)) == WRITES
    outcomes = sweep_flips(tmp_path / "trial", {"store.pickle.journal": data}, "store.pickle.journal", (WRITES, WRITES))
    assert sum(outcomes.values()) == len(data) * len(FLIPS)
    assert outcomes["refused"] == len(data) * len(FLIPS), "every byte is under a checksum or the file header"


def test_every_flipped_byte_of_a_v1_journal_is_refused_or_harmless(tmp_path: Path) -> None:
    files = {"store.pickle": V1_SNAPSHOT, "store.pickle.journal": V1_JOURNAL}
    outcomes = sweep_flips(tmp_path / "trial", files, "store.pickle.journal", (V1_REVISION, len(V1_PAIRS)))
    assert outcomes["refused"] == len(V1_JOURNAL) * len(FLIPS)


async def test_a_torn_last_record_of_every_length_is_saved_aside_and_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = await journal_of_acknowledged_writes(tmp_path)
    last = record_starts(data)[-1]
    for cut in range(last + 1, len(data)):
        directory = tmp_path / f"cut-{cut}"
        caplog.clear()
        assert start_on(directory, {"store.pickle.journal": data[:cut]}) == (WRITES - 1, WRITES - 1), cut
        assert (directory / "store.pickle.journal.1.broken").read_bytes() == data[last:cut]
        assert "unfinished record" in caplog.text and "store.pickle.journal.1.broken" in caplog.text


def test_a_torn_last_record_of_a_v1_journal_is_saved_aside_and_dropped(tmp_path: Path) -> None:
    last = legacy_record_starts(V1_JOURNAL)[-1]
    for cut in range(last + 1, len(V1_JOURNAL)):
        directory = tmp_path / f"cut-{cut}"
        files = {"store.pickle": V1_SNAPSHOT, "store.pickle.journal": V1_JOURNAL[:cut]}
        assert start_on(directory, files) == (V1_REVISION - 1, len(V1_PAIRS) - 1), cut
        assert (directory / "store.pickle.journal.1.broken").read_bytes() == V1_JOURNAL[last:cut]


async def test_a_torn_header_of_the_last_record_and_a_zero_filled_tail_count_as_torn(tmp_path: Path) -> None:
    data = await journal_of_acknowledged_writes(tmp_path)
    for tail in (b"\x07", b"\x07\x00\x00\x00\x12\x34", b"\0" * 300):
        directory = tmp_path / f"tail-{len(tail)}"
        assert start_on(directory, {"store.pickle.journal": data + tail}) == (WRITES, WRITES)
        assert (directory / "store.pickle.journal.1.broken").read_bytes() == tail


async def test_a_second_torn_tail_never_overwrites_the_first_saved_one(tmp_path: Path) -> None:
    data = await journal_of_acknowledged_writes(tmp_path)
    directory = tmp_path / "data"
    directory.mkdir()
    for tail in (b"first", b"second"):
        (directory / "store.pickle.journal").write_bytes(data + tail)
        PickleStore(directory / "store.pickle").close()
    assert (directory / "store.pickle.journal.1.broken").read_bytes() == b"first"
    assert (directory / "store.pickle.journal.2.broken").read_bytes() == b"second"


async def test_a_damaged_length_in_the_middle_names_the_file_and_the_offset(tmp_path: Path) -> None:
    """Issue #15.1: a flipped length bit in record 4 of 100 used to drop 97 acknowledged writes."""
    data = bytearray(await journal_of_acknowledged_writes(tmp_path, writes=100))
    fourth = record_starts(bytes(data))[3]
    data[fourth + 2] ^= 0x01  # bit 16 of the length: the record now runs far past the end of the file
    directory = tmp_path / "data"
    with pytest.raises(CorruptStore) as refused:
        start_raising(directory, {"store.pickle.journal": bytes(data)})
    message = str(refused.value)
    assert f"journal {directory / 'store.pickle.journal'} is damaged at byte {fourth} " in message
    assert "truncate" in message and "\n" not in message


def start_raising(directory: Path, files: dict[str, bytes]) -> None:
    """Start on ``files`` and close again; a refusal propagates."""
    directory.mkdir(parents=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    PickleStore(directory / "store.pickle").close()


@pytest.mark.parametrize(
    ("what", "damage"),
    [
        ("a length far over the record limit", lambda journal: struct.pack("<I", 0xFFFF_FFF0) + journal[4:]),
        ("a length past the end of the file", lambda journal: struct.pack("<I", 60_000) + journal[4:]),
        ("a last record's length past the end", lambda journal: _patch_last_record(journal, 0, 60_000)),
        ("a last record's checksum", lambda journal: _patch_last_record(journal, 4, 12345)),
    ],
)
def test_a_v1_journal_whose_damage_looks_like_a_torn_tail_is_refused(
    tmp_path: Path, what: str, damage: Callable[[bytes], bytes]
) -> None:
    with pytest.raises(CorruptStore, match="damaged at byte"):
        start_raising(tmp_path / "data", {"store.pickle": V1_SNAPSHOT, "store.pickle.journal": damage(V1_JOURNAL)})


def _patch_last_record(journal: bytes, field: int, value: int) -> bytes:
    """The v1 journal with the u32 at ``field`` (0: length, 4: checksum) of its last record replaced."""
    at = legacy_record_starts(journal)[-1] + field
    return journal[:at] + struct.pack("<I", value) + journal[at + 4 :]


async def test_a_complete_last_record_with_a_bad_checksum_is_damage_not_a_torn_tail(tmp_path: Path) -> None:
    data = bytearray(await journal_of_acknowledged_writes(tmp_path))
    data[-1] ^= 0x01
    with pytest.raises(CorruptStore, match="payload checksum"):
        start_raising(tmp_path / "data", {"store.pickle.journal": bytes(data)})


async def test_a_damaged_file_header_is_refused_not_read_as_the_old_format(tmp_path: Path) -> None:
    data = bytearray(await journal_of_acknowledged_writes(tmp_path))
    data[0:3] = b"XYZ"  # three of its eight bytes
    with pytest.raises(CorruptStore, match="file header is damaged"):
        start_raising(tmp_path / "data", {"store.pickle.journal": bytes(data)})


async def test_a_record_running_past_the_end_with_a_whole_record_after_it_is_damage(tmp_path: Path) -> None:
    data = await journal_of_acknowledged_writes(tmp_path)
    second = record_starts(data)[1]
    length, checksum = 50_000, 0
    header = struct.pack("<II", length, checksum)
    forged = data[:second] + header + struct.pack("<I", zlib.crc32(header)) + data[second:]
    with pytest.raises(CorruptStore, match=f"whole one starts at byte {second + records.HEADER.size}"):
        start_raising(tmp_path / "data", {"store.pickle.journal": forged})


def test_a_v1_journal_is_replayed_folded_and_new_writes_go_to_a_format_2_journal(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "data-v1", tmp_path / "data")
    path = tmp_path / "data" / "store.pickle"
    store = PickleStore(path)
    assert store.index.revision == V1_REVISION
    assert not journal.is_legacy(store.journal_path), "folded at start: no v1 journal is left to append to"
    assert store.journal_path.read_bytes() == records.FILE_HEADER
    store.close()


async def test_new_records_are_appended_after_the_file_header_and_read_back(tmp_path: Path) -> None:
    data = await journal_of_acknowledged_writes(tmp_path)
    assert data.startswith(records.FILE_HEADER)
    scan = records.scan(data)
    assert (len(scan.payloads), scan.good_end, scan.torn, scan.damaged_at, scan.legacy) == (
        WRITES,
        len(data),
        False,
        None,
        False,
    )


def test_a_journal_cut_inside_its_file_header_is_an_empty_torn_journal(tmp_path: Path) -> None:
    for size in range(1, len(records.FILE_HEADER)):
        assert start_on(tmp_path / f"header-{size}", {"store.pickle.journal": records.FILE_HEADER[:size]}) == (0, 0)


def test_a_v1_journal_framed_by_hand_still_reads(tmp_path: Path) -> None:
    hand_written = legacy_frame(pickle.dumps((1, "put", "a", "x", 1, None), protocol=5))
    assert start_on(tmp_path / "data", {"store.pickle.journal": hand_written}) == (1, 1)


def test_the_warning_names_the_file_the_torn_tail_was_saved_to(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = records.frame(pickle.dumps((1, "put", "a", "x", 1, None), protocol=5))
    with caplog.at_level(logging.WARNING):
        assert start_on(tmp_path / "data", {"store.pickle.journal": records.FILE_HEADER + good + good[:5]}) == (1, 1)
    (warning,) = [r for r in caplog.records if "unfinished record" in r.getMessage()]
    assert (
        warning.levelno == logging.WARNING
        and str(tmp_path / "data" / "store.pickle.journal.1.broken") in warning.getMessage()
    )
