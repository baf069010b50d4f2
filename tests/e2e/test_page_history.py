"""A key's history panel (issue #18): its changes newest first, a diff, and restoring an older
value as a compare-and-swap put, in a real headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from kvapp.testing.server import ServerProcess
from tests.support.page import WatchRelay, delete, open_page, put, row, stored, wait_for_store

pytestmark = pytest.mark.browser

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def open_history(page: Page, key: str) -> Locator:
    """Click the row's History button; the dialog, once it lists the key's changes."""
    row(page, key).get_by_role("button", name="History").click()
    dialog = page.get_by_role("dialog", name=f"History of “{key}”")
    expect(dialog.locator("li").first).to_be_visible()
    return dialog


def item(dialog: Locator, revision: int) -> Locator:
    return dialog.locator(f'li[data-revision="{revision}"]')


def test_the_history_panel_lists_the_keys_changes_newest_first_with_time_type_and_a_diff(
    page: Page, shared_server: ServerProcess
) -> None:
    first = put(shared_server, "hist/cfg", "host=a\nport=1\nuser=x")
    second = put(shared_server, "hist/cfg", "host=a\nport=2\nuser=x\nssl=on")
    open_page(page, shared_server, "hist/")
    dialog = open_history(page, "hist/cfg")
    expect(dialog.get_by_role("heading", name="History of “hist/cfg”")).to_be_focused()
    expect(dialog.locator("li")).to_have_count(2)
    newest = item(dialog, second["revision"])
    expect(dialog.locator("li").first).to_have_attribute("data-revision", str(second["revision"]))
    expect(newest.locator(".history-meta")).to_contain_text(f"Revision {second['revision']}")
    expect(newest.locator(".history-meta")).to_contain_text("put")
    expect(newest).to_contain_text("current value")
    time = newest.locator("time")
    expect(time).to_have_text(re.compile(r"^(just now|\d+ s ago)$"))
    expect(time).to_have_attribute("title", ISO_TIME)  # the exact time on hover
    diff = newest.get_by_role("figure")
    expect(diff.locator("del")).to_have_text(["removed: port=1"])
    expect(diff.locator("ins")).to_have_text(["added: port=2", "added: ssl=on"])
    expect(newest.get_by_role("button", name="Restore this value")).to_have_count(0)  # it is the value now
    oldest = item(dialog, first["revision"])
    expect(oldest.locator(".history-meta")).to_contain_text("put (created)")
    expect(oldest.get_by_role("figure")).to_have_count(0)  # nothing before it to compare with
    expect(oldest.get_by_role("button", name="Restore this value")).to_be_visible()

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(row(page, "hist/cfg").get_by_role("button", name="History")).to_be_focused()  # back where it was opened


def test_a_delete_by_expiry_shows_its_reason(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "hist/session", "token-1", ttl=1)
    wait_for_store(shared_server, "hist/session", None)  # the lease ran out
    again = put(shared_server, "hist/session", "token-2")
    open_page(page, shared_server, "hist/session")
    dialog = open_history(page, "hist/session")
    expect(dialog.locator(".history-type")).to_have_text(
        ["put (created)", "delete: its lease expired", "put (created)"]
    )
    expired = item(dialog, again["revision"] - 1)
    expect(expired).to_contain_text("It held: token-1")
    expect(expired.get_by_role("button", name="Restore this value")).to_have_count(0)


def test_restore_puts_an_older_value_back_against_the_current_revision(
    page: Page, shared_server: ServerProcess
) -> None:
    first = put(shared_server, "restore/key", "v1")
    put(shared_server, "restore/key", "v2")
    open_page(page, shared_server, "restore/")
    dialog = open_history(page, "restore/key")
    item(dialog, first["revision"]).get_by_role("button", name="Restore this value").click()
    wait_for_store(shared_server, "restore/key", "v1")
    expect(dialog.get_by_role("paragraph").filter(has_text="Restored")).to_contain_text(
        f"Restored the value of revision {first['revision']}"
    )
    expect(dialog.locator("li").first).to_contain_text("current value")  # the restore, on top
    expect(dialog.locator("li").first.locator(".history-value")).to_have_text("v1")
    expect(row(page, "restore/key").locator("td").first).to_have_text("v1")


def test_restore_after_someone_else_changed_the_key_says_so_and_shows_the_current_value(
    page: Page, shared_server: ServerProcess
) -> None:
    watch = WatchRelay(page)
    first = put(shared_server, "clash/key", "v1")
    put(shared_server, "clash/key", "v2")
    open_page(page, shared_server, "clash/")
    assert watch.connected
    dialog = open_history(page, "clash/key")
    watch.passing = False  # the page has not heard of the next write when its user restores
    theirs = put(shared_server, "clash/key", "theirs")
    item(dialog, first["revision"]).get_by_role("button", name="Restore this value").click()
    expect(dialog.locator(".message.warning")).to_have_text(
        f"Someone else changed “clash/key” first — now: “theirs” (revision {theirs['revision']}). Nothing was restored."
    )
    assert stored(shared_server, "clash/key") == "theirs"
    expect(dialog.locator("li").first).to_have_attribute("data-revision", str(theirs["revision"]))
    expect(row(page, "clash/key").locator("td").first).to_have_text("theirs")


def test_restore_of_a_deleted_key_creates_it_only_while_it_is_absent(page: Page, shared_server: ServerProcess) -> None:
    first = put(shared_server, "revive/key", "v1")
    open_page(page, shared_server, "revive/")
    dialog = open_history(page, "revive/key")
    delete(shared_server, "revive/key")  # seen live: the panel shows the delete at once
    expect(dialog.locator(".history-type").first).to_have_text("delete")
    item(dialog, first["revision"]).get_by_role("button", name="Restore this value").click()
    wait_for_store(shared_server, "revive/key", "v1")
    # The row comes back with the put's live event; closing the panel then returns the keyboard
    # to it (closed before the event lands, focus can only go to the table).
    expect(row(page, "revive/key").locator("td").first).to_have_text("v1")
    page.keyboard.press("Escape")
    expect(row(page, "revive/key").get_by_role("button", name="History")).to_be_focused()
