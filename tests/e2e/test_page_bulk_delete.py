"""Selecting rows and deleting them in one transaction (issue #16), in a real headless Chromium."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Request, expect

from kvapp.testing.server import ServerProcess
from tests.support.page import WatchRelay, delete, open_page, put, revision_cell, row, stored

pytestmark = pytest.mark.browser


def test_the_selected_rows_are_deleted_by_one_transaction_that_compares_their_revisions(
    page: Page, shared_server: ServerProcess
) -> None:
    written = {key: put(shared_server, key, "v") for key in ("bulk/a", "bulk/b", "bulk/c", "bulk/d")}
    open_page(page, shared_server, "bulk/")
    writes: list[Request] = []
    page.on("request", lambda request: writes.append(request) if request.method != "GET" else None)
    bar = page.get_by_role("group", name="Selected pairs")
    expect(bar.get_by_role("button", name="Delete selected")).to_be_disabled()
    page.get_by_label("Select bulk/a").check()
    page.get_by_label("Select bulk/c").check()
    expect(bar).to_contain_text("2 of 4 selected")
    expect(row(page, "bulk/a")).to_have_class("selected")
    bar.get_by_role("button", name="Delete selected").click()
    question = bar.get_by_role("group", name="Delete these 2 pairs")
    expect(question).to_contain_text("“bulk/a”, “bulk/c”")
    expect(question.get_by_role("button", name="Yes, delete")).to_be_focused()
    page.keyboard.press("Escape")  # No: nothing happens, the keyboard goes back to the button
    expect(question).to_be_hidden()
    expect(bar.get_by_role("button", name="Delete selected")).to_be_focused()
    page.keyboard.press("Enter")
    question.get_by_role("button", name="Yes, delete").click()

    expect(page.locator("#messages .message")).to_have_text(["Deleted 2 pairs."])
    expect(page.locator("#rows th")).to_have_text(["bulk/b", "bulk/d"])
    assert [stored(shared_server, key) for key in written] == [None, "v", None, "v"]
    assert [(request.method, request.url.rsplit("/", 1)[1]) for request in writes] == [("POST", "txn")]
    txn = json.loads(writes[0].post_data or "")
    assert txn["compare"] == [
        {"key": key, "target": "revision", "op": "==", "value": written[key]["revision"]}
        for key in ("bulk/a", "bulk/c")
    ]
    assert txn["success"] == [{"op": "delete", "key": "bulk/a"}, {"op": "delete", "key": "bulk/c"}]
    expect(bar).to_contain_text("0 of 2 selected")
    expect(page.get_by_label("Select all on this page")).to_be_focused()


def test_select_all_ticks_the_rows_the_search_leaves_in_sight(page: Page, shared_server: ServerProcess) -> None:
    for key in ("every/red-1", "every/red-2", "every/blue"):
        put(shared_server, key, "v")
    open_page(page, shared_server, "every/")
    select_all = page.get_by_label("Select all on this page")
    page.get_by_label("Search this page").fill("red")
    select_all.check()
    expect(page.get_by_label("Select every/red-1")).to_be_checked()
    expect(page.get_by_label("Select every/red-2")).to_be_checked()
    page.get_by_label("Search this page").fill("")
    expect(page.get_by_label("Select every/blue")).not_to_be_checked()  # hidden when all was ticked
    assert select_all.evaluate("box => box.indeterminate")
    page.get_by_role("button", name="Delete selected").click()
    page.get_by_role("group", name="Delete these 2 pairs").get_by_role("button", name="Yes, delete").click()
    expect(page.locator("#rows th")).to_have_text(["every/blue"])
    assert stored(shared_server, "every/blue") == "v"


def test_when_a_selected_row_changed_meanwhile_nothing_is_deleted_and_the_page_says_which(
    page: Page, shared_server: ServerProcess
) -> None:
    watch = WatchRelay(page)
    for key in ("race/a", "race/b", "race/c"):
        put(shared_server, key, "old")
    open_page(page, shared_server, "race/")
    assert watch.connected
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Delete selected").click()
    watch.passing = False  # the page has not heard of these writes when its user says yes
    changed = put(shared_server, "race/b", "theirs")
    delete(shared_server, "race/c")
    page.get_by_role("group", name="Delete these 3 pairs").get_by_role("button", name="Yes, delete").click()

    message = page.locator("#messages .message")
    expect(message).to_contain_text("Nothing was deleted: 2 of the 3 selected pairs changed since they were selected")
    expect(message).to_contain_text(f"“race/b” is now “theirs” (revision {changed['revision']})")
    expect(message).to_contain_text("“race/c” is now deleted")
    assert [stored(shared_server, key) for key in ("race/a", "race/b", "race/c")] == ["old", "theirs", None]
    expect(row(page, "race/b").locator("td").first).to_have_text("theirs")  # refreshed
    expect(revision_cell(page, "race/b")).to_have_text(str(changed["revision"]))
    expect(row(page, "race/c")).to_have_count(0)
    expect(page.get_by_label("Select race/a")).to_be_checked()  # unchanged: still selected
    expect(page.get_by_label("Select race/b")).not_to_be_checked()  # changed: to be looked at again
    expect(page.get_by_role("button", name="Delete selected")).to_be_focused()
