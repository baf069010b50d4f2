"""The page's watch socket in headless Chromium: the token never in a URL, progress frames, 4408."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from playwright.sync_api import Page, WebSocketRoute, expect

from kvapp.testing.server import ServerProcess
from tests.support.page import LIVE_TIMEOUT, TOKEN, open_page, put, row

pytestmark = pytest.mark.browser

BACKOFF_FIRST = 0.5  # seconds: watch.js waits this long before its first reconnect after a drop
RECONNECT_TIMEOUT = 5_000  # ms


# The delays the page asks setTimeout for: what it decided to wait, which a loaded machine
# cannot blur the way it blurs a wall-clock measurement of the wait.
RECORD_TIMER_DELAYS = """
(() => {
  const schedule = window.setTimeout.bind(window);
  window.timerDelays = [];
  window.setTimeout = (callback, delay, ...rest) => {
    window.timerDelays.push(delay ?? 0);
    return schedule(callback, delay, ...rest);
  };
})();
"""


class ClosingRelay:
    """Carries each of the page's watch sockets to the server; the test can speak for the server."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.sockets: list[WebSocketRoute] = []
        page.route_web_socket("**/ws/watch?*", self.connect)

    def connect(self, page_side: WebSocketRoute) -> None:
        """Called when the page opens a watch socket: connect it through to the real server."""
        self.urls.append(page_side.url)
        self.sockets.append(page_side)
        page_side.connect_to_server()

    def query(self, index: int) -> dict[str, list[str]]:
        """The query string of the page's ``index``-th watch socket."""
        return parse_qs(urlsplit(self.urls[index]).query)


def test_with_a_token_the_page_follows_live_and_no_url_it_asks_for_holds_the_token(page: Page, tmp_path: Path) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda socket: urls.append(socket.url))
    with ServerProcess(tmp_path / "store.pickle", env={"KV_TOKEN": TOKEN}) as server:
        put(server, "secret/a", "1", token=TOKEN)
        page.goto(f"{server.url}/?prefix=secret/")
        page.get_by_label("Access token").fill(TOKEN)
        page.get_by_role("button", name="Use token").click()
        expect(page.locator("#live")).to_have_text("live")
        put(server, "secret/b", "2", token=TOKEN)
        expect(row(page, "secret/b")).to_be_visible(timeout=LIVE_TIMEOUT)
        log = server.log()
    sockets = [url for url in urls if "/ws/watch" in url]
    assert sockets, "the page opened no watch socket"
    assert [url for url in urls if TOKEN in url or quote(TOKEN) in url] == []
    assert TOKEN not in log


def test_a_progress_frame_moves_the_page_s_resume_point(page: Page, shared_server: ServerProcess) -> None:
    relay = ClosingRelay(page)
    open_page(page, shared_server, "progress-page/")
    assert relay.query(0)["progress"] == ["10"]
    for n in range(3):
        put(shared_server, f"elsewhere/{n}", "busy")
    busy = requests.get(f"{shared_server.url}/healthz", timeout=5).json()["revision"]
    relay.sockets[0].send(json.dumps({"type": "progress", "revision": busy}))  # as the server would
    with page.expect_websocket(timeout=RECONNECT_TIMEOUT):
        relay.sockets[0].close(code=1011)
    assert relay.query(1)["after"] == [str(busy)]
    expect(page.locator("#live")).to_have_text("live", timeout=RECONNECT_TIMEOUT)
    put(shared_server, "progress-page/a", "after the resume")
    expect(row(page, "progress-page/a")).to_be_visible(timeout=LIVE_TIMEOUT)


def test_a_page_dropped_as_too_slow_resumes_at_once_after_its_last_event(
    page: Page, shared_server: ServerProcess
) -> None:
    page.add_init_script(RECORD_TIMER_DELAYS)
    relay = ClosingRelay(page)
    open_page(page, shared_server, "too-slow-page/")
    first = put(shared_server, "too-slow-page/a", "1")["revision"]
    expect(row(page, "too-slow-page/a")).to_be_visible(timeout=LIVE_TIMEOUT)
    page.evaluate("window.timerDelays = []")
    with page.expect_websocket(timeout=RECONNECT_TIMEOUT):
        relay.sockets[0].close(code=4408)
    delays = page.evaluate("window.timerDelays")
    assert 0 in delays and BACKOFF_FIRST * 1000 not in delays, "a watcher dropped as too slow waits for nothing"
    assert relay.query(1)["after"] == [str(first)]
    put(shared_server, "too-slow-page/b", "2")
    expect(row(page, "too-slow-page/b")).to_be_visible(timeout=LIVE_TIMEOUT)
    page.evaluate("window.timerDelays = []")
    with page.expect_websocket(timeout=RECONNECT_TIMEOUT):
        relay.sockets[1].close(code=1011)  # any other drop backs off
    assert BACKOFF_FIRST * 1000 in page.evaluate("window.timerDelays")
