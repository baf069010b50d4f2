"""Keys that expire (issue #17): their time to live counting down, expiry seen live, a TTL on
the add form, in a real headless Chromium."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

from kvapp.testing.server import ServerProcess
from tests.support.page import kv_url, open_page, put, row, wait_for_store

pytestmark = pytest.mark.browser

EXPIRING_TTL = 5  # seconds: time enough to open the page and an editor before the lease ends

EXPIRY_TIMEOUT = 8_000  # ms: EXPIRING_TTL, plus a second for the lease to end and the delete to show


def time_to_live(page: Page, key: str) -> Locator:
    return row(page, key).locator("td.column-lease")


def seconds(text: str) -> int:
    """ "1 min 05 s" -> 65."""
    match = re.fullmatch(r"(?:(\d+) min )?(\d+) s", text)
    assert match, f"not a time to live: {text!r}"
    return int(match[1] or 0) * 60 + int(match[2])


def test_a_leased_keys_time_to_live_counts_down_from_its_leases_remaining(
    page: Page, shared_server: ServerProcess
) -> None:
    leased = put(shared_server, "ttl/leased", "v", ttl=120)
    put(shared_server, "ttl/plain", "v")
    open_page(page, shared_server, "ttl/")
    expect(page.get_by_role("columnheader", name="Expires in")).to_be_visible()
    cell = time_to_live(page, "ttl/leased")
    expect(cell).to_have_text(re.compile(r"^(1 min \d\d|2 min 00) s$"))
    expect(cell).to_have_attribute("title", re.compile(f"lease {leased['lease']}, 2 min 00 s to live"))
    first = seconds(cell.inner_text())
    assert 110 <= first <= 120
    expect(cell).not_to_have_text(cell.inner_text(), timeout=2_500)  # it ticks
    assert seconds(cell.inner_text()) < first
    expect(time_to_live(page, "ttl/plain")).to_have_text("")


def test_the_column_shows_only_while_a_leased_pair_is_on_the_page(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "column/plain", "v")
    open_page(page, shared_server, "column/")
    header = page.get_by_role("columnheader", name="Expires in")
    expect(header).to_be_hidden()
    put(shared_server, "column/leased", "v", ttl=600)
    expect(time_to_live(page, "column/leased")).to_have_text(re.compile(r"^(9|10) min \d\d s$"))
    expect(header).to_be_visible()


def test_a_put_that_moves_the_key_to_a_new_lease_restarts_its_count(page: Page, shared_server: ServerProcess) -> None:
    put(shared_server, "moved/key", "v", ttl=600)
    open_page(page, shared_server, "moved/")
    cell = time_to_live(page, "moved/key")
    expect(cell).to_have_text(re.compile(r"^(9|10) min \d\d s$"))
    put(shared_server, "moved/key", "v2", ttl=30)  # a watch event with a new lease id
    expect(cell).to_have_text(re.compile(r"^(2\d|30) s$"))


def test_expired_keys_leave_the_table_live_and_an_open_editor_says_why(
    page: Page, shared_server: ServerProcess
) -> None:
    put(shared_server, "expiry/drafted", "v", ttl=EXPIRING_TTL)
    put(shared_server, "expiry/gone", "v", ttl=EXPIRING_TTL)
    put(shared_server, "expiry/kept", "v")
    open_page(page, shared_server, "expiry/")
    expect(page.locator("#total")).to_have_text("3 pairs under expiry/")
    row(page, "expiry/drafted").get_by_role("button", name="Edit").click()
    expect(row(page, "expiry/gone")).to_have_count(0, timeout=EXPIRY_TIMEOUT)
    note = row(page, "expiry/drafted").locator(".edit-note")
    expect(note).to_contain_text("This pair's lease expired (revision")
    expect(page.locator("#rows th")).to_have_text(["expiry/drafted", "expiry/kept"])
    expect(page.locator("#total")).to_have_text("1 pair under expiry/")


def test_a_count_that_runs_out_reads_the_lease_again_and_follows_a_keepalive(
    page: Page, shared_server: ServerProcess
) -> None:
    leased = put(shared_server, "alive/key", "v", ttl=3)
    stop = threading.Event()

    def keep_alive() -> None:  # another client renews the lease: no event tells the page
        while not stop.wait(0.5):
            requests.post(f"{shared_server.url}/api/v1/leases/{leased['lease']}/keepalive", timeout=5)

    renewer = threading.Thread(target=keep_alive)
    renewer.start()  # before the page opens, however long that takes: the lease must not end
    try:
        open_page(page, shared_server, "alive/")
        cell = time_to_live(page, "alive/key")
        expect(cell).to_have_text("expiring…", timeout=5_000)  # the page's own count ran out
        expect(cell).to_have_text(re.compile(r"^[1-3] s$"), timeout=5_000)  # read again: renewed
        expect(row(page, "alive/key")).to_be_visible()
    finally:
        stop.set()
        renewer.join()


def test_the_add_form_can_give_the_new_pair_a_time_to_live(page: Page, shared_server: ServerProcess) -> None:
    open_page(page, shared_server, "addttl/")
    page.get_by_role("button", name="Add pair").click()
    page.get_by_label("Key", exact=True).fill("addttl/session")
    page.get_by_label("Value", exact=True).fill("token")
    page.get_by_label("Expires after").fill("300")
    page.keyboard.press("Control+Enter")
    wait_for_store(shared_server, "addttl/session", "token")
    pair = requests.get(kv_url(shared_server, "addttl/session"), timeout=5).json()
    lease = requests.get(f"{shared_server.url}/api/v1/leases/{pair['lease']}", timeout=5).json()
    assert lease["ttl"] == 300
    assert lease["keys"] == ["addttl/session"]
    expect(time_to_live(page, "addttl/session")).to_have_text(re.compile(r"^(4 min \d\d|5 min 00) s$"))
    expect(page.locator("#messages .message")).to_contain_text("Added “addttl/session”, expiring in 5 min 00 s")

    page.get_by_role("button", name="Add pair").click()  # the field was reset: the next pair does not expire
    expect(page.get_by_label("Expires after")).to_have_value("")
    page.get_by_label("Key", exact=True).fill("addttl/plain")
    page.keyboard.press("Control+Enter")
    wait_for_store(shared_server, "addttl/plain", "")
    assert "lease" not in requests.get(kv_url(shared_server, "addttl/plain"), timeout=5).json()
