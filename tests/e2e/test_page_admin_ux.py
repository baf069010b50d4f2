"""The page behaving like Django admin's change list (issue #19), in a real headless Chromium."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from kvapp.testing.server import ServerProcess
from tests.support.page import hold_requests, open_page, put, row, stored, wait_for_store

pytestmark = pytest.mark.browser

# Every column's width and every row's top and height: what must not move while a delete is confirmed.
LAYOUT = """() => ({
  columns: Array.from(document.querySelectorAll("#result_list thead th"), (th) => th.getBoundingClientRect().width),
  rows: Array.from(document.querySelectorAll("#rows tr"), (tr) => {
    const box = tr.getBoundingClientRect();
    return [box.top, box.height];
  }),
})"""


def release(page: Page, held: list[Route]) -> None:
    """Let the one held request go on, once the page has made it."""
    deadline = time.monotonic() + 5
    while not held:
        assert time.monotonic() < deadline, "the page never made the request"
        page.wait_for_timeout(20)
    assert len(held) == 1
    held.pop().continue_()


def messages(page: Page) -> Locator:
    """The messages shown above the table."""
    return page.locator("#messages .message")


def test_only_the_last_actions_message_shows_and_the_keyboard_can_dismiss_it(
    page: Page, shared_server: ServerProcess
) -> None:
    for key in ("msg/a", "msg/b"):
        put(shared_server, key, "old")
    open_page(page, shared_server, "msg/")
    row(page, "msg/a").get_by_role("button", name="Edit").click()
    page.get_by_label("New value for msg/a").fill("new")
    page.keyboard.press("Control+Enter")
    expect(messages(page)).to_have_text(["Saved “msg/a”."])
    row(page, "msg/b").get_by_role("button", name="Delete").click()
    page.keyboard.press("Enter")
    expect(messages(page)).to_have_text(["Deleted “msg/b”."])  # the save's message has gone
    dismiss = page.locator("#messages").get_by_role("button", name="Dismiss")
    page.get_by_role("button", name="Add pair").focus()
    page.keyboard.press("Tab")  # the message comes next in the reading order
    expect(dismiss).to_be_focused()
    page.keyboard.press("Enter")
    expect(messages(page)).to_have_count(0)
    expect(row(page, "msg/a").get_by_role("button", name="Edit")).to_be_focused()  # where the delete left it
    row(page, "msg/a").get_by_role("button", name="Delete").click()
    page.keyboard.press("Enter")
    expect(messages(page)).to_have_text(["Deleted “msg/a”."])
    page.get_by_role("button", name="Apply").click()  # a new listing: that message was about the last one
    expect(messages(page)).to_have_count(0)


def test_a_successful_add_closes_the_panel_and_focuses_the_new_row(page: Page, shared_server: ServerProcess) -> None:
    open_page(page, shared_server, "added/")
    page.get_by_role("button", name="Add pair").click()
    page.get_by_label("Key", exact=True).fill("added/new")
    page.get_by_label("Value", exact=True).fill("v")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#add-panel")).to_be_hidden()
    expect(page.get_by_role("button", name="Add pair")).to_have_attribute("aria-expanded", "false")
    expect(row(page, "added/new")).to_be_in_viewport()
    expect(row(page, "added/new").get_by_role("button", name="Edit")).to_be_focused()
    expect(messages(page)).to_have_text(["Added “added/new”."])

    page.get_by_role("button", name="Add pair").click()  # a refused add keeps the panel and what was typed
    page.get_by_label("Key", exact=True).fill("added/new")
    page.get_by_label("Value", exact=True).fill("clobber")
    page.keyboard.press("Control+Enter")
    expect(messages(page)).to_contain_text(["already exists"])
    expect(page.get_by_label("Value", exact=True)).to_have_value("clobber")
    assert stored(shared_server, "added/new") == "v"


def test_the_key_opens_its_rows_editor_without_leaving_the_page(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "keylink/a", "old")
    open_page(page, shared_server, "keylink/")
    page.evaluate("window.samePage = true")
    url = page.url
    key = row(page, "keylink/a").get_by_role("button", name="keylink/a", exact=True)
    page.get_by_label("Search this page").focus()
    page.keyboard.press("Tab")  # the key is the row's first stop
    expect(key).to_be_focused()
    expect(key).to_have_accessible_description("Opens this pair's editor.")
    page.keyboard.press("Enter")
    editor = page.get_by_label("New value for keylink/a")
    expect(editor).to_be_focused()
    page.keyboard.press("Escape")
    expect(key).to_be_focused()  # back where the keyboard came from
    key.click()
    editor.fill("new")
    editor.press("Control+Enter")
    wait_for_store(shared_server, "keylink/a", "new")
    assert (page.url, page.evaluate("window.samePage")) == (url, True)


@pytest.mark.parametrize("width", [1280, 400])  # the phone-wide layout stacks the row's buttons
def test_a_delete_confirmation_moves_no_column_and_no_row_and_leaves_the_key_in_sight(
    page: Page, shared_server: ServerProcess, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    for key in ("still/a", "still/b", "still/c"):
        put(shared_server, key, "a value long enough to wrap when its column narrows " * 2)
    open_page(page, shared_server, "still/")
    before = page.evaluate(LAYOUT)
    target = row(page, "still/b")
    target.get_by_role("button", name="Delete").click()
    expect(target.get_by_role("button", name="Yes, delete")).to_be_focused()
    assert page.evaluate(LAYOUT) == before
    question = target.get_by_role("group", name="Delete revision")  # the buttons' question, for screen readers
    expect(question).to_be_in_viewport(ratio=1)
    key_cell, question_box = target.locator("th").bounding_box(), question.bounding_box()
    assert key_cell is not None and question_box is not None
    assert question_box["x"] >= key_cell["x"] + key_cell["width"]  # which pair it is stays readable
    page.keyboard.press("Escape")
    assert page.evaluate(LAYOUT) == before


def test_the_page_shows_it_is_loading_until_the_listing_arrives(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "loading/a", "1")
    held = hold_requests(page, "**/api/v1/kv?*")
    page.goto(f"{shared_server.url}/?prefix=loading/empty/")
    loading = page.get_by_role("status").filter(has_text="Loading")
    expect(loading).to_be_visible()
    expect(page.locator("#result_list")).to_have_attribute("aria-busy", "true")
    expect(page.get_by_text("No pairs here.")).to_be_hidden()
    release(page, held)
    expect(page.get_by_text("No pairs here.")).to_be_visible()  # now it is known
    expect(loading).to_be_hidden()

    page.get_by_label("By key prefix").fill("loading/")  # a new filter: what was known no longer holds
    page.locator("#prefix-form").get_by_role("button", name="Apply").click()
    expect(loading).to_be_visible()
    expect(page.get_by_text("No pairs here.")).to_be_hidden()
    release(page, held)
    expect(page.locator("#rows th")).to_have_text(["loading/a"])
    expect(loading).to_be_hidden()
    expect(page.locator("#result_list")).to_have_attribute("aria-busy", "false")
