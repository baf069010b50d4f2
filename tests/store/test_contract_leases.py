"""Leases, the same on every backend: grant, attach, keepalive, revoke, expiry, restart.

Expiry is driven by ``backend.advance`` (a fake clock on pickle, real time on Redis, whose
scripts read Redis's clock) and ``store.expire_due()``, the step the reaper runs.
"""

from __future__ import annotations

import pytest

from kvapp.store.base import EXPIRED, REVOKED, Pair, Store
from kvapp.store.errors import LeaseNotFound, RevisionConflict, TooManyLeases
from tests.store.conftest import Recorder
from tests.support.backends import Backend

TTL = 1  # seconds: the shortest lease, so the Redis runs wait as little as possible


async def test_a_grant_takes_no_revision_and_can_be_shown_and_listed(any_store: Store) -> None:
    await any_store.put("k", "v")
    lease = await any_store.grant(30)
    assert lease.id > 0 and lease.ttl == 30 and 29 < lease.remaining <= 30
    assert await any_store.revision() == 1
    shown = await any_store.lease(lease.id)
    assert (shown.id, shown.ttl, shown.keys) == (lease.id, 30, ())
    listed = await any_store.leases()
    assert [(item.id, len(item.keys)) for item in listed.items] == [(lease.id, 0)]
    assert listed.next is None


async def test_lease_ids_increase_and_lists_page_by_id(any_store: Store) -> None:
    ids = [(await any_store.grant(30)).id for _ in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    first = await any_store.leases(limit=2)
    assert [item.id for item in first.items] == ids[:2] and first.next == ids[1]
    rest = await any_store.leases(after=first.next, limit=10)
    assert [item.id for item in rest.items] == ids[2:] and rest.next is None


async def test_a_put_attaches_keeps_and_detaches_a_lease(any_store: Store) -> None:
    lease = await any_store.grant(30)
    pair, _ = await any_store.put("svc/a", "up", lease=lease.id)
    assert pair == Pair("svc/a", "up", 1, 1, lease.id)
    assert pair.as_dict()["lease"] == lease.id
    kept, _ = await any_store.put("svc/a", "still up")  # names no lease: keeps it
    assert kept.lease == lease.id
    assert (await any_store.get("svc/a")).lease == lease.id
    assert [pair.lease for pair in (await any_store.list("svc/")).items] == [lease.id]
    assert (await any_store.lease(lease.id)).keys == ("svc/a",)
    detached, _ = await any_store.put("svc/a", "no lease", lease=0)
    assert detached.lease == 0 and "lease" not in detached.as_dict()
    assert (await any_store.lease(lease.id)).keys == ()


async def test_a_put_with_ttl_grants_and_attaches_in_one_write(any_store: Store) -> None:
    pair, _ = await any_store.put("reg/x", "1", ttl=30)
    assert pair.lease > 0 and pair.revision == 1
    assert (await any_store.lease(pair.lease)).keys == ("reg/x",)


async def test_an_unknown_lease_is_refused_and_nothing_changes(any_store: Store) -> None:
    with pytest.raises(LeaseNotFound) as refused:
        await any_store.put("k", "v", lease=424242)
    assert refused.value.lease == 424242
    assert await any_store.revision() == 0
    for call in (any_store.keepalive, any_store.revoke, any_store.lease):
        with pytest.raises(LeaseNotFound):
            await call(424242)


async def test_a_refused_compare_and_swap_does_not_grant_its_ttl_lease(any_store: Store) -> None:
    with pytest.raises(RevisionConflict):
        await any_store.put("k", "v", if_revision=7, ttl=30)
    assert (await any_store.leases()).items == []


async def test_revoke_deletes_every_attached_key_in_one_commit_with_a_reason(any_store: Store) -> None:
    lease = await any_store.grant(30)
    for key in ("b", "a", "c"):
        await any_store.put(key, "v", lease=lease.id)
    await any_store.put("other", "v")
    recorder = Recorder()
    any_store.set_publisher(recorder)
    revoked = await any_store.revoke(lease.id)
    assert (revoked.id, revoked.revision, revoked.deleted) == (lease.id, 7, ["a", "b", "c"])
    assert [(event.key, event.revision, event.lease, event.reason) for event in recorder.events] == [
        ("a", 5, lease.id, REVOKED),
        ("b", 6, lease.id, REVOKED),
        ("c", 7, lease.id, REVOKED),
    ]
    assert len(recorder.batches) == 1
    assert recorder.events[0].as_message()["reason"] == "revoked"
    assert [pair.key for pair in (await any_store.list()).items] == ["other"]
    with pytest.raises(LeaseNotFound):
        await any_store.lease(lease.id)


async def test_an_ordinary_delete_carries_no_reason(any_store: Store) -> None:
    lease = await any_store.grant(30)
    await any_store.put("k", "v", lease=lease.id)
    recorder = Recorder()
    any_store.set_publisher(recorder)
    await any_store.delete("k")
    assert "reason" not in recorder.events[0].as_message()
    assert (await any_store.lease(lease.id)).keys == ()


async def test_a_lease_that_runs_out_is_expired_with_its_keys(backend: Backend) -> None:
    store = backend.open()
    lease = await store.grant(TTL)
    await store.put("svc/a", "up", lease=lease.id)
    await store.put("svc/b", "up", lease=lease.id)
    recorder = Recorder()
    store.set_publisher(recorder)
    assert await store.expire_due() == []
    await backend.advance(TTL + 0.2)
    assert await store.expire_due() == [lease.id]
    assert [(event.key, event.type, event.lease, event.reason) for event in recorder.events] == [
        ("svc/a", "delete", lease.id, EXPIRED),
        ("svc/b", "delete", lease.id, EXPIRED),
    ]
    assert (await store.list("svc/")).items == []
    with pytest.raises(LeaseNotFound):
        await store.keepalive(lease.id)
    assert await store.expire_due() == [], "each expiry happens once"


async def test_a_keepalive_restores_the_full_ttl(backend: Backend) -> None:
    store = backend.open()
    lease = await store.grant(2)
    await store.put("k", "v", lease=lease.id)
    await backend.advance(1.2)
    renewed = await store.keepalive(lease.id)
    assert renewed.ttl == 2 and renewed.remaining > 1.9
    await backend.advance(1.2)
    assert await store.expire_due() == []
    assert (await store.get("k")).lease == lease.id
    assert await store.revision() == 1, "a keepalive takes no revision"


async def test_the_lease_limit_refuses_a_grant_with_too_many_leases(backend: Backend) -> None:
    store = backend.open(max_leases=2)
    first = await store.grant(30)
    await store.grant(30)
    with pytest.raises(TooManyLeases):
        await store.grant(30)
    with pytest.raises(TooManyLeases):
        await store.put("k", "v", ttl=30)
    await store.revoke(first.id)
    assert (await store.grant(30)).id > first.id


async def test_leases_survive_a_restart_with_a_fresh_ttl_and_ids_are_never_reused(backend: Backend) -> None:
    store = backend.open()
    kept = await store.grant(30)
    revoked = await store.grant(30)
    await store.put("svc/a", "up", lease=kept.id)
    await store.revoke(revoked.id)
    store = await backend.reopen(store)
    shown = await store.lease(kept.id)
    assert shown.keys == ("svc/a",) and shown.remaining > 29
    assert (await store.get("svc/a")).lease == kept.id
    with pytest.raises(LeaseNotFound):
        await store.lease(revoked.id)
    assert (await store.grant(30)).id > revoked.id


async def test_a_restore_brings_leases_back_with_their_ids_even_one_with_no_keys(any_store: Store) -> None:
    pairs = [Pair("locks/a", "me", 3, 3, 7), Pair("plain", "v", 4, 4)]
    assert await any_store.restore(iter(pairs), 4, {7: 30, 9: 60}, lease_seq=12) == 2
    assert (await any_store.lease(7)).keys == ("locks/a",)
    assert (await any_store.lease(9)).keys == ()  # a set of keys it never had: nothing to move, nothing fails
    assert (await any_store.get("locks/a")).lease == 7
    assert (await any_store.grant(5)).id == 13, "new ids go above the old store's highest"
