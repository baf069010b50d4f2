"""The HTTP contract (../shared/spec/API.md), row by row, through Django's ASGI handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient

from kvapp.http import seed
from kvapp.store.pickle import index
from kvapp.store.pickle.store import PickleStore
from tests.support.api import JSON, installed_store, put, state


async def test_put_then_get_returns_the_pair_with_revisions(client: AsyncClient) -> None:
    created = await put(client, "greeting", {"value": "hello"})
    assert created.status_code == 200
    assert created["Content-Type"] == "application/json; charset=utf-8"
    assert created.json() == {"key": "greeting", "value": "hello", "revision": 1, "created": 1, "prev": None}
    updated = await put(client, "greeting", {"value": "hi"})
    assert updated.json() == {"key": "greeting", "value": "hi", "revision": 2, "created": 1, "prev": "hello"}
    got = await client.get("/api/v1/kv/greeting")
    assert got.json() == {"key": "greeting", "value": "hi", "revision": 2, "created": 1}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_a_missing_key_is_a_json_404_naming_the_key(client: AsyncClient, method: str) -> None:
    # "key" tells a client this 404 is "no such key", not "no such path" (a wrong base URL).
    response = await client.generic(method, "/api/v1/kv/no%2Fpe")
    assert response.status_code == 404
    assert response.json() == {"error": "key 'no/pe' not found", "key": "no/pe"}
    unknown = await client.get("/api/v9/kv/nope")
    assert unknown.status_code == 404 and "key" not in unknown.json()


async def test_percent_encoded_slash_and_plain_slash_name_the_same_key(client: AsyncClient) -> None:
    await put(client, "app%2Fdb%2Fhost", {"value": "db1"})
    assert (await client.get("/api/v1/kv/app/db/host")).json()["value"] == "db1"
    assert (await client.get("/api/v1/kv/app%2Fdb%2Fhost")).json()["key"] == "app/db/host"


async def test_empty_string_is_a_value(client: AsyncClient) -> None:
    assert (await put(client, "blank", {"value": ""})).json()["value"] == ""
    assert (await client.get("/api/v1/kv/blank")).json()["value"] == ""


async def test_cas_writes_only_at_the_expected_revision(client: AsyncClient) -> None:
    assert (await put(client, "k", {"value": "a", "if_revision": 0})).status_code == 200
    conflict = await put(client, "k", {"value": "b", "if_revision": 0})
    assert conflict.status_code == 409
    body = conflict.json()
    assert (body["key"], body["value"], body["revision"], body["created"]) == ("k", "a", 1, 1)
    assert "error" in body
    ok = await put(client, "k", {"value": "b", "if_revision": 1})
    assert ok.json()["revision"] == 2


async def test_cas_on_a_missing_key_reports_revision_zero(client: AsyncClient) -> None:
    conflict = await put(client, "ghost", {"value": "x", "if_revision": 4})
    assert conflict.status_code == 409
    assert conflict.json()["revision"] == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_cas_on_a_missing_key_says_it_does_not_exist(client: AsyncClient, method: str) -> None:
    if method == "PUT":
        conflict = await put(client, "ghost", {"value": "x", "if_revision": 5})
    else:
        conflict = await client.delete("/api/v1/kv/ghost?if_revision=5")
    assert conflict.status_code == 409
    body = conflict.json()
    assert body.pop("error") == "key 'ghost' is at revision 0, not 5: it does not exist"
    assert body == {"key": "ghost", "value": None, "revision": 0, "created": 0}


async def test_cas_on_a_changed_key_says_someone_else_changed_it(client: AsyncClient) -> None:
    await put(client, "k", {"value": "v"})
    conflict = await put(client, "k", {"value": "w", "if_revision": 5})
    assert conflict.json()["error"] == "key 'k' is at revision 1, not 5: someone else changed it"


@pytest.mark.parametrize("body", [b"", b"  \r\n\t"])
async def test_an_empty_put_body_says_it_is_empty_and_what_to_send(client: AsyncClient, store, body: bytes) -> None:
    response = await client.put("/api/v1/kv/k", data=body, content_type=JSON)
    assert response.status_code == 400
    assert response.json() == {"error": 'the body is empty; send a JSON object like {"value": "..."}'}
    assert state(store) == (0, {}, {})


async def test_a_body_that_is_not_json_still_says_so(client: AsyncClient) -> None:
    response = await client.put("/api/v1/kv/k", data=b"{value", content_type=JSON)
    assert response.json() == {"error": "body is not valid JSON"}


async def test_delete_returns_revision_and_previous_value(client: AsyncClient) -> None:
    await put(client, "k", {"value": "v"})
    deleted = await client.delete("/api/v1/kv/k")
    assert deleted.json() == {"key": "k", "revision": 2, "prev": "v"}
    assert (await client.get("/api/v1/kv/k")).status_code == 404
    assert (await client.delete("/api/v1/kv/k")).status_code == 404


async def test_delete_with_if_revision_is_compare_and_delete(client: AsyncClient) -> None:
    await put(client, "k", {"value": "v"})
    assert (await client.delete("/api/v1/kv/k?if_revision=7")).status_code == 409
    assert (await client.delete("/api/v1/kv/k?if_revision=1")).status_code == 200


async def test_delete_cas_conflict_answers_409_with_the_current_pair(client: AsyncClient) -> None:
    await put(client, "k", {"value": "v"})
    for if_revision in ("7", "0"):  # 0: "must not exist", and it does
        conflict = await client.delete(f"/api/v1/kv/k?if_revision={if_revision}")
        assert conflict.status_code == 409
        body = conflict.json()
        assert body.pop("error")
        assert body == {"key": "k", "value": "v", "revision": 1, "created": 1}
    assert (await client.get("/api/v1/kv/k")).json()["value"] == "v"


async def test_a_key_and_value_exactly_at_the_limits_are_accepted(client: AsyncClient) -> None:
    assert (await put(client, "k" * 1024, {"value": "v"})).status_code == 200
    assert (await put(client, "big", {"value": "v" * 1024 * 1024})).status_code == 200


async def test_listing_is_sorted_prefixed_and_paged_with_next(client: AsyncClient) -> None:
    for key in ["b/2", "a/1", "b/1", "b/3", "c"]:
        await put(client, key, {"value": key})
    first = (await client.get("/api/v1/kv?prefix=b/&limit=2")).json()
    assert [item["key"] for item in first["items"]] == ["b/1", "b/2"]
    assert first["next"] == "b/2"
    assert first["revision"] == 5
    assert set(first["items"][0]) == {"key", "value", "revision", "created"}
    second = (await client.get(f"/api/v1/kv?prefix=b/&limit=2&after={first['next']}")).json()
    assert [item["key"] for item in second["items"]] == ["b/3"]
    assert second["next"] is None
    everything = (await client.get("/api/v1/kv")).json()
    assert [item["key"] for item in everything["items"]] == ["a/1", "b/1", "b/2", "b/3", "c"]


async def test_listing_limit_defaults_to_1000_and_is_capped_at_10000(
    client: AsyncClient, store: PickleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    real_list = store.list

    async def spying_list(prefix: str = "", after: str | None = None, limit: int = 0, *args: Any) -> Any:
        asked.append(limit)
        return await real_list(prefix, after, limit, *args)

    monkeypatch.setattr(store, "list", spying_list)
    for query in ["", "?limit=10000", "?limit=10001", "?limit=1"]:
        assert (await client.get(f"/api/v1/kv{query}")).status_code == 200
    assert asked == [1000, 10000, 10000, 1]


async def test_healthz_reports_revision_keys_and_backend(client: AsyncClient) -> None:
    await put(client, "a", {"value": "1"})
    body = (await client.get("/healthz")).json()
    assert body["status"] == "ok"
    assert (body["revision"], body["keys"], body["backend"]) == (1, 1, "pickle")


async def test_healthz_counts_the_live_leases(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["leases"] == 0
    await put(client, "k", {"value": "v", "ttl": 60})
    await client.post("/api/v1/leases", data={"ttl": 60}, content_type=JSON)
    assert (await client.get("/healthz")).json()["leases"] == 2


async def test_metrics_are_prometheus_text_with_requests_keys_revision_watchers(client: AsyncClient) -> None:
    await put(client, "a", {"value": "1"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    samples = text.splitlines()  # sample lines, not the # HELP / # TYPE lines that are always there
    assert any(line.startswith('kv_requests_total{method="PUT",route="kv",status="200"} ') for line in samples)
    assert any(line.startswith('kv_request_duration_seconds_bucket{le="0.0005",route="kv"} ') for line in samples)
    assert "kv_keys 1.0" in samples
    assert "kv_revision 1.0" in samples
    assert any(line.startswith("kv_watchers ") for line in samples)


async def test_seed_add_get_and_get_all(client: AsyncClient, store: PickleStore) -> None:
    added = await client.post("/add?key=name&value=Ada Lovelace")
    assert added.status_code == 200
    assert added["Content-Type"].startswith("text/plain")
    assert added.content.decode() == "Successfully added Value - Ada Lovelace for Key - name"
    got = await client.get("/get?key=name")
    assert (got.status_code, got.content.decode()) == (200, "Ada Lovelace")
    assert got["Content-Type"].startswith("text/plain")
    form = await client.post("/add", data={"key": "lang", "value": "en"})
    assert form.status_code == 200
    assert form.content.decode() == "Successfully added Value - en for Key - lang", "a form body: the same sentence"
    assert (await client.get("/get_all")).json() == {"name": "Ada Lovelace", "lang": "en"}
    assert store.index.revision == 2, "seed writes raise the revision like API writes"
    assert (await client.get("/api/v1/kv/lang")).json()["revision"] == 2


async def test_seed_get_of_a_missing_key_is_a_text_404(client: AsyncClient) -> None:
    response = await client.get("/get?key=missing")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain")
    assert "missing" in response.content.decode()


async def test_seed_get_all_returns_every_pair_across_pages(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed, "MAX_PAGE_SIZE", 2)
    for key in "abcde":
        await put(client, key, {"value": key.upper()})
    assert (await client.get("/get_all")).json() == {key: key.upper() for key in "abcde"}


async def test_seed_add_accepts_an_empty_value(client: AsyncClient) -> None:
    assert (await client.post("/add?key=k&value=")).status_code == 200
    assert (await client.get("/get?key=k")).content == b""


LONG_KEY = "k" * 1025
BIG_VALUE = "v" * (1024 * 1024 + 1)

# (method, path, body, expected status); body None = no body, str = raw bytes as given.
BAD_REQUESTS: list[tuple[str, str, Any, int]] = [
    ("PUT", "/api/v1/kv/a", {}, 400),
    ("PUT", "/api/v1/kv/a", {"valu": "x"}, 400),
    ("PUT", "/api/v1/kv/a", {"value": 5}, 400),
    ("PUT", "/api/v1/kv/a", {"value": None}, 400),
    ("PUT", "/api/v1/kv/a", {"value": ["x"]}, 400),
    ("PUT", "/api/v1/kv/a", {"value": {"x": 1}}, 400),
    ("PUT", "/api/v1/kv/a", {"value": True}, 400),
    ("PUT", "/api/v1/kv/a", "not json", 400),
    ("PUT", "/api/v1/kv/a", '{"value": "x"', 400),
    ("PUT", "/api/v1/kv/a", '["value"]', 400),
    ("PUT", "/api/v1/kv/a", '"just a string"', 400),
    ("PUT", "/api/v1/kv/a", "", 400),
    ("PUT", "/api/v1/kv/a", '{"value": "\\ud800"}', 400),
    ("PUT", "/api/v1/kv/a", {"value": "x", "if_revision": -1}, 400),
    ("PUT", "/api/v1/kv/a", {"value": "x", "if_revision": "1"}, 400),
    ("PUT", "/api/v1/kv/a", {"value": "x", "if_revision": 1.5}, 400),
    ("PUT", "/api/v1/kv/a", {"value": "x", "if_revision": True}, 400),
    ("PUT", "/api/v1/kv/a", {"value": BIG_VALUE}, 413),
    ("PUT", "/api/v1/kv/", {"value": "x"}, 400),
    ("PUT", f"/api/v1/kv/{LONG_KEY}", {"value": "x"}, 400),
    ("PUT", "/api/v1/kv/bad%00key", {"value": "x"}, 400),
    ("PUT", "/api/v1/kv/bad%0Akey", {"value": "x"}, 400),
    ("PUT", "/api/v1/kv/bad%1Bkey", {"value": "x"}, 400),
    ("PUT", "/api/v1/kv/bad%7Fkey", {"value": "x"}, 400),
    ("GET", "/api/v1/kv/", None, 400),
    ("GET", "/api/v1/kv/bad%00key", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=abc", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=-3", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=99", None, 409),
    ("DELETE", f"/api/v1/kv/existing?if_revision={10**30}", None, 400),
    # Only ASCII digits: int() would read these as revisions 10, 1, 1, 1 and 1.
    ("DELETE", "/api/v1/kv/existing?if_revision=1_0", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=+1", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=%2B1", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=%201%20", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=%EF%BC%91", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=0%0A1", None, 400),
    ("DELETE", "/api/v1/kv/existing?if_revision=" + "1" * 5000, None, 400),  # int() gives up past 4300 digits
    ("PUT", "/api/v1/kv/a", {"value": "x", "if_revision": 2**63}, 400),
    ("DELETE", "/api/v1/kv/missing", None, 404),
    ("POST", "/api/v1/kv/existing", {"value": "x"}, 405),
    ("PATCH", "/api/v1/kv/existing", {"value": "x"}, 405),
    ("POST", "/api/v1/kv", {"value": "x"}, 405),
    ("DELETE", "/api/v1/kv", None, 400),
    ("GET", "/api/v1/kv?limit=zero", None, 400),
    ("GET", "/api/v1/kv?limit=0", None, 400),
    ("GET", "/api/v1/kv?limit=-5", None, 400),
    ("PUT", "/api/v1/kv/existing", {"value": "x", "if_revision": 5}, 409),
    ("GET", "/api/v2/kv/existing", None, 404),
    ("GET", "/nothing/here", None, 404),
    ("PUT", "/healthz", {"value": "x"}, 405),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD_REQUESTS)
async def test_bad_requests_get_a_json_error_and_change_nothing(
    client: AsyncClient, store: PickleStore, method: str, path: str, body: Any, status: int
) -> None:
    await put(client, "existing", {"value": "kept"})
    before = state(store)
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": body, "content_type": JSON}
    response = await client.generic(method, path, **_encode(kwargs))
    assert response.status_code == status
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert state(store) == before


SEED_BAD_REQUESTS: list[tuple[str, str, int]] = [
    ("GET", "/get", 400),
    ("GET", "/get?key=", 400),
    ("POST", "/add", 400),
    ("POST", "/add?key=k", 400),
    ("POST", "/add?value=v", 400),
    ("POST", "/add?key=&value=v", 400),
    ("POST", f"/add?key={LONG_KEY}&value=v", 400),
    ("POST", "/add?key=a%00b&value=v", 400),
    ("GET", "/add?key=k&value=v", 405),
    ("POST", "/get?key=k", 405),
    ("POST", "/get_all", 405),
    ("GET", "/get?key=%FF", 400),
    ("POST", "/add?key=%FF&value=v", 400),
    ("POST", "/add?key=k&value=%C3%28", 400),
]


@pytest.mark.parametrize(("method", "path", "status"), SEED_BAD_REQUESTS)
async def test_bad_seed_requests_get_a_clear_error_and_change_nothing(
    client: AsyncClient, store: PickleStore, method: str, path: str, status: int
) -> None:
    before = state(store)
    response = await client.generic(method, path)
    assert response.status_code == status
    assert response.content.strip()
    assert state(store) == before


def _encode(kwargs: dict[str, Any]) -> dict[str, Any]:
    """AsyncClient.generic wants bytes; JSON-encode dicts, pass raw strings as they are."""
    import json

    if "data" in kwargs and not isinstance(kwargs["data"], str):
        kwargs["data"] = json.dumps(kwargs["data"])
    return kwargs


async def test_a_host_outside_allowed_hosts_is_a_json_400(client: AsyncClient, store: PickleStore) -> None:
    before = state(store)
    response = await client.put(
        "/api/v1/kv/a", data={"value": "x"}, content_type=JSON, headers={"host": "evil.example"}
    )
    assert response.status_code == 400
    assert "Host" in response.json()["error"]
    assert state(store) == before


async def test_seed_add_refuses_a_form_body_that_is_not_utf8(client: AsyncClient, store: PickleStore) -> None:
    before = state(store)
    response = await client.post("/add", data=b"key=%FF&value=v", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "UTF-8" in response.content.decode()
    assert state(store) == before


async def test_seed_add_decodes_utf8_form_bodies(client: AsyncClient) -> None:
    body = "key=caf%C3%A9&value=cr%C3%A8me+br%C3%BBl%C3%A9e"
    assert (await client.post("/add", data=body, content_type="application/x-www-form-urlencoded")).status_code == 200
    assert (await client.get("/get?key=caf%C3%A9")).content.decode() == "crème brûlée"


async def test_unknown_methods_share_one_metrics_label(client: AsyncClient) -> None:
    for verb in ["BREW", "WHEN", "PROPFIND"]:
        assert (await client.generic(verb, "/api/v1/kv/a")).status_code == 405
    text = (await client.get("/metrics")).content.decode()
    assert 'method="OTHER",route="kv",status="405"' in text
    assert "BREW" not in text


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("prefix=%FF", "prefix"),
        ("after=%FF", "after"),
        ("prefix=a%C3%28", "prefix"),
        ("limit=2&after=ok%ED%A0%80", "after"),
    ],
)
async def test_listing_refuses_a_prefix_or_after_that_is_not_utf8(client: AsyncClient, query: str, named: str) -> None:
    """As for a key in the path: Django would quietly list from U+FFFD instead of what was sent."""
    await client.post("/add?key=%EF%BF%BD&value=decoy")
    response = await client.get(f"/api/v1/kv?{query}")
    assert response.status_code == 400
    assert "not valid UTF-8" in response.json()["error"]
    assert response.json()["error"].split()[0] == named


async def test_listing_by_a_prefix_holding_a_real_u_fffd_still_works(client: AsyncClient) -> None:
    for key in ("a%EF%BF%BDb", "a%EF%BF%BDc", "b"):  # the test client would read a path as latin-1
        assert (await client.post(f"/add?key={key}&value=v")).status_code == 200
    listed = await client.get("/api/v1/kv?prefix=a%EF%BF%BD&other=%FF")
    assert [item["key"] for item in listed.json()["items"]] == ["a\ufffdb", "a\ufffdc"]
    resumed = await client.get("/api/v1/kv?prefix=a%EF%BF%BD&after=a%EF%BF%BDb")
    assert [item["key"] for item in resumed.json()["items"]] == ["a\ufffdc"]


MULTIPART = "multipart/form-data; boundary=zz"


def multipart(*fields: tuple[str, bytes]) -> bytes:
    """A multipart/form-data body with boundary ``zz``."""
    parts = [b'--zz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (n.encode(), v) for n, v in fields]
    return b"".join(parts) + b"--zz--\r\n"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"key=k", "application/x-www-form-urlencoded"),
        (b"value=v", "application/x-www-form-urlencoded"),
        (multipart(("key", b"k")), MULTIPART),
        (multipart(("value", b"v")), MULTIPART),
    ],
)
async def test_seed_add_with_a_form_body_missing_key_or_value_is_400_and_changes_nothing(
    client: AsyncClient, store: PickleStore, body: bytes, content_type: str
) -> None:
    before = state(store)
    response = await client.post("/add", data=body, content_type=content_type)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert state(store) == before


async def test_seed_add_takes_a_multipart_form(client: AsyncClient) -> None:
    body = multipart(("key", "café".encode()), ("value", "a\ufffdb".encode()))  # a real U+FFFD is text
    response = await client.post("/add", data=body, content_type=MULTIPART)
    assert response.status_code == 200
    assert (await client.get("/get?key=caf%C3%A9")).content.decode() == "a\ufffdb"


@pytest.mark.parametrize(
    "fields",
    [
        (("key", b"mp1"), ("value", b"v\xffv")),
        (("key", b"mp\xc3\x28"), ("value", b"v")),
        (("key", b"mp1"), ("value", b"v"), ("other", b"\xff")),  # as a urlencoded body: any parameter
    ],
)
async def test_seed_add_refuses_a_multipart_form_that_is_not_utf8(
    client: AsyncClient, store: PickleStore, fields: tuple[tuple[str, bytes], ...]
) -> None:
    before = state(store)
    response = await client.post("/add", data=multipart(*fields), content_type=MULTIPART)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "parameters are not valid UTF-8 (check their percent-encoding)"
    assert state(store) == before


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", multipart(("key", b"k"), ("value", b"v"))),
        ("multipart/form-data; boundary=", multipart(("key", b"k"), ("value", b"v"))),
        ("multipart/form-data; boundary=" + "b" * 300, multipart(("key", b"k"), ("value", b"v"))),
        (MULTIPART, multipart(*[(f"f{n}", b"x") for n in range(1100)])),
    ],
)
async def test_seed_add_answers_a_malformed_multipart_form_with_a_text_400(
    client: AsyncClient, store: PickleStore, content_type: str, body: bytes
) -> None:
    before = state(store)
    response = await client.post("/add", data=body, content_type=content_type)
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "multipart" in response.content.decode()
    assert state(store) == before


# --- reads at a past revision, counts and search (API.md "More on keys") --------------------


async def history_of_a(client: AsyncClient) -> None:
    """Revisions 1..4: a=1, a=2, b=x, then a deleted."""
    await put(client, "a", {"value": "1"})
    await put(client, "a", {"value": "2"})
    await put(client, "b", {"value": "x"})
    await client.delete("/api/v1/kv/a")


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        (1, {"key": "a", "value": "1", "revision": 1, "created": 1}),
        (2, {"key": "a", "value": "2", "revision": 2, "created": 1}),
        (3, {"key": "a", "value": "2", "revision": 2, "created": 1}),
    ],
)
async def test_a_read_at_a_revision_gives_the_pair_as_it_stood_then(
    client: AsyncClient, revision: int, expected: dict
) -> None:
    await history_of_a(client)
    got = await client.get(f"/api/v1/kv/a?revision={revision}")
    assert (got.status_code, got.json()) == (200, expected)
    head = await client.head(f"/api/v1/kv/a?revision={revision}")
    assert head.status_code == 200


@pytest.mark.parametrize(("key", "revision"), [("a", 0), ("a", 4), ("b", 2)])
async def test_a_key_that_did_not_exist_at_the_revision_is_a_404(client: AsyncClient, key: str, revision: int) -> None:
    await history_of_a(client)
    response = await client.get(f"/api/v1/kv/{key}?revision={revision}")
    assert response.status_code == 404
    assert response.json()["key"] == key


@pytest.mark.parametrize("revision", ["5", "99", str(2**64), "abc", "-1", "1.0", "", "%201"])
@pytest.mark.parametrize("path", ["/api/v1/kv/b", "/api/v1/kv"])
async def test_a_revision_beyond_the_store_or_not_a_whole_number_is_a_400(
    client: AsyncClient, path: str, revision: str
) -> None:
    await history_of_a(client)
    response = await client.get(f"{path}?revision={revision}")
    assert response.status_code == 400
    assert "revision" in response.json()["error"]


@pytest.fixture
def short_history(tmp_path: Path) -> Iterator[PickleStore]:
    """A store that keeps only its last two events, installed as the process-wide store."""
    with installed_store(tmp_path / "store.pickle", history=2) as opened:
        yield opened


@pytest.mark.parametrize("path", ["/api/v1/kv/a?revision=1", "/api/v1/kv?revision=0", "/api/v1/kv?revision=1"])
async def test_a_revision_older_than_the_history_is_a_410_naming_the_oldest(
    short_history: PickleStore, path: str
) -> None:
    client = AsyncClient()
    for key in "abcd":
        await put(client, key, {"value": key})
    response = await client.get(path)
    assert response.status_code == 410
    assert response.json() == {"error": response.json()["error"], "oldest": 3}
    assert (await client.get("/api/v1/kv?revision=2")).json()["count"] == 2, "R0 - 1 is still readable"


async def test_pages_at_one_revision_are_one_snapshot_while_writes_go_on(client: AsyncClient) -> None:
    for key in ("k1", "k2", "k3", "k4"):
        await put(client, key, {"value": "old"})
    first = (await client.get("/api/v1/kv?prefix=k&limit=2")).json()
    await put(client, "k3", {"value": "new"})
    await client.delete("/api/v1/kv/k4")
    await put(client, "k5", {"value": "new"})
    seen, after = [], first["next"]
    while after is not None:
        page = (await client.get(f"/api/v1/kv?prefix=k&limit=2&after={after}&revision={first['revision']}")).json()
        assert (page["revision"], page["count"]) == (4, 4)
        seen += [(item["key"], item["value"]) for item in page["items"]]
        after = page["next"]
    assert seen == [("k3", "old"), ("k4", "old")]
    now = (await client.get("/api/v1/kv?prefix=k")).json()
    assert [item["key"] for item in now["items"]] == ["k1", "k2", "k3", "k5"]
    assert now["revision"] == 7


async def test_a_listing_counts_every_pair_under_the_prefix_whatever_the_page(client: AsyncClient) -> None:
    for key in ("app/a", "app/b", "app/c", "apple", "other"):
        await put(client, key, {"value": "v"})
    page = (await client.get("/api/v1/kv?prefix=app/&limit=1")).json()
    assert (len(page["items"]), page["count"]) == (1, 3)
    assert (await client.get("/api/v1/kv")).json()["count"] == 5
    assert (await client.get("/api/v1/kv?prefix=nothing")).json() == {
        "items": [],
        "revision": 5,
        "next": None,
        "count": 0,
    }


async def test_search_keeps_pairs_whose_key_or_value_holds_the_text_ignoring_case(client: AsyncClient) -> None:
    for key, value in [("cfg/Host", "db1"), ("cfg/port", "5432"), ("cfg/name", "HOSTED"), ("x/host", "y")]:
        await put(client, key, {"value": value})
    page = (await client.get("/api/v1/kv?prefix=cfg/&search=host")).json()
    assert [item["key"] for item in page["items"]] == ["cfg/Host", "cfg/name"]
    assert page["count"] == 3, "count is of the pairs under the prefix, not of the matches"
    assert page["next"] is None


async def test_a_search_stopped_early_answers_a_short_page_the_client_follows(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "SEARCH_SCAN_PAIRS", 2)  # each request scans at most two pairs
    for number in range(7):
        await put(client, f"k{number}", {"value": "match" if number in (1, 5) else "no"})
    found, pages, after = [], 0, ""
    while True:
        page = (await client.get(f"/api/v1/kv?search=MATCH&limit=10&after={after}")).json()
        found += [item["key"] for item in page["items"]]
        pages += 1
        if page["next"] is None:
            break
        assert len(page["items"]) < 10
        after = page["next"]
    assert found == ["k1", "k5"]
    assert pages == 4


@pytest.mark.parametrize("query", ["search=%FF", "search=a%C3%28"])
async def test_a_search_that_is_not_utf8_is_refused(client: AsyncClient, query: str) -> None:
    response = await client.get(f"/api/v1/kv?{query}")
    assert response.status_code == 400
    assert response.json()["error"].startswith("search is not valid UTF-8")


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/api/v1/kv/k?revision=1"), ("DELETE", "/api/v1/kv/k?revision=1")]
)
async def test_a_write_with_a_revision_is_refused_rather_than_done_unconditionally(
    client: AsyncClient, store: PickleStore, method: str, path: str
) -> None:
    """A client that meant if_revision must not get an unconditional write."""
    await put(client, "k", {"value": "kept"})
    before = state(store)
    response = await client.generic(method, path, **_encode({"data": {"value": "x"}, "content_type": JSON}))
    assert response.status_code == 400
    assert "if_revision" in response.json()["error"]
    assert state(store) == before


# --- delete by prefix ---------------------------------------------------------------------


async def test_delete_by_prefix_removes_pairs_in_key_order_as_one_commit(
    client: AsyncClient, store: PickleStore
) -> None:
    for key in ("foo/b", "foo/a", "food", "fo", "bar"):
        await put(client, key, {"value": key})
    response = await client.delete("/api/v1/kv?prefix=foo")
    assert (response.status_code, response.json()) == (200, {"deleted": 3, "revision": 8, "more": False})
    events = await store.events_since(5)
    assert [(event.type, event.key, event.revision, event.reason) for event in events] == [
        ("delete", "foo/a", 6, None),
        ("delete", "foo/b", 7, None),
        ("delete", "food", 8, None),
    ], "a prefix is a string prefix: foo matches food; each pair takes its own revision"
    assert len({event.time for event in events}) == 1, "one commit, one time"
    assert [item["key"] for item in (await client.get("/api/v1/kv")).json()["items"]] == ["bar", "fo"]


async def test_delete_by_prefix_stops_at_the_limit_and_says_more_remain(client: AsyncClient) -> None:
    for key in "abcde":
        await put(client, f"p/{key}", {"value": key})
    first = (await client.delete("/api/v1/kv?prefix=p/&limit=3")).json()
    assert first == {"deleted": 3, "revision": 8, "more": True}
    assert (await client.delete("/api/v1/kv?prefix=p/&limit=3")).json() == {"deleted": 2, "revision": 10, "more": False}


async def test_delete_by_prefix_of_nothing_leaves_the_revision(client: AsyncClient, store: PickleStore) -> None:
    await put(client, "a", {"value": "1"})
    assert (await client.delete("/api/v1/kv?prefix=zzz")).json() == {"deleted": 0, "revision": 1, "more": False}
    assert store.index.revision == 1


async def test_deleting_every_key_needs_an_empty_prefix_and_all_true(client: AsyncClient) -> None:
    for key in "abc":
        await put(client, key, {"value": key})
    assert (await client.delete("/api/v1/kv?prefix=&all=true")).json() == {"deleted": 3, "revision": 6, "more": False}
    assert (await client.get("/api/v1/kv")).json()["count"] == 0


async def test_delete_by_prefix_limit_defaults_to_1000_and_is_capped_at_10000(
    client: AsyncClient, store: PickleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    real = store.delete_prefix

    async def spying(prefix: str, limit: int) -> Any:
        asked.append(limit)
        return await real(prefix, limit)

    monkeypatch.setattr(store, "delete_prefix", spying)
    for query in ("", "&limit=10000", "&limit=10001", "&limit=1"):
        assert (await client.delete(f"/api/v1/kv?prefix=x{query}")).status_code == 200
    assert asked == [1000, 10000, 10000, 1]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("", "prefix is required"),
        ("?limit=5", "prefix is required"),
        ("?all=true", "prefix is required"),
        ("?prefix=", "all=true"),
        ("?prefix=&all=false", "all=true"),
        ("?prefix=a&all=true", "prefix must be empty"),
        ("?prefix=&all=yes", "all must be true or false"),
        ("?prefix=&all=TRUE", "all must be true or false"),
        ("?prefix=a&if_revision=1", "if_revision cannot be given here"),
        ("?prefix=a&revision=1", "revision cannot be given here"),
        ("?prefix=a&search=x", "search cannot be given here"),
        ("?prefix=a&after=a/1", "after cannot be given here"),
        ("?prefix=a&limit=0", "limit must be at least 1"),
        ("?prefix=a&limit=many", "limit must be a whole number"),
        ("?prefix=a%FF", "prefix is not valid UTF-8"),
    ],
)
async def test_a_bad_delete_by_prefix_is_a_400_and_deletes_nothing(
    client: AsyncClient, store: PickleStore, query: str, says: str
) -> None:
    for key in ("a/1", "a/2", "b"):
        await put(client, key, {"value": "v"})
    before = state(store)
    response = await client.delete(f"/api/v1/kv{query}")
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert state(store) == before


# --- keys with a lease ------------------------------------------------------------------------


async def test_a_put_with_a_lease_shows_the_lease_wherever_the_pair_is_shown(
    client: AsyncClient, store: PickleStore
) -> None:
    lease = (await store.grant(60)).id
    written = await put(client, "svc/a", {"value": "up", "lease": lease})
    assert written.json() == {"key": "svc/a", "value": "up", "revision": 1, "created": 1, "lease": lease, "prev": None}
    assert (await client.get("/api/v1/kv/svc/a")).json()["lease"] == lease
    assert (await client.get("/api/v1/kv?prefix=svc/")).json()["items"][0]["lease"] == lease
    assert (await store.lease(lease)).keys == ("svc/a",)


async def test_a_put_naming_no_lease_keeps_it_and_lease_0_detaches(client: AsyncClient, store: PickleStore) -> None:
    lease = (await store.grant(60)).id
    await put(client, "k", {"value": "1", "lease": lease})
    kept = await put(client, "k", {"value": "2", "lease": None, "ttl": None})  # null: not given
    assert kept.json()["lease"] == lease
    detached = await put(client, "k", {"value": "3", "lease": 0})
    assert "lease" not in detached.json()
    assert "lease" not in (await client.get("/api/v1/kv/k")).json()
    assert (await store.lease(lease)).keys == ()


async def test_a_put_with_a_ttl_grants_a_lease_and_attaches_the_key_in_one_write(
    client: AsyncClient, store: PickleStore
) -> None:
    written = (await put(client, "session", {"value": "s", "ttl": 30})).json()
    lease = await store.lease(written["lease"])
    assert (lease.ttl, lease.keys) == (30, ("session",))
    assert written["revision"] == store.index.revision == 1, "granting takes no revision"


async def test_a_put_naming_an_unknown_lease_is_a_404_naming_it(client: AsyncClient, store: PickleStore) -> None:
    await put(client, "k", {"value": "kept"})
    before = state(store)
    response = await put(client, "k", {"value": "x", "lease": 99})
    assert response.status_code == 404
    assert response.json() == {"error": response.json()["error"], "lease": 99}
    assert state(store) == before


@pytest.mark.parametrize(
    "body",
    [
        {"value": "x", "lease": 1, "ttl": 5},
        {"value": "x", "lease": -1},
        {"value": "x", "lease": 2**53},
        {"value": "x", "lease": "1"},
        {"value": "x", "lease": True},
        {"value": "x", "lease": 1.0},
        {"value": "x", "ttl": 0},
        {"value": "x", "ttl": 86_401},
        {"value": "x", "ttl": "5"},
        {"value": "x", "ttl": 1.5},
        {"value": "x", "ttl": False},
        {"value": "x", "ttl": 5, "if_revision": 7},  # a conflict grants no lease
    ],
)
async def test_a_bad_lease_or_ttl_is_refused_and_grants_nothing(
    client: AsyncClient, store: PickleStore, body: dict
) -> None:
    await store.grant(60)
    await put(client, "k", {"value": "kept"})
    before = state(store)
    response = await put(client, "k", body)
    assert response.status_code == (409 if "if_revision" in body else 400)
    assert state(store) == before


async def test_the_longest_ttl_is_kv_lease_max_ttl(client: AsyncClient, store: PickleStore, settings: Any) -> None:
    settings.KV_LEASE_MAX_TTL = 10
    assert (await put(client, "k", {"value": "x", "ttl": 11})).status_code == 400
    assert "from 1 to 10" in (await put(client, "k", {"value": "x", "ttl": 11})).json()["error"]
    assert (await put(client, "k", {"value": "x", "ttl": 10})).status_code == 200


async def test_a_ttl_put_beyond_kv_max_leases_is_a_429_and_changes_nothing(tmp_path: Path) -> None:
    with installed_store(tmp_path / "store.pickle", max_leases=1) as store:
        client = AsyncClient()
        assert (await put(client, "first", {"value": "x", "ttl": 60})).status_code == 200
        before = state(store)
        response = await put(client, "second", {"value": "x", "ttl": 60})
        assert response.status_code == 429
        assert "KV_MAX_LEASES" in response.json()["error"]
        assert state(store) == before
