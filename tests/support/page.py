"""Helpers of the browser tests: requests held or relayed, pairs read and written over HTTP."""

from __future__ import annotations

import time
from urllib.parse import quote

import requests
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from kvapp.testing.server import ServerProcess

LIVE_TIMEOUT = 2_000  # ms: a write anywhere shows on an open page within this
REVISION_CELLS = "td:nth-child(3)"  # a row is key th, value td, revision td, created td, actions td
TOKEN = "open-sesame"
TXN_OPS = 128  # puts per transaction when seeding: the server's default KV_TXN_MAX_OPS


class WatchRelay:
    """Carries the page's watch socket through the test, which can stop passing events on (a slow network)."""

    def __init__(self, page: Page) -> None:
        self.connected = False
        self.passing = True
        page.route_web_socket("**/ws/watch?*", self.connect)

    def connect(self, page_side: WebSocketRoute) -> None:
        """Called when the page opens the watch socket: connect it to the real server through this relay."""

        def forward(message: str | bytes) -> None:
            if self.passing:
                page_side.send(message)

        self.connected = True
        page_side.connect_to_server().on_message(forward)


def hold_requests(page: Page, pattern: str) -> list[Route]:
    """Hold the page's requests matching ``pattern``; the test continues them from the list."""
    held: list[Route] = []

    def hold(route: Route) -> None:  # playwright needs a Python function, not list.append
        held.append(route)

    page.route(pattern, hold)
    return held


def kv_url(server: ServerProcess, key: str) -> str:
    return f"{server.url}/api/v1/kv/{quote(key, safe='')}"


def put(server: ServerProcess, key: str, value: str, token: str = "", ttl: int | None = None) -> dict:
    """PUT the value (on a new lease of ``ttl`` seconds when given); the answer's pair."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict = {"value": value} if ttl is None else {"value": value, "ttl": ttl}
    response = requests.put(kv_url(server, key), json=body, headers=headers, timeout=5)
    response.raise_for_status()
    return response.json()


def put_many(server: ServerProcess, pairs: dict[str, str]) -> None:
    """Write many pairs quickly: a transaction of TXN_OPS puts at a time."""
    items = list(pairs.items())
    for start in range(0, len(items), TXN_OPS):
        success = [{"op": "put", "key": key, "value": value} for key, value in items[start : start + TXN_OPS]]
        requests.post(f"{server.url}/api/v1/txn", json={"success": success}, timeout=10).raise_for_status()


def delete(server: ServerProcess, key: str) -> dict:
    response = requests.delete(kv_url(server, key), timeout=5)
    response.raise_for_status()
    return response.json()


def stored(server: ServerProcess, key: str) -> str | None:
    """The value over HTTP, None when the key is absent."""
    response = requests.get(kv_url(server, key), timeout=5)
    return None if response.status_code == 404 else response.json()["value"]


def open_page(page: Page, server: ServerProcess, prefix: str) -> None:
    """Open the page filtered to prefix and wait until it follows the watch socket."""
    page.goto(f"{server.url}/?prefix={quote(prefix)}")
    expect(page.locator("#live")).to_have_text("live", timeout=10_000)


def row(page: Page, key: str):
    return page.locator(f'#rows tr[data-key="{key}"]')


def revision_cell(page: Page, key: str):
    return row(page, key).locator(REVISION_CELLS)


def wait_for_store(server: ServerProcess, key: str, expected: str | None) -> None:
    """Poll until the store holds expected for key (the page's write has landed)."""
    deadline = time.monotonic() + 5
    while stored(server, key) != expected:
        assert time.monotonic() < deadline, f"{key} never became {expected!r}; it is {stored(server, key)!r}"
        time.sleep(0.05)
