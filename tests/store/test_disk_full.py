"""A full disk: writes are refused (StoreFull, HTTP 507) changing nothing, and resume by themselves.

Failures are injected into the journal's write and fdatasync, the snapshot's write and the
torn-tail copy; ``tests/e2e/test_disk_full.py`` fills a real tmpfs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from kvapp.store.errors import KeyNotFound, StoreFull, StoreUnavailable
from kvapp.store.pickle import files, journal, records, snapshot
from kvapp.store.pickle.store import PickleStore
from tests.store.test_formats import FIXTURES


class FullDisk:
    """The journal's appends fail like a full disk while ``full`` is set.

    At ``stage="write"`` half of the batch lands before the error (a short write); at
    ``stage="fdatasync"`` all of it lands in the page cache and the fdatasync fails.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: int = errno.ENOSPC, stage: str = "write") -> None:
        self.full = False
        self.error = error
        self.failures = 0
        real_write_all, real_fdatasync = journal.write_all, os.fdatasync

        def write_all(fd: int, data: bytes | memoryview) -> None:
            if self.full and stage == "write":
                real_write_all(fd, bytes(data)[: len(data) // 2])
                self._fail()
            real_write_all(fd, data)

        def fdatasync(fd: int) -> None:
            if self.full and stage == "fdatasync":
                self._fail()
            real_fdatasync(fd)

        monkeypatch.setattr(journal, "write_all", write_all)
        monkeypatch.setattr(journal.os, "fdatasync", fdatasync)

    def _fail(self) -> None:
        self.failures += 1
        raise OSError(self.error, os.strerror(self.error))


def no_room_for_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every snapshot write fails for lack of space (the journal still has room)."""

    def full(path: Path, state: snapshot.SnapshotState) -> int:
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    monkeypatch.setattr(snapshot, "dump", full)


def crash_copy(store: PickleStore, target: Path) -> PickleStore:
    """Open a copy of the data files as they are now, as after kill -9."""
    target.mkdir()
    for name in (store.path, store.journal_path, store.folding_path):
        if name.exists():
            shutil.copy2(name, target / name.name)
    return PickleStore(target / store.path.name)


async def pairs_of(store: PickleStore) -> dict[str, tuple[str, int]]:
    """Every pair as key -> (value, revision)."""
    return {pair.key: (pair.value, pair.revision) for pair in (await store.list(limit=1000)).items}


@pytest.mark.parametrize("stage", ["write", "fdatasync"])
@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EDQUOT], ids=["ENOSPC", "EDQUOT"])
async def test_a_write_on_a_full_disk_is_refused_changes_nothing_and_writes_resume_by_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str, error: int
) -> None:
    disk = FullDisk(monkeypatch, error, stage)
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    durable = store.journal_path.read_bytes()
    disk.full = True
    with pytest.raises(StoreFull, match="disk is full"):
        await store.put("b", "2")
    with pytest.raises(StoreFull):
        await store.put("a", "changed")
    assert store.journal_path.read_bytes() == durable, "the failed batches were cut off the file"
    assert await pairs_of(store) == {"a": ("1", 1)} and await store.revision() == 1
    assert "disk is full" in (await store.stats()).write_problem
    disk.full = False  # (the copy below reads and writes no journal record)
    killed = crash_copy(store, tmp_path / "killed-while-full")
    assert await pairs_of(killed) == {"a": ("1", 1)}
    killed.close()
    pair, _ = await store.put("b", "2")
    assert pair.revision == 2, "a refused batch takes no revision"
    assert (await store.stats()).write_problem is None
    recovered = crash_copy(store, tmp_path / "killed-after")
    assert await pairs_of(recovered) == {"a": ("1", 1), "b": ("2", 2)}
    recovered.close()
    store.close()


async def test_a_kill_while_the_disk_is_full_loses_nothing_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch, stage="fdatasync")  # the refused bytes did reach the page cache
    store = PickleStore(tmp_path / "store.pickle")
    for number in range(10):
        await store.put(f"k{number}", str(number))
    disk.full = True
    for number in range(10, 15):
        with pytest.raises(StoreFull):
            await store.put(f"k{number}", str(number))
    recovered = crash_copy(store, tmp_path / "killed")
    assert await pairs_of(recovered) == {f"k{n}": (str(n), n + 1) for n in range(10)}
    assert not list((tmp_path / "killed").glob("*.broken")), "no torn tail: the file was cut back"
    recovered.close()
    store.close()


async def test_the_cut_back_reopens_the_file_rather_than_trusting_the_failed_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch, stage="fdatasync")
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    durable = store.journal_path.stat().st_size
    failed_fd = store._journal._fd
    calls: list[tuple[str, tuple]] = []
    real = {name: getattr(journal.os, name) for name in ("close", "open", "ftruncate", "fsync")}

    def spy(name: str) -> Callable[..., object]:
        def call(*args: object) -> object:
            calls.append((name, args))
            return real[name](*args)

        return call

    for name in real:
        monkeypatch.setattr(journal.os, name, spy(name))
    disk.full = True
    with pytest.raises(StoreFull):
        await store.put("b", "2")
    assert [name for name, _ in calls] == ["close", "open", "ftruncate", "fsync"]
    assert calls[0][1] == (failed_fd,) and calls[2][1][1] == durable
    assert store.journal_path.stat().st_size == durable
    store.close()


async def test_concurrent_writes_on_a_full_disk_all_get_store_full_and_none_is_half_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch)
    store = PickleStore(tmp_path / "store.pickle")
    disk.full = True
    outcomes = await asyncio.gather(*(store.put(f"k{n}", "x") for n in range(20)), return_exceptions=True)
    assert all(isinstance(outcome, StoreFull) for outcome in outcomes)
    assert await store.revision() == 0
    disk.full = False
    results = await asyncio.gather(*(store.put(f"k{n}", "x") for n in range(20)))
    assert sorted(pair.revision for pair, _ in results) == list(range(1, 21))
    store.close()
    reopened = PickleStore(store.path)
    assert len(await pairs_of(reopened)) == 20
    reopened.close()


@pytest.mark.parametrize("error", [errno.EIO, errno.EROFS], ids=["EIO", "EROFS"])
async def test_any_other_journal_failure_stops_writes_until_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    disk = FullDisk(monkeypatch, error, stage="fdatasync")
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    disk.full = True
    with pytest.raises(StoreUnavailable) as refused:
        await store.put("b", "2")
    assert not isinstance(refused.value, StoreFull)
    disk.full = False
    with pytest.raises(StoreUnavailable, match="restart the server"):
        await store.put("c", "3")
    assert "until a restart" in (await store.stats()).write_problem
    store.close()


async def test_a_cut_back_that_fails_stops_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = FullDisk(monkeypatch)
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")

    def broken_ftruncate(fd: int, size: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(journal.os, "ftruncate", broken_ftruncate)
    disk.full = True
    with pytest.raises(StoreUnavailable) as refused:
        await store.put("b", "2")
    assert not isinstance(refused.value, StoreFull), "the file's end is unknown: not a clean refusal"
    disk.full = False
    with pytest.raises(StoreUnavailable, match="restart"):
        await store.put("c", "3")
    store.close()


async def test_a_new_journal_that_cannot_get_its_header_on_a_full_disk_is_created_by_a_later_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch)
    disk.full = True
    store = PickleStore(tmp_path / "store.pickle")  # the journal's header cannot be written
    assert not store.journal_path.exists() or store.journal_path.read_bytes() == b""
    with pytest.raises(StoreFull):
        await store.put("a", "1")
    disk.full = False
    await store.put("a", "1")
    assert store.journal_path.read_bytes().startswith(records.FILE_HEADER)
    recovered = crash_copy(store, tmp_path / "killed")
    assert await pairs_of(recovered) == {"a": ("1", 1)}
    recovered.close()
    store.close()


def test_a_snapshot_write_that_runs_out_of_space_removes_its_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_all = files.write_all

    def half_then_full(fd: int, data: bytes | memoryview) -> None:
        real_write_all(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    monkeypatch.setattr(files, "write_all", half_then_full)
    target = tmp_path / "store.pickle"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="No space"):
        files.write_atomically(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert [child.name for child in tmp_path.iterdir()] == ["store.pickle"], "no temp file holds the space"


async def test_a_fold_on_a_full_disk_leaves_no_temp_file_and_is_retried_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_all = files.write_all
    full = True

    def snapshot_write(fd: int, data: bytes | memoryview) -> None:
        if full:
            real_write_all(fd, bytes(data)[:100])
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        real_write_all(fd, data)

    monkeypatch.setattr(files, "write_all", snapshot_write)  # the journal keeps its own reference
    store = PickleStore(tmp_path / "store.pickle", journal_max_bytes=1024)
    for number in range(100):
        await store.put(f"k{number:03}", "v" * 20)
        if store._fold_job is not None:
            concurrent.futures.wait([store._fold_job])
        assert not files.temp_path(store.path).exists()
    assert store.folding_path.exists(), "the journal set aside for the failed fold is kept"
    full = False
    for number in range(100, 200):
        await store.put(f"k{number:03}", "v" * 20)
        if store._fold_job is not None:
            concurrent.futures.wait([store._fold_job])
    assert not store.folding_path.exists(), "a later fold succeeded"
    recovered = crash_copy(store, tmp_path / "killed")
    assert len(await pairs_of(recovered)) == 200
    recovered.close()
    store.close()


async def test_a_start_on_a_full_disk_keeps_the_journal_and_serves_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    for number in range(5):
        await store.put(f"k{number}", str(number))
    written = {f"k{n}": (str(n), n + 1) for n in range(5)}
    directory = tmp_path / "killed"
    directory.mkdir()
    shutil.copy2(store.journal_path, directory)
    store.close()
    with monkeypatch.context() as patch:
        no_room_for_snapshots(patch)
        disk = FullDisk(patch)
        disk.full = True
        full = PickleStore(directory / "store.pickle")  # the fold at start fails: no traceback, no refusal
        assert await pairs_of(full) == written
        with pytest.raises(StoreFull):
            await full.put("new", "x")
        full.close()  # its fold fails too: the journal is kept
    assert (directory / "store.pickle.journal").exists()
    restarted = PickleStore(directory / "store.pickle")
    assert await pairs_of(restarted) == written
    assert not (directory / "store.pickle.journal").read_bytes()[len(records.FILE_HEADER) :], "folded now"
    restarted.close()


async def test_a_first_start_on_a_full_disk_opens_an_empty_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_room_for_snapshots(monkeypatch)
    disk = FullDisk(monkeypatch)
    disk.full = True
    store = PickleStore(tmp_path / "store.pickle")
    assert not store.path.exists()
    assert (await store.stats()).keys == 0
    with pytest.raises(StoreFull):
        await store.put("a", "1")
    disk.full = False
    await store.put("a", "1")
    store.close()
    monkeypatch.undo()
    reopened = PickleStore(store.path)
    assert await pairs_of(reopened) == {"a": ("1", 1)}
    reopened.close()


async def test_a_v1_journal_that_cannot_be_folded_at_start_is_set_aside_and_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(FIXTURES / "data-v1", tmp_path / "data")
    path = tmp_path / "data" / "store.pickle"
    with monkeypatch.context() as patch:
        no_room_for_snapshots(patch)
        store = PickleStore(path)
        assert journal.is_legacy(store.folding_path), "set aside, to replay at the next start"
        assert not journal.is_legacy(store.journal_path), "new records never go to a v1 journal"
        pair, _ = await store.put("after", "upgrade")
        assert pair.revision == 13
        assert store.journal_path.read_bytes().startswith(records.FILE_HEADER)
        store.close()
    reopened = PickleStore(path)
    assert await reopened.revision() == 13 and (await reopened.get("after")).value == "upgrade"
    reopened.close()


def test_a_v1_journal_beside_a_folding_journal_on_a_full_disk_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(FIXTURES / "data-v1", tmp_path / "data")
    path = tmp_path / "data" / "store.pickle"
    (tmp_path / "data" / "store.pickle.journal.folding").write_bytes(b"")
    no_room_for_snapshots(monkeypatch)
    with pytest.raises(StoreFull, match="free some space"):
        PickleStore(path)


async def test_a_torn_tail_that_cannot_be_saved_for_lack_of_space_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    torn = store.journal_path.read_bytes() + b"\x05\x00"
    store.close()
    directory = tmp_path / "killed"
    directory.mkdir()
    (directory / "store.pickle.journal").write_bytes(torn)

    def full(path: Path, data: bytes) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    with monkeypatch.context() as patch:
        patch.setattr(journal, "write_aside", full)
        with pytest.raises(StoreFull, match="free some space"):
            PickleStore(directory / "store.pickle")
    assert (directory / "store.pickle.journal").read_bytes() == torn, "nothing dropped unseen"
    recovered = PickleStore(directory / "store.pickle")
    assert (directory / "store.pickle.journal.1.broken").read_bytes() == b"\x05\x00"
    assert (await recovered.get("a")).value == "1"
    recovered.close()


def test_the_lock_is_taken_even_when_the_pid_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    monkeypatch.setattr(files.os, "write", full)
    lock = files.FileLock(tmp_path / "store.pickle.lock")
    lock.acquire(tmp_path / "store.pickle")
    lock.release()


async def test_reads_go_on_and_no_write_is_visible_while_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch)
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    seen: list[int] = []

    async def publisher(events: list) -> None:
        seen.extend(event.revision for event in events)

    store.set_publisher(publisher)
    disk.full = True
    with pytest.raises(StoreFull):
        await store.delete("a")
    assert (await store.get("a")).value == "1"
    assert await store.events_since(0) == (await store.events_since(0))[:1]
    assert seen == [], "nothing refused is published to watchers"
    disk.full = False
    revision, _ = await store.delete("a")
    assert seen == [revision] == [2]
    with pytest.raises(KeyNotFound):
        await store.get("a")
    store.close()
