"""kv_export / kv_import: moving a store between backends, and backup/restore, through the commands."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from django.core.management import CommandError, call_command

from kvapp import backend as kv_store
from kvapp.store import transfer
from kvapp.store.base import Lease, Pair, Store
from kvapp.store.errors import Compacted, KeyNotFound, LeaseNotFound
from tests.support.redis import RedisServer

T = TypeVar("T")

EXPORT_V1 = Path(__file__).parent.parent / "fixtures" / "export-v1" / "dump.jsonl"  # see its README
PAIRS = {"app/db/host": "db1", "app/db/port": "5432", "empty": "", "ünï/日本": "line1\nline2", "z": "last"}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one store call from a synchronous test (the commands run their own loop)."""
    return asyncio.run(coroutine)


def pickle_options(directory: Path, name: str) -> dict[str, Any]:
    """Command options selecting a pickle file."""
    return {"backend": "pickle", "data": str(directory / name)}


def redis_options(redis_server: RedisServer, db: int) -> dict[str, Any]:
    """Command options selecting a flushed Redis database."""
    with redis_server.client(db) as client:
        client.flushdb()
    return {"backend": redis_server.url(db)}


async def fill(store: Store) -> None:
    """Writes, overwrites and a delete, so revisions, created and the store revision all differ."""
    for key, value in PAIRS.items():
        await store.put(key, "draft")
        await store.put(key, value)
    await store.put("gone", "soon")
    await store.delete("gone")


async def contents(store: Store) -> tuple[int, list[Pair]]:
    """The store's revision and every pair, closing the store afterwards."""
    try:
        page = await store.list(limit=10_000)
        return page.revision, page.items
    finally:
        await store.aclose()


def open_store(options: dict[str, Any]) -> Store:
    """The store the command options name."""
    return kv_store.open_store(options["backend"], options.get("data"))


def export(options: dict[str, Any], output: Path) -> str:
    """Run kv_export into ``output``; returns what it reported on stderr."""
    stderr = io.StringIO()
    call_command("kv_export", output=str(output), progress=False, stderr=stderr, **options)
    return stderr.getvalue()


def import_(options: dict[str, Any], source: Path, **extra: Any) -> str:
    """Run kv_import from ``source``; returns what it reported on stderr."""
    stderr = io.StringIO()
    call_command("kv_import", str(source), stderr=stderr, **{"progress": False, **options, **extra})
    return stderr.getvalue()


def seeded_pickle(tmp_path: Path) -> dict[str, Any]:
    """A pickle store holding PAIRS (revision 12), closed so the commands can lock it."""
    options = pickle_options(tmp_path, "source.pickle")
    store = open_store(options)
    run(fill(store))
    store.close()
    return options


@pytest.mark.redis
def test_pickle_exported_and_imported_into_redis_has_identical_contents(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    source, target = seeded_pickle(tmp_path), redis_options(redis_server, 1)
    dump = tmp_path / "dump.jsonl"
    assert "exported 5 pairs from the pickle store at revision 12" in export(source, dump)
    assert "imported 5 pairs into the redis store, now at revision 12" in import_(target, dump)
    expected = run(contents(open_store(source)))
    assert run(contents(open_store(target))) == expected
    assert expected[0] == 12 and len(expected[1]) == len(PAIRS)


@pytest.mark.redis
def test_redis_exported_and_imported_into_pickle_has_identical_contents(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    source, target = redis_options(redis_server, 1), pickle_options(tmp_path, "target.pickle")
    store = open_store(source)
    run(fill(store))
    dump = tmp_path / "dump.jsonl"
    export(source, dump)
    import_(target, dump)
    assert run(contents(open_store(target))) == run(contents(open_store(source)))


def test_export_writes_a_header_then_the_pairs_in_key_order(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    export(seeded_pickle(tmp_path), dump)
    lines = [orjson.loads(line) for line in dump.read_bytes().splitlines()]
    assert lines[0] == {
        "format": "kvstore-export",
        "version": 2,
        "revision": 12,
        "keys": 5,
        "backend": "pickle",
        "lease_seq": 0,
    }
    assert [line["key"] for line in lines[1:]] == sorted(PAIRS)
    assert lines[1] == {"key": "app/db/host", "value": "db1", "revision": 2, "created": 1}
    assert not (tmp_path / "dump.jsonl.partial").exists()


def test_an_imported_store_continues_after_the_exported_revision(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    export(seeded_pickle(tmp_path), dump)
    target = pickle_options(tmp_path, "target.pickle")
    import_(target, dump)
    store = open_store(target)

    async def write_after_restore() -> None:
        pair, _ = await store.put("new", "v")
        assert pair.revision == 13  # never a revision the exported store already used
        with pytest.raises(Compacted):
            await store.events_since(5)  # events are not carried over: a resuming watcher is told

    run(write_after_restore())
    store.close()


def test_bump_revision_starts_the_restored_store_above_every_revision_clients_saw(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    export(seeded_pickle(tmp_path), dump)
    target = pickle_options(tmp_path, "target.pickle")
    assert "now at revision 1012" in import_(target, dump, bump_revision=1000)
    store = open_store(target)

    async def write_after_restore() -> None:
        assert (await store.get("z")).revision == 10, "pairs keep their own revisions"
        pair, _ = await store.put("new", "v")
        assert pair.revision == 1013
        for read in (lambda: store.events_since(12), lambda: store.get("z", revision=12)):
            with pytest.raises(Compacted) as compacted:
                await read()  # a watcher or a reader from before the restore is told so
            assert compacted.value.oldest == 1013

    run(write_after_restore())
    store.close()


def test_a_negative_bump_is_refused(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    export(seeded_pickle(tmp_path), dump)
    with pytest.raises(CommandError, match="bump"):
        import_(pickle_options(tmp_path, "target.pickle"), dump, bump_revision=-1)


def test_a_leased_pair_is_exported_with_its_leases_id_and_ttl(tmp_path: Path) -> None:
    options = pickle_options(tmp_path, "source.pickle")
    store = open_store(options)
    run(store.put("svc/a", "up", ttl=30))
    run(store.put("svc/b", "up"))
    store.close()
    dump = tmp_path / "dump.jsonl"
    export(options, dump)
    lines = [orjson.loads(line) for line in dump.read_bytes().splitlines()[1:]]
    assert lines == [
        {"key": "svc/a", "value": "up", "revision": 1, "created": 1, "lease": 1, "ttl": 30},
        {"key": "svc/b", "value": "up", "revision": 2, "created": 2},
    ]


async def leased_source(store: Store) -> tuple[int, int]:
    """Two keys on one lease, one on another, one on none, and a lease with no keys; the two
    ids. The store is closed afterwards, in the same event loop."""
    try:
        web = await store.grant(60)
        await store.put("svc/web1", "10.0.0.5", lease=web.id)
        await store.put("svc/web2", "10.0.0.6", lease=web.id)
        lock, _ = await store.put("locks/deploy", "host-a", ttl=2)
        await store.grant(60)  # protects nothing: not carried
        await store.put("config", "v1")
        return web.id, lock.lease
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [
        ("pickle", "pickle"),
        pytest.param("pickle", "redis", marks=pytest.mark.redis),
        pytest.param("redis", "pickle", marks=pytest.mark.redis),
    ],
)
def test_restored_leases_keep_their_ids_and_still_expire_with_their_keys(
    tmp_path: Path, request: pytest.FixtureRequest, source_kind: str, target_kind: str
) -> None:
    def options(kind: str, name: str, db: int) -> dict[str, Any]:
        if kind == "redis":
            return redis_options(request.getfixturevalue("redis_server"), db)
        return pickle_options(tmp_path, name)

    source, target = options(source_kind, "source.pickle", 4), options(target_kind, "target.pickle", 5)
    web, lock = run(leased_source(open_store(source)))
    dump = tmp_path / "dump.jsonl"
    export(source, dump)
    import_(target, dump)
    restored = open_store(target)

    async def check() -> None:
        assert (await restored.get("svc/web1")).lease == web
        assert (await restored.lease(web)).keys == ("svc/web1", "svc/web2")
        assert [lease.id for lease in (await restored.leases()).items] == [web, lock]
        await restored.keepalive(web)  # the owner's renewals go on working under the same id
        fresh = await restored.grant(5)
        assert fresh.id == 4, "ids are never reused, not even that of the lease that was left out (3)"
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # the lock's owner is gone: its lease runs out and takes the key with it
            try:
                await restored.get("locks/deploy")
            except KeyNotFound:
                break
            assert asyncio.get_running_loop().time() < deadline, "the restored lease never expired"
            await asyncio.sleep(0.1)
        assert (await restored.get("config")).lease == 0
        revoked = await restored.revoke(web)
        assert sorted(revoked.deleted) == ["svc/web1", "svc/web2"]

    async def checked() -> None:
        try:
            await check()
        finally:
            await restored.aclose()

    run(checked())


@pytest.mark.parametrize("target_kind", ["pickle", pytest.param("redis", marks=pytest.mark.redis)])
def test_an_export_written_before_leases_were_exported_still_imports(
    tmp_path: Path, request: pytest.FixtureRequest, target_kind: str
) -> None:
    if target_kind == "redis":
        target = redis_options(request.getfixturevalue("redis_server"), 6)
    else:
        target = pickle_options(tmp_path, "target.pickle")
    assert "imported 3 pairs" in import_(target, EXPORT_V1)
    revision, pairs = run(contents(open_store(target)))
    assert revision == 6
    assert pairs == [
        Pair("app/db/host", "db2.internal", 2, 1),
        Pair("locks/deploy", "host-a", 3, 3),  # format 1 had no leases: the key comes back without one
        Pair("unicode/ключ", "значение ✓", 4, 4),
    ]


def test_an_import_into_a_store_holding_a_lease_is_refused(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    export(seeded_pickle(tmp_path), dump)
    target = pickle_options(tmp_path, "target.pickle")
    store = open_store(target)
    run(store.grant(60))
    store.close()
    with pytest.raises(CommandError, match=r"not empty .*1 leases"):
        import_(target, dump)


def test_an_export_with_more_leases_than_the_target_allows_loads_nothing(tmp_path: Path, settings: Any) -> None:
    header = b'{"format": "kvstore-export", "version": 2, "revision": 2, "keys": 2, "backend": "pickle"}'
    lines = [
        b'{"key": "k%d", "value": "v", "revision": %d, "created": %d, "lease": %d, "ttl": 9}' % (n, n, n, n)
        for n in (1, 2)
    ]
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b"\n".join([header, *lines, b""]))
    settings.KV_MAX_LEASES = 1
    target = pickle_options(tmp_path, "target.pickle")
    with pytest.raises(CommandError, match="the export has 2 leases, over this store's limit"):
        import_(target, dump)
    assert run(contents(open_store(target))) == (0, [])


def test_import_refuses_a_store_that_is_not_empty_and_changes_nothing(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    source = seeded_pickle(tmp_path)
    export(source, dump)
    before = run(contents(open_store(source)))
    with pytest.raises(CommandError, match="not empty"):
        import_(source, dump)
    assert run(contents(open_store(source))) == before


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b"{not json", "line 3 is not valid JSON"),
        (b'{"key": "a", "value": "x", "revision": 1, "created": 1}', "line 3: key 'a' is out of order"),
        (b'{"key": "zz", "value": 5, "revision": 1, "created": 1}', 'line 3: "value" must be a string'),
        (b'{"key": "zz", "value": "x", "revision": 1, "created": 2}', "line 3: revision and created"),
        (b'{"key": "bad\\u0001key", "value": "x", "revision": 1, "created": 1}', "line 3: key must not contain"),
        (b'{"key": "zz", "value": "x", "revision": 9223372036854775808, "created": 1}', "line 3: revision and created"),
        (b'{"key": "zz", "value": "x", "revision": 3, "created": 3, "lease": 4}', 'line 3: lease 4: "ttl" must be'),
        (b'{"key": "zz", "value": "x", "revision": 3, "created": 3, "ttl": 9}', 'line 3: "lease" must be a whole'),
        (b'{"key": "zz", "value": "x", "revision": 3, "created": 3, "lease": 0, "ttl": 9}', '"lease" must be'),
        (b'{"key": "zz", "value": "x", "revision": 3, "created": 3, "lease": 4, "ttl": 0}', '"ttl" must be a whole'),
        (b'{"key": "zz", "value": "x", "revision": 3, "created": 3, "lease": 4, "ttl": 99999999}', "seconds from 1 to"),
        (b'{"key": "zz", "value": "x", "revision": 3, "created": 3, "lease": 7, "ttl": 5}', "lease 7 has ttl 9 on an"),
    ],
)
@pytest.mark.parametrize("target_kind", ["pickle", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_damaged_line_is_named_and_nothing_is_imported(
    tmp_path: Path, request: pytest.FixtureRequest, target_kind: str, bad_line: bytes, message: str
) -> None:
    header = b'{"format": "kvstore-export", "version": 2, "revision": 9, "keys": 3, "backend": "pickle"}'
    good = b'{"key": "b", "value": "ok", "revision": 2, "created": 1, "lease": 7, "ttl": 9}'
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b"\n".join([header, good, bad_line, b""]))
    if target_kind == "redis":
        target = redis_options(request.getfixturevalue("redis_server"), 2)
    else:
        target = pickle_options(tmp_path, "target.pickle")
    with pytest.raises(CommandError, match=message):
        import_(target, dump)
    assert run(contents(open_store(target))) == (0, [])


@pytest.mark.parametrize(("header_revision", "pair_revision"), [(2**53, 2), (2**53 - 1, 2**53)], ids=["header", "pair"])
@pytest.mark.redis
def test_redis_refuses_revisions_beyond_what_lua_keeps_exactly_and_pickle_takes_them(
    tmp_path: Path, redis_server: RedisServer, header_revision: int, pair_revision: int
) -> None:
    header = b'{"format": "kvstore-export", "version": 1, "revision": %d, "keys": 1, "backend": "pickle"}'
    pair = b'{"key": "k", "value": "v", "revision": %d, "created": 1}'
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b"\n".join([header % header_revision, pair % pair_revision, b""]))
    target = redis_options(redis_server, 3)
    with pytest.raises(CommandError, match=r"beyond what the redis backend keeps exactly \(9007199254740991\)"):
        import_(target, dump)
    assert run(contents(open_store(target))) == (0, [])
    pickled = pickle_options(tmp_path, "target.pickle")
    import_(pickled, dump)
    assert run(contents(open_store(pickled)))[0] == max(header_revision, pair_revision)


@pytest.mark.parametrize(
    ("first_line", "message"),
    [(b"", "empty"), (b'{"format": "something-else"}', "not a kvstore-export version 1 or 2 header")],
)
def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path, first_line: bytes, message: str) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(first_line)
    with pytest.raises(CommandError, match=message):
        import_(pickle_options(tmp_path, "target.pickle"), dump)


def test_exporting_a_pickle_store_a_server_holds_says_so(tmp_path: Path) -> None:
    options = seeded_pickle(tmp_path)
    holder = open_store(options)  # as a running server would
    try:
        with pytest.raises(CommandError, match="another kvstore server is already using"):
            export(options, tmp_path / "dump.jsonl")
    finally:
        holder.close()
    assert not (tmp_path / "dump.jsonl").exists()


def test_progress_bar_counts_the_pairs_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "dump.jsonl"
    export(seeded_pickle(tmp_path), dump)
    import_(pickle_options(tmp_path, "target.pickle"), dump, progress=True)
    err = capsys.readouterr().err
    assert "importing: 100%" in err
    assert "5.00/5.00" in err


def test_export_without_output_writes_to_stdout(tmp_path: Path) -> None:
    stdout = io.StringIO()
    call_command("kv_export", progress=False, stdout=stdout, stderr=io.StringIO(), **seeded_pickle(tmp_path))
    lines = stdout.getvalue().splitlines()
    assert orjson.loads(lines[0])["format"] == "kvstore-export"
    assert {orjson.loads(line)["key"]: orjson.loads(line)["value"] for line in lines[1:]} == PAIRS


def test_a_lease_granted_while_an_export_runs_is_looked_up_and_one_ended_leaves_its_pair_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(pickle_options(tmp_path, "source.pickle"))

    async def export_lines() -> list[dict[str, Any]]:
        await store.put("svc/kept", "up", ttl=30)
        ended, _ = await store.put("svc/ended", "up", ttl=30)

        async def none_listed(store: Store) -> dict[int, int | None]:
            return {}  # as if both were granted after the export listed the leases

        monkeypatch.setattr(transfer, "_lease_ttls", none_listed)
        lookup = store.lease

        async def lease(lease_id: int) -> Lease:
            if lease_id == ended.lease:
                raise LeaseNotFound(lease_id)  # it ran out between the listing and this page
            return await lookup(lease_id)

        monkeypatch.setattr(store, "lease", lease)
        return [orjson.loads(line) async for line in transfer.export_pairs(store)]

    try:
        assert run(export_lines()) == [
            {"key": "svc/kept", "value": "up", "revision": 1, "created": 1, "lease": 1, "ttl": 30}
        ]
    finally:
        store.close()
