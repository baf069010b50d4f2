"""The pickle backend's durability and file format: journal, snapshots, recovery, lock, trust."""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kvapp.store.errors import CorruptStore, KeyNotFound, RevisionConflict, StoreLocked, StoreUnavailable
from kvapp.store.pickle import files, journal, records, snapshot
from kvapp.store.pickle.store import PickleStore


def reopen(store: PickleStore, **kwargs: object) -> PickleStore:
    """Close cleanly and open the same file again."""
    store.close()
    return PickleStore(store.path, **kwargs)


def crash_copy(store: PickleStore, target: Path) -> PickleStore:
    """Open a copy of the files exactly as they are now, as after kill -9 (no fold, no close)."""
    target.mkdir()
    for name in (store.path, store.journal_path, store.folding_path):
        if name.exists():
            (target / name.name).write_bytes(name.read_bytes())
    return PickleStore(target / store.path.name)


async def test_put_get_round_trip_keeps_unicode_and_empty_values(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("ключ/🔑", "значение")
    await store.put("empty", "")
    assert (await store.get("ключ/🔑")).value == "значение"
    assert (await store.get("empty")).value == ""
    store.close()


async def test_a_put_is_answered_only_after_its_journal_record_is_fdatasynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced_sizes: list[int] = []
    real_fdatasync = journal.os.fdatasync

    def spying_fdatasync(fd: int) -> None:
        real_fdatasync(fd)
        synced_sizes.append(os.fstat(fd).st_size)

    monkeypatch.setattr(journal.os, "fdatasync", spying_fdatasync)
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    assert synced_sizes and synced_sizes[-1] == store.journal_path.stat().st_size > 0
    store.close()


def test_a_file_is_replaced_only_after_its_new_bytes_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = files.os.fsync, files.os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(files.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    target = tmp_path / "store.pickle"
    target.write_bytes(b"old")
    files.write_atomically(target, b"new")
    assert calls == ["fsync", "replace", "fsync"]  # the file's bytes, the rename, the directory entry
    assert target.read_bytes() == b"new"
    assert [child.name for child in tmp_path.iterdir()] == ["store.pickle"]


async def test_revisions_count_every_write_and_created_survives_updates(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    first, prev = await store.put("a", "1")
    assert (first.revision, first.created, prev) == (1, 1, None)
    await store.put("b", "x")
    second, prev = await store.put("a", "2")
    assert (second.revision, second.created, prev) == (3, 1, "1")
    revision, prev = await store.delete("a")
    assert (revision, prev) == (4, "2")
    again, _ = await store.put("a", "3")
    assert (again.revision, again.created) == (5, 5)
    store.close()


async def test_writes_replay_from_the_journal_after_a_crash(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    for i in range(20):
        await store.put(f"k{i:02}", str(i))
    await store.delete("k05")
    assert store.journal_path.stat().st_size > 0
    assert pickle.loads(store.path.read_bytes())["revision"] == 0  # not folded: recovery is the journal's
    recovered = crash_copy(store, tmp_path / "after-crash")
    assert (await recovered.stats()).revision == 21
    assert (await recovered.get("k19")).value == "19"
    with pytest.raises(KeyNotFound):
        await recovered.get("k05")
    recovered.close()
    store.close()


async def test_revision_is_never_reused_across_restarts(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    await store.delete("a")
    store = reopen(store)
    pair, _ = await store.put("a", "again")
    assert pair.revision == 3
    store.close()


async def test_clean_close_folds_the_journal_into_the_snapshot(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    store.close()
    assert pickle.loads(store.path.read_bytes())["revision"] == 1, "the snapshot holds the write"
    assert not store.journal_path.exists()
    reopened = PickleStore(store.path)
    assert (await reopened.get("a")).value == "1"
    assert [e.key for e in await reopened.events_since(0)] == ["a"]  # history survives the fold
    reopened.close()


async def test_journal_folds_in_the_background_when_it_outgrows_the_threshold(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle", journal_max_bytes=2048)
    for i in range(200):
        await store.put(f"key{i:03}", "v" * 20)
    assert store._fold_job is not None, "a fold was started"
    await asyncio.wrap_future(store._fold_job)
    assert pickle.loads(store.path.read_bytes())["revision"] > 0, "a snapshot was written"
    journaled = records.scan(store.journal_path.read_bytes()).payloads
    assert len(journaled) < 100, "the journal was restarted after folding"
    recovered = crash_copy(store, tmp_path / "crash")
    assert (await recovered.stats()).keys == 200
    assert (await recovered.get("key199")).value == "v" * 20
    recovered.close()
    store.close()


async def test_a_failed_fold_is_retried_after_more_writes_not_after_every_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PickleStore(tmp_path / "store.pickle", journal_max_bytes=2048)
    attempts = 0

    def disk_full(path: Path, state: snapshot.SnapshotState) -> int:
        nonlocal attempts
        attempts += 1
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    monkeypatch.setattr(snapshot, "dump", disk_full)
    for i in range(200):  # about 7 thresholds' worth of journal
        await store.put(f"key{i:03}", "v" * 20)
        if store._fold_job is not None:
            concurrent.futures.wait([store._fold_job])
    assert 2 <= attempts <= 10, f"{attempts} snapshot attempts for 200 writes"
    store.close()
    monkeypatch.undo()
    recovered = PickleStore(store.path)
    assert (await recovered.stats()).keys == 200, "the journals kept every write"
    recovered.close()


async def test_a_fold_cut_short_by_a_crash_is_finished_at_start(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    store.close()
    store = PickleStore(store.path)
    await store.put("b", "2")
    # As if the server died right after setting the journal aside for folding.
    store.journal_path.rename(store.folding_path)
    recovered = crash_copy(store, tmp_path / "crash")
    assert {p.key for p in (await recovered.list()).items} == {"a", "b"}
    assert not recovered.folding_path.exists()
    recovered.close()
    store._journal.size = 0  # its journal was moved away above; nothing to fold at close
    store.close()


async def test_a_torn_last_record_is_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    await store.put("b", "2")
    store_copy = tmp_path / "crash"
    store_copy.mkdir()
    whole = store.journal_path.read_bytes()
    first_record_start = len(records.FILE_HEADER)
    second_record_start = (
        first_record_start + records.HEADER.size + records.HEADER.unpack_from(whole, first_record_start)[0]
    )
    (store_copy / "store.pickle.journal").write_bytes(whole[: second_record_start + 5])
    recovered = PickleStore(store_copy / "store.pickle")
    assert "unfinished record" in caplog.text
    assert (await recovered.get("a")).value == "1"
    with pytest.raises(KeyNotFound):
        await recovered.get("b")
    pair, _ = await recovered.put("c", "3")  # appends after the cut, not after garbage
    assert pair.revision == 2
    recovered.close()
    again = PickleStore(store_copy / "store.pickle")
    assert (await again.get("c")).value == "3"
    again.close()
    store.close()


async def test_a_zero_filled_tail_counts_as_torn(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    copy_dir = tmp_path / "crash"
    copy_dir.mkdir()
    (copy_dir / "store.pickle.journal").write_bytes(store.journal_path.read_bytes() + b"\0" * 300)
    recovered = PickleStore(copy_dir / "store.pickle")
    assert (await recovered.get("a")).value == "1"
    recovered.close()
    store.close()


async def test_damage_in_the_middle_of_the_journal_refuses_to_start(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "1")
    await store.put("b", "2")
    data = bytearray(store.journal_path.read_bytes())
    first_record_start = len(records.FILE_HEADER)
    data[first_record_start + records.HEADER.size + 2] ^= 0xFF  # flip a byte inside the first record's payload
    copy_dir = tmp_path / "crash"
    copy_dir.mkdir()
    (copy_dir / "store.pickle.journal").write_bytes(bytes(data))
    with pytest.raises(CorruptStore, match=f"damaged at byte {first_record_start} "):
        PickleStore(copy_dir / "store.pickle")
    store.close()


@pytest.mark.parametrize(
    "content",
    [b"not a pickle at all", pickle.dumps({"kvstore": 1, "revision": "x", "pairs": {}, "events": []}), b""],
    ids=["garbage", "wrong-shape", "empty-file"],
)
def test_a_corrupt_snapshot_refuses_to_start_and_is_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "store.pickle"
    path.write_bytes(content)
    with pytest.raises(CorruptStore, match="refusing to start"):
        PickleStore(path)
    assert path.read_bytes() == content, "never wiped"


def test_a_truncated_snapshot_refuses_to_start(tmp_path: Path) -> None:
    document = {"kvstore": 1, "revision": 1, "pairs": {"a": ("1", 1, 1)}, "events": []}
    path = tmp_path / "store.pickle"
    path.write_bytes(pickle.dumps(document)[:-10])
    with pytest.raises(CorruptStore):
        PickleStore(path)


async def test_a_seed_flask_pickle_loads_and_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "store.pickle"
    path.write_bytes(pickle.dumps({"b": "two", "a": "one"}))
    store = PickleStore(path)
    assert (await store.get("a")).as_dict() == {"key": "a", "value": "one", "revision": 1, "created": 1}
    assert (await store.get("b")).revision == 2
    assert (await store.stats()).revision == 2
    on_disk = pickle.loads(path.read_bytes())
    assert on_disk["kvstore"] == snapshot.FORMAT, "rewritten in kvstore format at start"
    pair, _ = await store.put("c", "three")
    assert pair.revision == 3
    store.close()


def test_a_tampered_pickle_is_refused_without_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "store.pickle"
    path.write_bytes(pickle.dumps({"a": Exploit()}))
    with pytest.raises(CorruptStore, match=r"posix\.system|os\.system"):
        PickleStore(path)
    assert not marker.exists()


def test_a_tampered_journal_record_is_refused_without_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps((1, "put", "a", "x", 1, None))
    evil = pickle.dumps(type("E", (), {"__reduce__": lambda self: (os.system, (f"touch {marker}",))})())
    journal = tmp_path / "store.pickle.journal"
    journal.write_bytes(records.FILE_HEADER + records.frame(payload) + records.frame(evil))
    with pytest.raises(CorruptStore, match="not a kvstore event"):
        PickleStore(tmp_path / "store.pickle")
    assert not marker.exists()


def test_a_second_store_on_the_same_file_is_refused(tmp_path: Path) -> None:
    first = PickleStore(tmp_path / "store.pickle")
    with pytest.raises(StoreLocked, match="already using"):
        PickleStore(tmp_path / "store.pickle")
    first.close()
    PickleStore(tmp_path / "store.pickle").close()  # free again once released


def test_the_lock_is_released_when_the_owner_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from kvapp.store.pickle.store import PickleStore;"
            f"PickleStore({str(tmp_path / 'store.pickle')!r}); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert holder.stdout.readline().strip() == b"ready"
    with pytest.raises(StoreLocked):
        PickleStore(tmp_path / "store.pickle")
    holder.kill()
    holder.wait()
    PickleStore(tmp_path / "store.pickle").close()


async def test_concurrent_writes_share_fsyncs_and_get_consecutive_revisions(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    fsyncs = 0
    append = store._journal.append_durably

    def counting_append(data: bytes) -> None:
        nonlocal fsyncs
        fsyncs += 1
        append(data)

    store._journal.append_durably = counting_append  # type: ignore[method-assign]
    results = await asyncio.gather(*(store.put(f"k{i}", str(i)) for i in range(100)))
    assert sorted(pair.revision for pair, _ in results) == list(range(1, 101))
    assert fsyncs < 100, "concurrent writers were batched into shared fsyncs"
    store.close()


async def test_batched_cas_sees_earlier_writes_in_the_same_batch(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    outcomes = await asyncio.gather(
        store.put("k", "first", if_revision=0),
        store.put("k", "second", if_revision=0),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], RevisionConflict)
    assert outcomes[1].current["value"] == "first"
    assert (await store.get("k")).value == "first"
    store.close()


async def test_published_batches_arrive_in_revision_order(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    seen: list[int] = []

    async def publisher(events: list) -> None:
        await asyncio.sleep(0)
        seen.extend(event.revision for event in events)

    store.set_publisher(publisher)
    await asyncio.gather(*(store.put(f"k{i % 7}", str(i)) for i in range(300)))
    await asyncio.sleep(0.05)
    assert seen == list(range(1, 301))
    store.close()


async def test_a_failed_fsync_refuses_further_writes_instead_of_guessing(tmp_path: Path) -> None:
    from kvapp.store.errors import StoreUnavailable

    store = PickleStore(tmp_path / "store.pickle")

    def broken(data: bytes) -> None:
        raise OSError(5, "Input/output error")

    store._journal.append_durably = broken  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        await store.put("a", "1")
    with pytest.raises(StoreUnavailable):
        await store.put("b", "2")
    with pytest.raises(KeyNotFound):
        await store.get("a")
    store.close()


async def test_closing_right_after_a_write_leaves_the_committer_quiet(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle", journal_max_bytes=1)
    await store.put("a", "1" * 1000)  # the journal outgrows the snapshot: this batch starts a fold
    store.close()  # while the committer is rotating the journal for that fold
    await asyncio.sleep(0.05)
    assert not store._committer.done(), "the committer did not crash on the closed pools"
    store._committer.cancel()
    reopened = PickleStore(store.path)
    assert (await reopened.get("a")).value == "1" * 1000
    reopened.close()


def hold_appends(store: PickleStore) -> tuple[threading.Event, threading.Event]:
    """Make the next journal appends wait: ``appending`` is set when one starts, ``release`` lets it go."""
    appending, release = threading.Event(), threading.Event()
    append_durably = store._journal.append_durably

    def held_append(data: bytes) -> None:
        appending.set()
        release.wait(5)
        append_durably(data)

    store._journal.append_durably = held_append  # type: ignore[method-assign]
    return appending, release


async def test_a_write_answered_after_a_close_on_the_loop_survives_the_restart(tmp_path: Path) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "0")
    appending, release = hold_appends(store)
    put = asyncio.ensure_future(store.put("b", "1"))
    await asyncio.to_thread(appending.wait, 5)
    threading.Timer(0.05, release.set).start()
    await store.aclose()  # waits for the append, which the index has not taken in yet
    assert (await put)[0].value == "1"
    reopened = PickleStore(store.path)
    assert (await reopened.get("b")).value == "1"
    reopened.close()


async def test_a_write_queued_behind_a_close_is_refused_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = PickleStore(tmp_path / "store.pickle")
    await store.put("a", "0")
    appending, release = hold_appends(store)
    first = asyncio.ensure_future(store.put("b", "1"))
    await asyncio.to_thread(appending.wait, 5)
    second = asyncio.ensure_future(store.put("c", "2"))  # waits for the next batch
    await asyncio.sleep(0)
    threading.Timer(0.05, release.set).start()
    await store.aclose()
    assert (await first)[0].value == "1"
    with pytest.raises(StoreUnavailable, match="shutting down"):
        await second
    assert "commit failed" not in caplog.text
    reopened = PickleStore(store.path)
    assert (await reopened.get("b")).value == "1"
    with pytest.raises(KeyNotFound):
        await reopened.get("c")
    reopened.close()
