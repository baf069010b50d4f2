"""A page on another origin, in a real Chromium, cannot change a real server's store (issue #15.2).

The attack page is served by a second HTTP server on 127.0.0.2, an address outside
ALLOWED_HOSTS, so the browser sends exactly what it sends for a foreign site: its Origin
and ``Sec-Fetch-Site: cross-site``. Without the refusal the auto-submitted form alone
stored its key, even though the page never sees the answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import Page, Response

from kvapp.testing.server import ServerProcess
from tests.support.page import put, stored

pytestmark = pytest.mark.browser

FOREIGN_ADDRESS = "127.0.0.2"  # loopback, but not an allowed host: another site to the browser
ATTACK_TIMEOUT = 10_000  # ms for the page's requests to be answered or fail
ATTACK_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>cute cats</title>
<iframe name="sink"></iframe>
<form id="seed" method="POST" target="sink" action="{kv}/add?key=evil/form&amp;value=1">
  <input name="key" value="evil/form"><input name="value" value="1">
</form>
<script>
  const kv = "{kv}";
  const tried = [];
  async function attempt(name, url, options) {{
    try {{
      await fetch(url, options);
      tried.push(name + ": sent");
    }} catch (error) {{
      tried.push(name + ": " + error.name);  // refused by the browser, or its preflight by the server
    }}
  }}
  document.getElementById("seed").submit();
  Promise.all([
    attempt("no-cors form POST", kv + "/add", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "application/x-www-form-urlencoded"}}, body: "key=evil/fetch&value=1"}}),
    attempt("no-cors PUT", kv + "/api/v1/kv/victim", {{method: "PUT", mode: "no-cors", body: '{{"value": "x"}}'}}),
    attempt("no-cors DELETE", kv + "/api/v1/kv/victim", {{method: "DELETE", mode: "no-cors"}}),
    attempt("PUT", kv + "/api/v1/kv/victim", {{method: "PUT", body: '{{"value": "x"}}'}}),
    attempt("DELETE", kv + "/api/v1/kv/victim", {{method: "DELETE"}}),
  ]).then(() => {{ window.attackDone = tried; }});
</script>
"""


class AttackSite(ThreadingHTTPServer):
    """Serves the attack page, aimed at one kvstore server, on another origin."""

    def __init__(self, target: str) -> None:
        self.page = ATTACK_PAGE.format(kv=target).encode()
        super().__init__((FOREIGN_ADDRESS, 0), AttackPage)

    @property
    def url(self) -> str:
        return f"http://{FOREIGN_ADDRESS}:{self.server_address[1]}/"


class AttackPage(BaseHTTPRequestHandler):
    """Answers every GET with the attack page."""

    server: AttackSite

    def do_GET(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.server.page)))
        self.end_headers()
        self.wfile.write(self.server.page)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test's output is its assertions."""


@pytest.fixture
def attack_site(shared_server: ServerProcess) -> Iterator[AttackSite]:
    site = AttackSite(shared_server.url)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield site
    site.shutdown()
    site.server_close()
    thread.join()


def refusals(server: ServerProcess, route: str) -> float:
    """How many 403s the server has answered on ``route`` (its own count, whatever the browser shows)."""
    for line in requests.get(f"{server.url}/metrics", timeout=5).text.splitlines():
        if line.startswith("kv_requests_total{") and f'route="{route}"' in line and 'status="403"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_foreign_page_cannot_write_through_the_browser(
    page: Page, shared_server: ServerProcess, attack_site: AttackSite
) -> None:
    put(shared_server, "victim", "original")
    revision = requests.get(f"{shared_server.url}/healthz", timeout=5).json()["revision"]
    answers: list[tuple[str, str, int]] = []

    def seen(response: Response) -> None:
        if response.url.startswith(shared_server.url):
            answers.append((response.request.method, response.url, response.status))

    page.on("response", seen)
    page.goto(attack_site.url)
    page.wait_for_function("window.attackDone !== undefined", timeout=ATTACK_TIMEOUT)
    tried = page.evaluate("window.attackDone")

    assert stored(shared_server, "victim") == "original"
    assert stored(shared_server, "evil/form") is None
    assert stored(shared_server, "evil/fetch") is None
    assert requests.get(f"{shared_server.url}/healthz", timeout=5).json()["revision"] == revision
    # The writes did reach the server, and were refused there, not merely hidden from the page.
    assert refusals(shared_server, "seed_add") >= 2, (answers, tried)
    assert ("POST", f"{shared_server.url}/add?key=evil/form&value=1", 403) in answers
    # Browsers do not send PUT or DELETE cross-origin without a CORS preflight, which is refused.
    assert all(not outcome.endswith("sent") for outcome in tried if "PUT" in outcome or "DELETE" in outcome)


def test_the_same_page_on_the_servers_own_origin_can_write(page: Page, shared_server: ServerProcess) -> None:
    page.goto(f"{shared_server.url}/?prefix=same-origin/")
    status = page.evaluate(
        """async () => (await fetch("/api/v1/kv/same-origin/k",
                                    {method: "PUT", body: JSON.stringify({value: "mine"})})).status"""
    )
    assert status == 200
    assert stored(shared_server, "same-origin/k") == "mine"
