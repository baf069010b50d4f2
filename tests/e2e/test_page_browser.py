"""The web page in a real headless Chromium against a real server: listing, live updates, writes, safety."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, Route, expect

from kvapp.testing.server import ServerProcess
from tests.support.page import (
    LIVE_TIMEOUT,
    REVISION_CELLS,
    TOKEN,
    WatchRelay,
    hold_requests,
    kv_url,
    open_page,
    put,
    revision_cell,
    row,
    stored,
    wait_for_store,
)

pytestmark = pytest.mark.browser


def test_page_lists_pairs_in_key_order_with_long_values_folded(page: Page, shared_server: ServerProcess) -> None:
    long_value = "x" * 300
    for key, value in [("list/b", "2"), ("list/c", long_value), ("list/a", "1"), ("other/z", "hidden")]:
        put(shared_server, key, value)
    open_page(page, shared_server, "list/")
    expect(page.locator("#rows th")).to_have_text(["list/a", "list/b", "list/c"])
    folded = row(page, "list/c").locator("details")
    expect(folded.locator("summary")).to_contain_text("…")
    expect(folded.locator("pre")).to_be_hidden()
    folded.locator("summary").click()
    expect(folded.locator("pre")).to_have_text(long_value)


def test_search_filters_the_loaded_page_ignoring_case(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "search/alpha", "red")
    put(shared_server, "search/Beta", "green")
    open_page(page, shared_server, "search/")
    page.get_by_label("Search this page").fill("GREE")  # in the value
    expect(row(page, "search/Beta")).to_be_visible()
    expect(row(page, "search/alpha")).to_be_hidden()
    page.get_by_label("Search this page").fill("search/b")  # in the key
    expect(row(page, "search/Beta")).to_be_visible()
    expect(row(page, "search/alpha")).to_be_hidden()


def test_prefix_filter_form_changes_the_rows_and_the_live_feed(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "filter/old/a", "1")
    put(shared_server, "filter/new/a", "2")
    open_page(page, shared_server, "filter/old/")
    expect(page.locator("#rows th")).to_have_text(["filter/old/a"])
    page.get_by_label("By key prefix").fill("filter/new/")
    page.locator("#prefix-form").get_by_role("button", name="Apply").click()
    expect(page.locator("#rows th")).to_have_text(["filter/new/a"])
    expect(page).to_have_url(f"{shared_server.url}/?prefix=filter%2Fnew%2F")  # a reload keeps the filter
    put(shared_server, "filter/old/b", "under the old prefix")
    put(shared_server, "filter/new/b", "after the old one")  # events arrive in order: this one comes second
    expect(row(page, "filter/new/b")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.locator("#rows th")).to_have_text(["filter/new/a", "filter/new/b"])
    page.locator("#prefix-clear").click()
    expect(page.get_by_label("By key prefix")).to_have_value("")
    expect(page).to_have_url(f"{shared_server.url}/")
    page_size = page.locator("body").get_attribute("data-page-size")
    unfiltered = requests.get(f"{shared_server.url}/api/v1/kv", params={"limit": page_size}, timeout=5).json()
    expect(page.locator("#rows th")).to_have_text([pair["key"] for pair in unfiltered["items"]])
    expect(row(page, "filter/old/b")).to_be_visible()  # "filter/" sorts early: the pairs are on page 1


def test_the_live_indicator_does_not_claim_live_while_a_new_filter_loads(
    page: Page, shared_server: ServerProcess
) -> None:
    # Applying a filter closes the old feed at once; the new one opens after its listing.
    put(shared_server, "indicator/a", "1")
    open_page(page, shared_server, "indicator/")
    held = hold_requests(page, "**/api/v1/kv?*")  # the new filter's listing
    page.get_by_label("By key prefix").fill("indicator/b")
    page.locator("#prefix-form").get_by_role("button", name="Apply").click()
    expect(page.locator("#live")).to_have_text("connecting…")
    page.wait_for_timeout(100)  # the listing request reaches the route
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/api/v1/kv?*")
    expect(page.locator("#live")).to_have_text("live", timeout=10_000)
    expect(page.locator("#rows th")).to_have_count(0)


def test_http_writes_appear_on_the_open_page_without_reload(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "live/a", "first")
    open_page(page, shared_server, "live/")
    put(shared_server, "live/b", "inserted")
    expect(row(page, "live/b").locator("td").first).to_have_text("inserted", timeout=LIVE_TIMEOUT)
    put(shared_server, "live/a", "changed")
    expect(row(page, "live/a").locator("td").first).to_have_text("changed", timeout=LIVE_TIMEOUT)
    requests.delete(kv_url(shared_server, "live/a"), timeout=5).raise_for_status()
    expect(row(page, "live/a")).to_have_count(0, timeout=LIVE_TIMEOUT)
    put(shared_server, "elsewhere/x", "not under the prefix")
    put(shared_server, "live/c", "after the one elsewhere")  # events arrive in order: this one comes second
    expect(row(page, "live/c")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.locator("#rows th")).to_have_text(["live/b", "live/c"])


def test_revision_column_shows_the_api_revision_and_follows_live_writes(
    page: Page, shared_server: ServerProcess
) -> None:
    put(shared_server, "rev/a", "1")
    put(shared_server, "rev/b", "1")
    put(shared_server, "rev/a", "2")  # now rev/a's revision differs from its created revision
    listed = requests.get(f"{shared_server.url}/api/v1/kv", params={"prefix": "rev/"}, timeout=5).json()["items"]
    open_page(page, shared_server, "rev/")
    expect(page.locator(f"#rows {REVISION_CELLS}")).to_have_text([str(pair["revision"]) for pair in listed])
    written = put(shared_server, "rev/b", "2")
    expect(revision_cell(page, "rev/b")).to_have_text(str(written["revision"]), timeout=LIVE_TIMEOUT)
    expect(revision_cell(page, "rev/a")).to_have_text(str(listed[0]["revision"]))


def test_add_edit_and_delete_from_the_page_reach_the_store(page: Page, shared_server: ServerProcess) -> None:
    open_page(page, shared_server, "form/")
    page.get_by_role("button", name="Add pair").click()
    page.get_by_label("Key", exact=True).fill("form/host")
    page.get_by_label("Value", exact=True).fill("db1.internal")
    page.locator("#add-form").get_by_role("button", name="Save").click()
    wait_for_store(shared_server, "form/host", "db1.internal")
    expect(row(page, "form/host").locator("td").first).to_have_text("db1.internal")

    row(page, "form/host").get_by_role("button", name="Edit").click()
    page.get_by_label("New value for form/host").fill("db2.internal")
    row(page, "form/host").get_by_role("button", name="Save").click()
    wait_for_store(shared_server, "form/host", "db2.internal")
    expect(row(page, "form/host").locator("td").first).to_have_text("db2.internal")

    row(page, "form/host").get_by_role("button", name="Delete").click()
    row(page, "form/host").get_by_role("button", name="Yes, delete").click()
    wait_for_store(shared_server, "form/host", None)
    expect(row(page, "form/host")).to_have_count(0)


def test_a_live_write_withdraws_a_delete_confirmation_for_the_older_revision(
    page: Page, shared_server: ServerProcess
) -> None:
    first = put(shared_server, "confirm/key", "old")
    open_page(page, shared_server, "confirm/")
    target = row(page, "confirm/key")
    target.get_by_role("button", name="Delete").click()
    expect(target).to_contain_text(f"Delete revision {first['revision']}?")
    second = put(shared_server, "confirm/key", "new")
    expect(revision_cell(page, "confirm/key")).to_have_text(str(second["revision"]), timeout=LIVE_TIMEOUT)
    expect(target.locator("td").first).to_have_text("new")
    expect(target.get_by_role("button", name="Yes, delete")).to_have_count(0)
    expect(target.get_by_role("button", name="Delete")).to_be_focused()  # the keyboard user keeps their place
    page.keyboard.press("Enter")
    expect(target).to_contain_text(f"Delete revision {second['revision']}?")
    target.get_by_role("button", name="Yes, delete").click()
    wait_for_store(shared_server, "confirm/key", None)
    expect(target).to_have_count(0)


def test_confirming_a_delete_of_a_revision_already_replaced_is_refused(
    page: Page, shared_server: ServerProcess
) -> None:
    watch = WatchRelay(page)
    first = put(shared_server, "stale/key", "old")
    open_page(page, shared_server, "stale/")
    assert watch.connected
    target = row(page, "stale/key")
    target.get_by_role("button", name="Delete").click()
    expect(target).to_contain_text(f"Delete revision {first['revision']}?")
    watch.passing = False  # the page has not heard of the next write when its user says yes
    second = put(shared_server, "stale/key", "new")
    target.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("#messages")).to_contain_text("Someone else changed “stale/key” first — now: “new”")
    expect(page.locator("#messages")).to_contain_text("Nothing was deleted.")
    assert stored(shared_server, "stale/key") == "new"
    expect(revision_cell(page, "stale/key")).to_have_text(str(second["revision"]))
    expect(target.get_by_role("button", name="Delete")).to_be_visible()


def test_a_pair_can_be_edited_with_the_keyboard_alone(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "kbd/key", "old")
    open_page(page, shared_server, "kbd/")
    row(page, "kbd/key").get_by_role("button", name="Edit").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("New value for kbd/key")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("new")
    page.keyboard.press("Control+Enter")
    wait_for_store(shared_server, "kbd/key", "new")
    expect(row(page, "kbd/key").get_by_role("button", name="Edit")).to_be_visible()


def test_adding_an_existing_key_changes_nothing_and_says_so(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "dup/key", "original")
    open_page(page, shared_server, "dup/")
    page.get_by_role("button", name="Add pair").click()
    page.get_by_label("Key", exact=True).fill("dup/key")
    page.get_by_label("Value", exact=True).fill("clobber")
    page.locator("#add-form").get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("already exists")
    assert stored(shared_server, "dup/key") == "original"


def test_edit_racing_another_writer_is_refused_with_a_message(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "cas/key", "v1")
    open_page(page, shared_server, "cas/")
    row(page, "cas/key").get_by_role("button", name="Edit").click()
    put(shared_server, "cas/key", "theirs")
    expect(row(page, "cas/key")).to_contain_text("changed while you were editing", timeout=LIVE_TIMEOUT)
    page.get_by_label("New value for cas/key").fill("mine")
    row(page, "cas/key").get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("Someone else changed “cas/key” first — now: “theirs”")
    assert stored(shared_server, "cas/key") == "theirs"
    row(page, "cas/key").get_by_role("button", name="Cancel").click()
    expect(row(page, "cas/key").locator("td").first).to_have_text("theirs")


def test_values_with_html_are_shown_as_text_and_never_run(page: Page, shared_server: ServerProcess) -> None:
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'
    put(shared_server, "xss/listed", hostile)
    open_page(page, shared_server, "xss/")
    put(shared_server, "xss/live", hostile)
    expect(row(page, "xss/live").locator("td").first).to_have_text(hostile, timeout=LIVE_TIMEOUT)
    expect(row(page, "xss/listed").locator("td").first).to_have_text(hostile)
    expect(page.locator("#rows img, #rows script")).to_have_count(0)
    assert page.evaluate("window.pwned") is None


def test_paging_walks_forward_and_back_by_cursor(page: Page, shared_server: ServerProcess) -> None:
    keys = [f"paging/{n:03d}" for n in range(55)]
    for key in keys:
        put(shared_server, key, "v")
    open_page(page, shared_server, "paging/")
    expect(page.locator("#rows tr")).to_have_count(50)
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#rows th")).to_have_text(keys[50:])
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    put(shared_server, "paging/000a", "belongs on page 1")
    put(shared_server, "paging/053a", "belongs here")
    expect(page.locator("#rows th")).to_have_text([*keys[50:54], "paging/053a", keys[54]], timeout=LIVE_TIMEOUT)
    page.get_by_role("button", name="Previous page").click()
    expect(page.locator("#rows th").first).to_have_text(keys[0])
    expect(page.locator("#rows tr")).to_have_count(50)
    put(shared_server, "paging/0005", "pushes the last row to the next page")
    expect(row(page, "paging/0005")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.locator("#rows tr")).to_have_count(50)
    expect(page.locator("#rows th").last).to_have_text(keys[47])


def test_token_is_asked_for_once_and_kept_for_the_session(page: Page, tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle", env={"KV_TOKEN": TOKEN}) as server:
        put(server, "secret/a", "1", token=TOKEN)
        page.goto(server.url)
        token_input = page.get_by_label("Access token")
        expect(token_input).to_be_visible()
        token_input.fill(TOKEN)
        page.get_by_role("button", name="Use token").click()
        expect(row(page, "secret/a")).to_be_visible()
        expect(page.locator("#live")).to_have_text("live")
        put(server, "secret/b", "2", token=TOKEN)
        expect(row(page, "secret/b")).to_be_visible(timeout=LIVE_TIMEOUT)
        page.reload()
        expect(row(page, "secret/a")).to_be_visible()
        expect(page.locator("#live")).to_have_text("live")
        expect(token_input).to_be_hidden()


def test_page_reconnects_after_a_server_restart_and_catches_up(page: Page, tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        put(server, "re/a", "before")
        open_page(page, server, "re/")
        server.stop()
        expect(page.locator("#live")).to_have_text("reconnecting…")
        server.start()
        put(server, "re/a", "while away")
        expect(page.locator("#live")).to_have_text("live", timeout=15_000)
        expect(row(page, "re/a").locator("td").first).to_have_text("while away", timeout=LIVE_TIMEOUT)


def test_a_write_landing_while_the_next_page_loads_is_not_lost(page: Page, shared_server: ServerProcess) -> None:
    keys = [f"pagerace/{n:03d}" for n in range(51)]
    for key in keys:
        put(shared_server, key, "old")
    open_page(page, shared_server, "pagerace/")

    def write_after_the_listing(route: Route) -> None:
        answer = route.fetch()  # the server has read page 2 ...
        put(shared_server, keys[50], "new")  # ... before this write, which the page must still show
        time.sleep(0.5)
        route.fulfill(response=answer)

    page.route("**/api/v1/kv?*after=*", write_after_the_listing)
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#rows th")).to_have_text([keys[50]])
    expect(row(page, keys[50]).locator("td").first).to_have_text("new", timeout=LIVE_TIMEOUT)


def test_after_the_store_is_restored_from_an_older_backup_the_page_follows_the_restored_store(
    page: Page, tmp_path: Path
) -> None:
    data = tmp_path / "live" / "store.pickle"
    data.parent.mkdir()
    backup = tmp_path / "backup"
    with ServerProcess(data) as server:
        put(server, "restore/a", "1")
        server.stop()
        shutil.copytree(data.parent, backup, ignore=shutil.ignore_patterns("*.lock", "*.log"))
        server.start()
        open_page(page, server, "restore/")
        for n in range(5):
            put(server, "restore/b", str(n))
        deleted = requests.delete(kv_url(server, "restore/b"), timeout=5).json()["revision"]
        expect(page.locator("#store-revision")).to_have_text(str(deleted), timeout=LIVE_TIMEOUT)
        expect(row(page, "restore/b")).to_have_count(0, timeout=LIVE_TIMEOUT)

        server.stop()
        for name in [path.name for path in data.parent.glob("store.pickle*")]:
            (data.parent / name).unlink(missing_ok=True)
        for path in backup.iterdir():
            shutil.copy2(path, data.parent / path.name)
        server.start()  # the same port: the page reconnects with an after beyond the store's revision
        restored = requests.get(f"{server.url}/healthz", timeout=5).json()["revision"]
        assert restored < deleted
        expect(page.locator("#store-revision")).to_have_text(str(restored), timeout=15_000)
        expect(page.locator("#live")).to_have_text("live", timeout=15_000)
        recreated = put(server, "restore/b", "recreated")
        assert recreated["revision"] < deleted
        expect(row(page, "restore/b").locator("td").first).to_have_text("recreated", timeout=LIVE_TIMEOUT)
        expect(page.locator("#store-revision")).to_have_text(str(recreated["revision"]))


def test_escape_cancels_a_delete_confirmation_and_returns_to_the_delete_button(
    page: Page, shared_server: ServerProcess
) -> None:
    put(shared_server, "escape/key", "kept")
    open_page(page, shared_server, "escape/")
    target = row(page, "escape/key")
    target.get_by_role("button", name="Delete").click()
    expect(target.get_by_role("button", name="Yes, delete")).to_be_focused()
    page.keyboard.press("Escape")
    expect(target.get_by_role("button", name="Yes, delete")).to_have_count(0)
    expect(target.get_by_role("button", name="Delete")).to_be_focused()
    assert stored(shared_server, "escape/key") == "kept"


def test_deleting_a_pair_someone_else_already_deleted_says_so(page: Page, shared_server: ServerProcess) -> None:
    watch = WatchRelay(page)
    put(shared_server, "gone/key", "v")
    open_page(page, shared_server, "gone/")
    assert watch.connected
    target = row(page, "gone/key")
    target.get_by_role("button", name="Delete").click()
    watch.passing = False  # the page has not heard of the other delete when its user says yes
    requests.delete(kv_url(shared_server, "gone/key"), timeout=5).raise_for_status()
    target.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("#messages .message").first).to_have_text("“gone/key” was already deleted.")
    expect(target).to_have_count(0)


def test_a_double_submitted_edit_is_saved_once_without_a_false_conflict(
    page: Page, shared_server: ServerProcess
) -> None:
    put(shared_server, "double/key", "old")
    open_page(page, shared_server, "double/")
    held = hold_requests(page, "**/api/v1/kv/double*")  # the saves, until both submits are made
    target = row(page, "double/key")
    target.get_by_role("button", name="Edit").click()
    page.get_by_label("New value for double/key").fill("new")
    target.get_by_role("button", name="Save").dblclick()
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(200)
    for route in held:
        route.continue_()
    wait_for_store(shared_server, "double/key", "new")
    expect(target.get_by_role("button", name="Edit")).to_be_visible()
    expect(page.locator("#messages .message").first).to_have_text("Saved “double/key”.")
    expect(page.locator("#messages")).not_to_contain_text("Someone else")
    assert len(held) == 1


def test_the_live_indicator_is_a_status_live_region(page: Page, shared_server: ServerProcess) -> None:
    open_page(page, shared_server, "status/")
    expect(page.get_by_role("status").filter(has_text="live")).to_have_attribute("id", "live")


def test_on_a_phone_wide_screen_the_value_gets_the_width(browser: Browser, shared_server: ServerProcess) -> None:
    value = "a normal configuration value like postgres://db.internal:5432/app"
    put(shared_server, "narrow/key", value)
    context = browser.new_context(viewport={"width": 400, "height": 700})
    try:
        narrow = context.new_page()
        open_page(narrow, shared_server, "narrow/")
        cell = row(narrow, "narrow/key").locator("td").first
        expect(cell).to_have_text(value)
        box = cell.bounding_box()
        assert box is not None and box["width"] >= 120, box  # was 29 px: one character per line
        assert row(narrow, "narrow/key").bounding_box()["height"] < 200
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 400  # no sideways scrolling
    finally:
        context.close()


def test_an_edit_draft_survives_someone_else_deleting_the_pair(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "draft/kept", "old")
    put(shared_server, "draft/dropped", "old")
    open_page(page, shared_server, "draft/")
    for key in ("draft/kept", "draft/dropped"):
        row(page, key).get_by_role("button", name="Edit").click()
        page.get_by_label(f"New value for {key}").fill(f"my draft for {key}")
        requests.delete(kv_url(shared_server, key), timeout=5).raise_for_status()
        note = row(page, key).locator(".edit-note")
        expect(note).to_contain_text("Someone else deleted this pair", timeout=LIVE_TIMEOUT)
        expect(page.get_by_label(f"New value for {key}")).to_have_value(f"my draft for {key}")
    page.get_by_label("New value for draft/kept").press("Control+Enter")  # Save: the pair comes back
    wait_for_store(shared_server, "draft/kept", "my draft for draft/kept")
    expect(row(page, "draft/kept").locator("td").first).to_have_text("my draft for draft/kept")
    page.get_by_label("New value for draft/dropped").press("Escape")  # Cancel: the deleted row goes
    expect(row(page, "draft/dropped")).to_have_count(0)
    assert stored(shared_server, "draft/dropped") is None


def test_the_keyboard_stays_on_the_table_after_a_save_and_a_delete(page: Page, shared_server: ServerProcess) -> None:
    for key in ("focus/a", "focus/b", "focus/c"):
        put(shared_server, key, "old")
    open_page(page, shared_server, "focus/")
    row(page, "focus/a").get_by_role("button", name="Edit").click()
    page.get_by_label("New value for focus/a").fill("new")
    page.keyboard.press("Control+Enter")
    expect(row(page, "focus/a").get_by_role("button", name="Edit")).to_be_focused()
    row(page, "focus/b").get_by_role("button", name="Delete").click()
    page.keyboard.press("Enter")  # "Yes, delete" has the focus
    expect(row(page, "focus/b")).to_have_count(0)
    expect(row(page, "focus/c").get_by_role("button", name="Edit")).to_be_focused()  # the next row
    row(page, "focus/c").get_by_role("button", name="Delete").click()
    page.keyboard.press("Enter")
    expect(row(page, "focus/a").get_by_role("button", name="Edit")).to_be_focused()  # the last: the one before


def test_messages_shorten_a_long_key(page: Page, shared_server: ServerProcess) -> None:
    key = "long/" + "k" * 1000
    put(shared_server, key, "v")
    open_page(page, shared_server, "long/")
    row(page, key).get_by_role("button", name="Delete").click()
    page.keyboard.press("Enter")
    message = page.locator("#messages .message").first
    expect(message).to_contain_text("Deleted “long/kkk")
    assert len(message.inner_text()) < 200


def test_a_save_refused_because_the_pair_is_gone_keeps_the_draft(page: Page, shared_server: ServerProcess) -> None:
    watch = WatchRelay(page)
    put(shared_server, "refused/key", "old")
    open_page(page, shared_server, "refused/")
    assert watch.connected
    row(page, "refused/key").get_by_role("button", name="Edit").click()
    page.get_by_label("New value for refused/key").fill("my draft")
    watch.passing = False  # the page has not heard of the delete when its user saves
    requests.delete(kv_url(shared_server, "refused/key"), timeout=5).raise_for_status()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#messages .message").first).to_contain_text("now: deleted")
    expect(page.get_by_label("New value for refused/key")).to_have_value("my draft")
    page.keyboard.press("Control+Enter")  # saving again creates the pair again
    wait_for_store(shared_server, "refused/key", "my draft")
