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
from kvapp.store.base import Pair, Store
from kvapp.store.errors import Compacted
from tests.support.redis import RedisServer

T = TypeVar("T")

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
    assert lines[0] == {"format": "kvstore-export", "version": 1, "revision": 12, "keys": 5, "backend": "pickle"}
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


def test_leases_are_not_exported(tmp_path: Path) -> None:
    options = pickle_options(tmp_path, "source.pickle")
    store = open_store(options)
    run(store.put("svc/a", "up", ttl=30))
    store.close()
    dump = tmp_path / "dump.jsonl"
    export(options, dump)
    assert orjson.loads(dump.read_bytes().splitlines()[1]) == {
        "key": "svc/a",
        "value": "up",
        "revision": 1,
        "created": 1,
    }


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
    ],
)
@pytest.mark.parametrize("target_kind", ["pickle", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_damaged_line_is_named_and_nothing_is_imported(
    tmp_path: Path, request: pytest.FixtureRequest, target_kind: str, bad_line: bytes, message: str
) -> None:
    header = b'{"format": "kvstore-export", "version": 1, "revision": 9, "keys": 3, "backend": "pickle"}'
    good = b'{"key": "b", "value": "ok", "revision": 2, "created": 1}'
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
    [(b"", "empty"), (b'{"format": "something-else"}', "not a kvstore-export version 1 header")],
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
