"""The page on stores bigger than a page (issue #18): the total under the filter, search over
every pair, the page in the address, and all pages read as one snapshot."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from playwright.sync_api import Page, Request, Route, expect

from kvapp.testing.server import ServerProcess
from tests.support.page import LIVE_TIMEOUT, delete, open_page, put, put_many, row

pytestmark = pytest.mark.browser

LISTINGS = "**/api/v1/kv?*"


def listing_queries(page: Page) -> list[dict[str, str]]:
    """The query of every listing the page asks for from now on, in order."""
    seen: list[dict[str, str]] = []

    def record(request: Request) -> None:
        if urlsplit(request.url).path == "/api/v1/kv":
            seen.append({name: values[0] for name, values in parse_qs(urlsplit(request.url).query).items()})

    page.on("request", record)
    return seen


def test_the_total_under_the_filter_is_shown_and_follows_live_writes(page: Page, shared_server: ServerProcess) -> None:
    put_many(shared_server, {f"total/{n:04d}": "v" for n in range(1203)})
    put(shared_server, "totalling/elsewhere", "not under the prefix")
    open_page(page, shared_server, "total/")
    total = page.locator("#total")
    expect(total).to_have_text("1,203 pairs under total/")
    expect(page.locator("#page-info")).to_have_text("Page 1 of 25")
    put(shared_server, "total/new", "v")
    expect(total).to_have_text("1,204 pairs under total/", timeout=LIVE_TIMEOUT)
    put(shared_server, "total/new", "changed: still one pair")
    delete(shared_server, "total/0000")
    delete(shared_server, "total/0001")
    expect(total).to_have_text("1,202 pairs under total/", timeout=LIVE_TIMEOUT)
    page.get_by_label("By key prefix").fill("totalling/")
    page.locator("#prefix-form").get_by_role("button", name="Apply").click()
    expect(total).to_have_text("1 pair under totalling/")


def test_search_finds_pairs_beyond_the_loaded_page_following_short_pages(
    page: Page, shared_server: ServerProcess
) -> None:
    put_many(shared_server, {f"find/{n:03d}": f"plain {n}" for n in range(120)})
    put_many(
        shared_server, {"find/010": "a needle", "find/075": "NEEDLE", "find/needle": "by its key", "find/118": "x"}
    )
    queries = listing_queries(page)

    def one_at_a_time(route: Route) -> None:
        # A server that stops scanning early: the same answer, cut to its first match.
        answer = route.fetch()
        body = answer.json()
        if body["items"]:
            body["items"], body["next"] = body["items"][:1], body["items"][0]["key"]
        route.fulfill(response=answer, body=json.dumps(body))

    page.route("**/api/v1/kv?*search=*", one_at_a_time)
    open_page(page, shared_server, "find/")
    search = page.get_by_label("Search this page")
    search.fill("needle")
    expect(page.locator("#search-count")).to_have_text("1 of 50 on this page")  # only the loaded rows so far
    expect(page.get_by_role("button", name="Search every pair under find/")).to_be_visible()
    queries.clear()
    search.press("Enter")
    expect(page.locator("#rows th")).to_have_text(["find/010", "find/075", "find/needle"])
    expect(page).to_have_url(f"{shared_server.url}/?prefix=find%2F&search=needle")
    expect(page.locator("#search-count")).to_have_text("3 matches on this page, from every pair under find/")
    assert [query.get("search") for query in queries] == ["needle"] * 4  # three short pages, then the end
    assert "revision" not in queries[0]
    assert len({query["revision"] for query in queries[1:]}) == 1  # the follow-ups, at the first one's revision

    put(shared_server, "find/050", "a needle added live")
    put(shared_server, "find/051", "not a match")
    expect(page.locator("#rows th")).to_have_text(
        ["find/010", "find/050", "find/075", "find/needle"], timeout=LIVE_TIMEOUT
    )
    page.reload()
    expect(page.locator("#rows th")).to_have_text(["find/010", "find/050", "find/075", "find/needle"])
    expect(search).to_have_value("needle")
    page.get_by_role("button", name="Show all pairs").click()
    expect(page.locator("#rows tr")).to_have_count(50)
    expect(page).to_have_url(f"{shared_server.url}/?prefix=find%2F")
    expect(search).to_have_value("")


def test_the_page_number_is_in_the_address_and_a_reload_keeps_it(page: Page, shared_server: ServerProcess) -> None:
    keys = [f"pages/{n:03d}" for n in range(120)]
    put_many(shared_server, dict.fromkeys(keys, "v"))
    open_page(page, shared_server, "pages/")
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#rows th")).to_have_text(keys[50:100])
    expect(page).to_have_url(f"{shared_server.url}/?prefix=pages%2F&page=2")
    expect(page.locator("#page-info")).to_have_text("Page 2 of 3")

    queries = listing_queries(page)
    page.reload()
    expect(page.locator("#rows th")).to_have_text(keys[50:100])
    expect(page.locator("#page-info")).to_have_text("Page 2 of 3")
    assert [query.get("after") for query in queries] == [None, keys[49]]  # walked from page 1 ...
    assert queries[1]["revision"] != ""  # ... and read page 2 at page 1's revision
    page.get_by_role("button", name="Previous page").click()
    expect(page.locator("#rows th").first).to_have_text(keys[0])
    expect(page).to_have_url(f"{shared_server.url}/?prefix=pages%2F")

    page.goto(f"{shared_server.url}/?prefix=pages%2F&page=9")  # a link to a page that is no more: the last one
    expect(page.locator("#rows th")).to_have_text(keys[100:])
    expect(page).to_have_url(f"{shared_server.url}/?prefix=pages%2F&page=3")


def test_every_page_is_read_at_the_first_pages_revision_until_the_filter_is_applied_again(
    page: Page, shared_server: ServerProcess
) -> None:
    keys = [f"snap/{n:03d}" for n in range(60)]
    put_many(shared_server, dict.fromkeys(keys, "old"))
    queries = listing_queries(page)
    open_page(page, shared_server, "snap/")
    first = requests.get(f"{shared_server.url}/healthz", timeout=5).json()["revision"]  # page 1's: no write since
    assert "revision" not in queries[0]
    changed = put(shared_server, keys[55], "new")  # after page 1 was read
    expect(page.locator("#store-revision")).to_have_text(str(changed["revision"]), timeout=LIVE_TIMEOUT)
    page.get_by_role("button", name="Next page").click()
    expect(row(page, keys[55]).locator("td").first).to_have_text("new", timeout=LIVE_TIMEOUT)  # replayed since
    page.get_by_role("button", name="Previous page").click()
    expect(page.locator("#rows th").first).to_have_text(keys[0])
    assert [query.get("revision") for query in queries[-2:]] == [str(first), str(first)]
    page.locator("#prefix-form").get_by_role("button", name="Apply").click()  # a relist: a new snapshot
    expect(page.locator("#live")).to_have_text("live")
    assert "revision" not in queries[-1]
